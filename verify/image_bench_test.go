package verify

import (
	"bytes"
	"image/jpeg"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// BenchmarkCheckImage is the cost of an upload's checks: a typical product picture (480×360
// PNG) and the worst the bounds allow to decode (a 2048×2048 JPEG under 200 KiB).
func BenchmarkCheckImage(b *testing.B) {
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, testPicture(2048, 2048), &jpeg.Options{Quality: 50}); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		img  []byte
	}{{"png-480x360", pngBytes(b, testPicture(480, 360))}, {"jpeg-2048x2048", jb.Bytes()}} {
		if len(tc.img) > MaxImageBytes {
			b.Fatalf("%s: %d bytes", tc.name, len(tc.img))
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.img)))
			for b.Loop() {
				if _, err := CheckImage(tc.img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetImage is GET /images/{sha256} through the router: the file read, its SHA-256
// and header checked (never its pixels).
func BenchmarkGetImage(b *testing.B) {
	im, err := OpenImages(filepath.Join(b.TempDir(), "images"))
	if err != nil {
		b.Fatal(err)
	}
	pic := pngBytes(b, testPicture(480, 360))
	sha := sha256Hex(pic)
	if _, err := im.Put(pic, sha); err != nil {
		b.Fatal(err)
	}
	d := newFixture().deps()
	d.Images = im
	s := New(Config{RateLimit: -1}, d)
	defer s.Close()
	h := s.Handler()
	b.SetBytes(int64(len(pic)))
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/images/"+sha, nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
