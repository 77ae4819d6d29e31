package verify

import (
	"bytes"
	"image/jpeg"
	"os"
	"testing"

	"github.com/santong-cn/santong/internal/fault"
)

// FuzzCheckImage feeds arbitrary bytes to the image checks: nothing panics (a decoder's panic
// on hostile input is an error too); what is accepted is within every bound, of a type its
// first bytes name, and checks the same again; what is refused says so on the field image,
// with a code of invalid or too_large and no byte of the input in the message.
func FuzzCheckImage(f *testing.F) {
	f.Add(pngBytes(f, testPicture(32, 24)))
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, testPicture(40, 30), nil); err != nil {
		f.Fatal(err)
	}
	f.Add(jb.Bytes())
	for _, p := range []string{"testdata/images/product-48x32.webp", "testdata/images/product-48x32-lossy.webp"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := CheckImage(b)
		if err != nil {
			fe, ok := err.(*fault.Error)
			if !ok || fe.Field != "image" || (fe.Code != fault.Invalid && fe.Code != fault.TooLarge) {
				t.Fatalf("refusal %v", err)
			}
			if len(b) >= 8 && bytes.Contains([]byte(fe.Message), b[:8]) {
				t.Fatalf("the message echoes the input: %q", fe.Message)
			}
			return
		}
		if info.Type != sniffImage(b) || info.Bytes != len(b) || len(b) > MaxImageBytes ||
			info.Width < MinImageSide || info.Height < MinImageSide || info.Width > MaxImageSide || info.Height > MaxImageSide {
			t.Fatalf("accepted out of bounds: %+v", info)
		}
		again, err := CheckImage(b)
		if err != nil || *again != *info {
			t.Fatalf("not the same again: %+v %v", again, err)
		}
	})
}
