package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/image/webp"

	"github.com/santong-cn/santong/internal/atomicfile"
	"github.com/santong-cn/santong/internal/fault"
)

// Product images. An enterprise may register a picture of a product: the SHA-256 of the image
// file goes into product.registered (image_sha256, docs/events.md) and the file itself is
// uploaded to the service (PUT /api/v1/products/{id}/image, a request signed by the
// enterprise's key or the operator's, image_http.go). The service keeps only files whose hash a
// product's registration names, checked on the way in:
//
//   - the type is sniffed from the bytes, never taken from a header or a name: PNG, JPEG or
//     WebP, nothing else (no SVG: it can carry scripts);
//   - at most MaxImageBytes bytes and MaxImageSide pixels a side (at least MinImageSide), read
//     from the header before any pixel is decoded, so a small file cannot claim a huge canvas;
//   - the whole image then decodes, so a file with a valid header and garbage after it is
//     refused rather than shown broken on every verdict page.
//
// Files are kept under DIR/<sha256> (by default DATA/images), written crash-safely (fsync of
// the file and of the directory) before the upload is answered, and served at
// /images/{sha256} with the type sniffed, nosniff, and a year's immutable caching: the URL
// names the content, so it never changes.
const (
	MaxImageBytes = 200 << 10 // 200 KiB
	MaxImageSide  = 2048      // pixels, width and height
	MinImageSide  = 16
)

// Image types the service accepts.
const (
	ImagePNG  = "image/png"
	ImageJPEG = "image/jpeg"
	ImageWebP = "image/webp"
)

// ImageInfo is what the pages need to show an image: its URL's hash, type and size.
type ImageInfo struct {
	SHA256 string `json:"sha256"`
	Type   string `json:"type"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int    `json:"bytes"`
}

// sniffImage names the type of b from its first bytes: "" when it is none of the three.
func sniffImage(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return ImagePNG
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return ImageJPEG
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return ImageWebP
	}
	return ""
}

var (
	errImageEmpty = fault.Field(fault.Invalid, "image", "the image is empty")
	errImageLarge = fault.Field(fault.TooLarge, "image", "the image is larger than 200 KiB")
	errImageType  = fault.Field(fault.Invalid, "image", "not a PNG, JPEG or WebP image")
	errImageBad   = fault.Field(fault.Invalid, "image", "the image does not decode")
	errImageSide  = fault.Field(fault.Invalid, "image", "the image must be 16 to 2048 pixels wide and high")
)

// CheckImage checks an image file as the service does before keeping it, and returns its
// description. Errors are fault.Invalid or fault.TooLarge, field "image"; none echoes the bytes.
func CheckImage(b []byte) (*ImageInfo, error) {
	return checkImage(b, true)
}

// checkImage checks b; full decodes every pixel (on upload), otherwise only the header is read
// (a stored file, whose SHA-256 is checked against its name: it decoded when it was kept).
func checkImage(b []byte, full bool) (*ImageInfo, error) {
	if len(b) == 0 {
		return nil, errImageEmpty
	}
	if len(b) > MaxImageBytes {
		return nil, errImageLarge
	}
	typ := sniffImage(b)
	var decodeConfig func(io.Reader) (image.Config, error)
	var decode func(io.Reader) (image.Image, error)
	switch typ {
	case ImagePNG:
		decodeConfig, decode = png.DecodeConfig, png.Decode
	case ImageJPEG:
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
	case ImageWebP:
		decodeConfig, decode = webp.DecodeConfig, webp.Decode
	default:
		return nil, errImageType
	}
	cfg, err := decodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, errImageBad
	}
	if cfg.Width < MinImageSide || cfg.Height < MinImageSide || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return nil, errImageSide
	}
	if full {
		if err := decodeSafely(decode, b); err != nil {
			return nil, errImageBad
		}
	}
	sum := sha256.Sum256(b)
	return &ImageInfo{SHA256: hex.EncodeToString(sum[:]), Type: typ, Width: cfg.Width, Height: cfg.Height, Bytes: len(b)}, nil
}

// decodeSafely decodes b, turning a decoder's panic on hostile input into an error.
func decodeSafely(decode func(io.Reader) (image.Image, error), b []byte) (err error) {
	defer func() {
		if recover() != nil {
			err = errImageBad
		}
	}()
	_, err = decode(bytes.NewReader(b))
	return err
}

// Images keeps product images as files, one per SHA-256.
type Images struct {
	dir  string
	info sync.Map // sha256 -> *ImageInfo, for the files found
}

// OpenImages opens (creating) the image store in dir.
func OpenImages(dir string) (*Images, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &Images{dir: dir}, nil
}

// Dir is the store's directory.
func (im *Images) Dir() string { return im.dir }

// ErrNoImage is the answer for an image the store does not hold.
var ErrNoImage = fault.New(fault.NotFound, "no such image here")

// errImageDamaged: a stored file that no longer matches its name.
var errImageDamaged = fault.New(fault.Unavailable, "the stored image is damaged; restore it from a backup")

func checkSHA(sha string) error {
	if len(sha) != 64 {
		return ErrNoImage
	}
	for i := 0; i < len(sha); i++ {
		if c := sha[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ErrNoImage
		}
	}
	return nil
}

// Put checks b (CheckImage) and keeps it durably when its SHA-256 is want; keeping it again is
// a no-op.
func (im *Images) Put(b []byte, want string) (*ImageInfo, error) {
	info, err := CheckImage(b)
	if err != nil {
		return nil, err
	}
	if info.SHA256 != want {
		return nil, fault.Field(fault.Conflict, "image", "the image's SHA-256 is not the one the product's registration names (image_sha256)")
	}
	p := filepath.Join(im.dir, info.SHA256)
	if _, err := os.Stat(p); err != nil {
		if err := atomicfile.Write(p, b); err != nil {
			return nil, err
		}
	}
	im.info.Store(info.SHA256, info)
	return info, nil
}

// Get returns the image with SHA-256 sha, checked against its name (its hash and its header:
// a read never decodes the pixels, which the upload did).
func (im *Images) Get(sha string) ([]byte, *ImageInfo, error) {
	if err := checkSHA(sha); err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(filepath.Join(im.dir, sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrNoImage
	}
	if err != nil {
		return nil, nil, err
	}
	info, err := checkImage(b, false)
	if err != nil || info.SHA256 != sha {
		im.info.Delete(sha)
		return nil, nil, errImageDamaged
	}
	im.info.Store(sha, info)
	return b, info, nil
}

// Info describes the stored image with SHA-256 sha; nil when there is none (not uploaded yet,
// or damaged). Pages call it: a found image is remembered, a missing one costs a stat.
func (im *Images) Info(sha string) *ImageInfo {
	if im == nil || sha == "" {
		return nil
	}
	if v, ok := im.info.Load(sha); ok {
		return v.(*ImageInfo)
	}
	if checkSHA(sha) != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(im.dir, sha)); err != nil {
		return nil
	}
	_, info, err := im.Get(sha)
	if err != nil {
		return nil
	}
	return info
}
