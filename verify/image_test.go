package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
)

// testPicture is a w×h picture: a jar on a shelf, roughly, in flat colours.
func testPicture(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{0xf0, 0xe6, 0xd2, 0xff}
			if dx, dy := x-w/2, y-h/2; dx*dx*4 < w*w/4 && dy*dy*4 < h*h*9/16 {
				c = color.RGBA{0xa0, 0x30, 0x20, 0xff}
			}
			if y > h*7/8 {
				c = color.RGBA{0x6d, 0x4c, 0x41, 0xff}
			}
			m.Set(x, y, c)
		}
	}
	return m
}

func pngBytes(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestCheckImage is the table of the image checks: the three types pass with their sizes, and
// every other file, an oversized or truncated one, or one whose header claims too large (or too
// small) a canvas, is refused with the field named.
func TestCheckImage(t *testing.T) {
	pic := pngBytes(t, testPicture(320, 240))
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, testPicture(200, 100), nil); err != nil {
		t.Fatal(err)
	}
	webpLossless, err := os.ReadFile("testdata/images/product-48x32.webp")
	if err != nil {
		t.Fatal(err)
	}
	webpLossy, err := os.ReadFile("testdata/images/product-48x32-lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	var gb bytes.Buffer
	if err := gif.Encode(&gb, testPicture(32, 32), nil); err != nil {
		t.Fatal(err)
	}
	// noise compresses badly: a 400×400 PNG of it is over 200 KiB
	noise := image.NewRGBA(image.Rect(0, 0, 400, 400))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise.Pix {
		noise.Pix[i] = byte(r.Uint32())
	}
	noisy := pngBytes(t, noise)
	wide := pngBytes(t, image.NewGray(image.Rect(0, 0, 3000, 20))) // small file, wide canvas
	tiny := pngBytes(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	// a header that claims 1000×1000 with no pixel data after it
	truncated := pngBytes(t, testPicture(1000, 1000))[:200]
	for _, tc := range []struct {
		name   string
		b      []byte
		typ    string
		w, h   int
		code   string
		needle string
	}{
		{"png", pic, ImagePNG, 320, 240, "", ""},
		{"jpeg", jb.Bytes(), ImageJPEG, 200, 100, "", ""},
		{"webp lossless", webpLossless, ImageWebP, 48, 32, "", ""},
		{"webp lossy", webpLossy, ImageWebP, 48, 32, "", ""},
		{"empty", nil, "", 0, 0, fault.Invalid, "empty"},
		{"gif", gb.Bytes(), "", 0, 0, fault.Invalid, "not a PNG, JPEG or WebP"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "", 0, 0, fault.Invalid, "not a PNG, JPEG or WebP"},
		{"html", []byte("<!doctype html><title>x</title>"), "", 0, 0, fault.Invalid, "not a PNG, JPEG or WebP"},
		{"over 200 KiB", noisy, "", 0, 0, fault.TooLarge, "200 KiB"},
		{"png padded past 200 KiB", append(append([]byte{}, pic...), make([]byte, MaxImageBytes)...), "", 0, 0, fault.TooLarge, "200 KiB"},
		{"wider than 2048", wide, "", 0, 0, fault.Invalid, "16 to 2048 pixels"},
		{"smaller than 16", tiny, "", 0, 0, fault.Invalid, "16 to 2048 pixels"},
		{"truncated png", truncated, "", 0, 0, fault.Invalid, "does not decode"},
		{"png magic only", []byte("\x89PNG\r\n\x1a\n"), "", 0, 0, fault.Invalid, "does not decode"},
		{"jpeg magic, garbage", append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte{0x41}, 100)...), "", 0, 0, fault.Invalid, "does not decode"},
		{"riff webp, garbage", []byte("RIFF\x10\x00\x00\x00WEBPVP8 garbage!"), "", 0, 0, fault.Invalid, "does not decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := CheckImage(tc.b)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if info.Type != tc.typ || info.Width != tc.w || info.Height != tc.h || info.Bytes != len(tc.b) || info.SHA256 != sha256Hex(tc.b) {
					t.Fatalf("got %+v, want %s %d×%d", info, tc.typ, tc.w, tc.h)
				}
				return
			}
			var fe *fault.Error
			if err == nil || !asFault(err, &fe) || fe.Code != tc.code || fe.Field != "image" || !strings.Contains(fe.Message, tc.needle) {
				t.Fatalf("got %v, want %s on field image saying %q", err, tc.code, tc.needle)
			}
		})
	}
}

func asFault(err error, fe **fault.Error) bool {
	e, ok := err.(*fault.Error)
	*fe = e
	return ok
}

// imageWorld is a world with a third product, registered with a picture, certified and
// labelled: its genuine verdict and its page show the picture once it is uploaded.
type imageWorld struct {
	*world
	images  *Images
	pic     []byte
	prod    uuid.UUID
	batch   int64
	noImage uuid.UUID // the world's first product, registered without one
}

func newImageWorld(t *testing.T) *imageWorld {
	w := newWorld(t, "")
	t.Cleanup(w.close)
	w.viaHandler(w.server(Config{}).Handler())
	w.setup()
	im, err := OpenImages(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	iw := &imageWorld{world: w, images: im, pic: pngBytes(t, testPicture(320, 240)), noImage: w.prod}
	iw.prod, iw.batch = addImageProduct(w, iw.pic)
	return iw
}

// addImageProduct registers a product of the world's first enterprise with picture pic,
// certifies it and issues a batch of 100 labels (the world's label key) for it.
func addImageProduct(w *world, pic []byte) (prod uuid.UUID, batch int64) {
	prod = uuid.New()
	w.must(w.entK, w.ent, prod, &event.Product{Name: "川味香肠 400克", Category: "food", GTIN: "06901234567892",
		ExportStandards: []string{"GB 2730"}, DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}, Image: sha256Hex(pic)})
	audit, cert := uuid.New(), uuid.New()
	w.must(w.certK, w.ent, audit, &event.Audit{Scheme: event.SchemeSantong, Scope: event.ScopeProducts,
		Products: []uuid.UUID{prod}, Auditors: []string{"王"}, Date: date(-24 * time.Hour), Result: event.ResultPass})
	w.must(w.certK, w.ent, cert, &event.Grant{Audit: audit, Number: "STC-2026-0101", Scheme: event.SchemeSantong,
		Scope: event.ScopeProducts, Products: []uuid.UUID{prod}, ValidFrom: date(-24 * time.Hour), ValidUntil: date(365 * 24 * time.Hour)})
	batch = w.must(w.entK, w.ent, uuid.New(), &event.Batch{Product: prod, Certificate: cert, Lot: "LOT-IMG",
		ProductionDate: date(0), Quantity: 100, FirstSerial: 1, LabelKey: event.KeyIDOf(pubOf(w.labelK))})
	return prod, batch
}

// server is the service over the world with the image store.
func (iw *imageWorld) server(cfg Config) *Server {
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	d := iw.adapter.Deps()
	d.Scans = iw.scans
	d.Images = iw.images
	return New(cfg, d)
}

// upload PUTs b as product's image, signed by k (nil: unsigned).
func upload(t *testing.T, h http.Handler, k ed25519.PrivateKey, product string, b []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("PUT", "/api/v1/products/"+product+"/image", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	if k != nil {
		attach.Sign(req, k, b, time.Now())
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestProductImageUpload: only the product's enterprise (or the operator) may upload its
// image, only the image whose SHA-256 the registration names, and only once it passes the
// checks; the image is on disk when the upload is answered, and a fresh store on the same
// directory serves it (a restart).
func TestProductImageUpload(t *testing.T) {
	iw := newImageWorld(t)
	h := iw.server(Config{}).Handler()
	id := iw.prod.String()
	other := pngBytes(t, testPicture(321, 240))
	for _, tc := range []struct {
		name    string
		k       ed25519.PrivateKey
		product string
		b       []byte
		status  int
		code    string
	}{
		{"unsigned", nil, id, iw.pic, 401, fault.Unauthorized},
		{"unknown key", worldKey(42), id, iw.pic, 401, fault.Unauthorized},
		{"another enterprise's key", iw.ent2K, id, iw.pic, 403, fault.Forbidden},
		{"the certifier's key", iw.certK, id, iw.pic, 403, fault.Forbidden},
		{"the label key", iw.labelK, id, iw.pic, 403, fault.Forbidden},
		{"no such product", iw.entK, uuid.NewString(), iw.pic, 404, fault.NotFound},
		{"not a product id", iw.entK, "x", iw.pic, 404, fault.NotFound},
		{"registered without an image", iw.entK, iw.noImage.String(), iw.pic, 409, fault.Conflict},
		{"another picture", iw.entK, id, other, 409, fault.Conflict},
		{"not an image", iw.entK, id, []byte("GIF89a......"), 400, fault.Invalid},
		{"too large", iw.entK, id, make([]byte, MaxImageBytes+1), 413, fault.TooLarge},
	} {
		rec := upload(t, h, tc.k, tc.product, tc.b)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
	entries, _ := os.ReadDir(iw.images.Dir())
	if len(entries) != 0 {
		t.Fatalf("refused uploads left files: %v", entries)
	}
	if rec := upload(t, h, iw.entK, id, iw.pic); rec.Code != 201 || !strings.Contains(rec.Body.String(), `"width":320`) {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	if rec := upload(t, h, iw.root, id, iw.pic); rec.Code != 200 {
		t.Fatalf("the operator's upload of the same image: %d %s", rec.Code, rec.Body)
	}
	sha := sha256Hex(iw.pic)
	if b, err := os.ReadFile(filepath.Join(iw.images.Dir(), sha)); err != nil || !bytes.Equal(b, iw.pic) {
		t.Fatalf("the image is not on disk once acknowledged: %v", err)
	}
	// a restart: a fresh store on the same directory
	im2, err := OpenImages(iw.images.Dir())
	if err != nil {
		t.Fatal(err)
	}
	iw.images = im2
	h = iw.server(Config{}).Handler()
	rec := getPage(t, h, "/images/"+sha, "192.0.2.1:1", "zh")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != ImagePNG || rec.body != string(iw.pic) {
		t.Fatalf("GET /images/sha: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("ETag") != `"`+sha+`"` {
		t.Fatalf("headers %v", rec.Header())
	}
	req := httptest.NewRequest("GET", "/images/"+sha, nil)
	req.Header.Set("If-None-Match", `"`+sha+`"`)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != 304 || rr.Body.Len() != 0 {
		t.Fatalf("If-None-Match: %d", rr.Code)
	}
	for _, p := range []string{"/images/" + strings.Repeat("0", 64), "/images/../../etc/passwd", "/images/" + strings.ToUpper(sha), "/images/x"} {
		if rec := getPage(t, h, p, "192.0.2.1:1", "zh"); rec.Code != 404 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	// a file damaged on disk is an error, never served
	if err := os.WriteFile(filepath.Join(im2.Dir(), sha), append([]byte{}, iw.pic[:len(iw.pic)-1]...), 0o644); err != nil {
		t.Fatal(err)
	}
	if rec := getPage(t, h, "/images/"+sha, "192.0.2.1:1", "zh"); rec.Code != 503 {
		t.Fatalf("a damaged image: %d", rec.Code)
	}
}

// TestProductImageOnPages: the picture shows, lazy-loaded with its width, height and alt text,
// on the product's page and its genuine verdict, once uploaded; never on a warning verdict
// (a forged code copying the product's batch), never before the upload, never for a product
// registered without one, nor on a cloned code's page; the pages' policy lets the browser load it.
func TestProductImageOnPages(t *testing.T) {
	iw := newImageWorld(t)
	s := iw.server(Config{Clone: CloneRule{MaxClients: 2}})
	h := s.Handler()
	sha := sha256Hex(iw.pic)
	img := fmt.Sprintf(`<img src="/images/%s" width="320" height="240" alt=`, sha)
	genuine := "/q/" + iw.token(iw.labelK, iw.batch, 1)
	forged := "/q/" + iw.token(iw.label2K, iw.batch, 2)
	cloned := "/q/" + iw.token(iw.labelK, iw.batch, 3) // the product's, seen by too many clients
	for i := range 3 {
		getPage(t, h, cloned, fmt.Sprintf("192.0.2.%d:1", 20+i), "zh-CN")
	}
	product := "/registry/products/" + iw.prod.String()
	plain := "/registry/products/" + iw.noImage.String()
	has := func(path string) bool {
		t.Helper()
		rec := getPage(t, h, path, "192.0.2.9:1", "zh-CN")
		if rec.Code != 200 {
			t.Fatalf("%s: %d", path, rec.Code)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self'") {
			t.Fatalf("%s: CSP %q does not let the page load its image", path, csp)
		}
		if strings.Contains(rec.body, img) {
			if !strings.Contains(rec.body, `loading="lazy"`) || !strings.Contains(rec.body, `alt="企业登记的产品图片"`) {
				t.Fatalf("%s: the image is not lazy-loaded with alt text", path)
			}
			return true
		}
		return strings.Contains(rec.body, "/images/")
	}
	for _, p := range []string{genuine, product, forged, cloned, plain} {
		if has(p) {
			t.Errorf("%s shows an image before any upload", p)
		}
	}
	if rec := upload(t, h, iw.entK, iw.prod.String(), iw.pic); rec.Code != 201 {
		t.Fatal(rec.Code, rec.Body)
	}
	for p, want := range map[string]bool{genuine: true, product: true, forged: false, cloned: false, plain: false} {
		if got := has(p); got != want {
			t.Errorf("%s: image shown %v, want %v", p, got, want)
		}
	}
	// the JSON API names the image's hash, as registered
	req := httptest.NewRequest("GET", "/api/v1/products/"+iw.prod.String(), nil)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if !strings.Contains(rr.Body.String(), `"image_sha256":"`+sha+`"`) {
		t.Fatalf("product JSON: %s", rr.Body)
	}
}
