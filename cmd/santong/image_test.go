package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func writePNG(t *testing.T, path string, w, h int, c color.Color) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		m.Set(i%w, i/w, c)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestProductImageCLI: product register --image puts the picture's SHA-256 into the event and
// keeps the file in the data directory; product image uploads it to a server (signed by the
// enterprise's key) and refuses another file, a non-image and someone else's key, each with a
// clear error; the server then serves the picture at /images/{sha256}.
func TestProductImageCLI(t *testing.T) {
	tmp := t.TempDir()
	d := filepath.Join(tmp, "d")
	file := func(n string) string { return filepath.Join(tmp, n) }
	pic := writePNG(t, file("p.png"), 64, 48, color.RGBA{0xa0, 0x30, 0x20, 0xff})
	writePNG(t, file("other.png"), 64, 49, color.RGBA{0xa0, 0x30, 0x20, 0xff})
	os.WriteFile(file("x.gif"), []byte("GIF89a not really"), 0o644)
	sum := sha256.Sum256(pic)
	sha := hex.EncodeToString(sum[:])
	op := filepath.Join(d, "keys", "operator.key")
	wantRun(t, 0, "init", "--data", d)
	wantRun(t, 0, "key", "new", "--out", file("ent.key"))
	wantRun(t, 0, "key", "new", "--out", file("ent2.key"))
	wantRun(t, 0, "enterprise", "register", "--data", d, "--key", op, "--name", "Acme Foods", "--uscc", "91510100MA6C1234XT",
		"--export-filing", "5101960001", "--address", "Chengdu")
	wantRun(t, 0, "enterprise", "register", "--data", d, "--key", op, "--name", "Other Foods", "--uscc", "91330100MA2B5678Y4",
		"--export-filing", "5101960002", "--address", "Hangzhou")
	wantRun(t, 0, "key", "enrol", "--data", d, "--key", op, "--pub", file("ent.key"), "--role", "enterprise", "--enterprise", "91510100MA6C1234XT")
	wantRun(t, 0, "key", "enrol", "--data", d, "--key", op, "--pub", file("ent2.key"), "--role", "enterprise", "--enterprise", "91330100MA2B5678Y4")
	const p1, p2 = "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"
	reg := func(id string, more ...string) []string {
		return append([]string{"product", "register", "--data", d, "--key", file("ent.key"), "--name", "Chili oil", "--category", "food",
			"--export-standard", "GB 2716", "--domestic-standard", "GB 2716", "--line", "L1", "--id", id}, more...)
	}
	_, errs := wantRun(t, 2, reg(p1, "--image", file("x.gif"))...)
	if !strings.Contains(errs, "santong: error: --image x.gif: not a PNG, JPEG or WebP image") || !strings.Contains(errs, "hint: a product image is") {
		t.Fatalf("a GIF: %s", errs)
	}
	out, _ := wantRun(t, 0, reg(p1, "--image", file("p.png"))...)
	if !strings.Contains(out, sha) {
		t.Fatalf("register --image does not say the image's hash:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(d, imagesDir, sha)); err != nil || !bytes.Equal(b, pic) {
		t.Fatalf("the image is not in the data directory: %v", err)
	}
	wantRun(t, 0, reg(p2)...) // no image

	base, stop := serveInProcess(t, "--data", d)
	defer stop()
	os.RemoveAll(filepath.Join(d, imagesDir, sha)) // as if the register had gone to another service
	up := func(key, product, f string) []string {
		return []string{"product", "image", "--server", base, "--key", file(key), "--product", product, "--file", file(f)}
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{up("ent.key", p1, "other.png"), "the image's SHA-256 is not the one the product's registration names"},
		{up("ent2.key", p1, "p.png"), "only the product's enterprise or the operator may upload its image"},
		{up("ent.key", p2, "p.png"), "the product was registered without an image"},
		{up("ent.key", p1, "x.gif"), "--file x.gif: not a PNG, JPEG or WebP image"},
		{[]string{"product", "image", "--server", base, "--key", file("ent.key"), "--file", file("p.png")}, "--product is required"},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code == 0 || !strings.Contains(errs, "santong: error: ") || !strings.Contains(errs, tc.err) {
			t.Errorf("%v: exit %d, %s; want %q", tc.args[3:], code, errs, tc.err)
		}
	}
	out, _ = wantRun(t, 0, up("ent.key", p1, "p.png")...)
	if !strings.Contains(out, "image kept") || !strings.Contains(out, "64×48") {
		t.Fatalf("product image: %s", out)
	}
	resp, err := http.Get(base + "/images/" + sha)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(b, pic) || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("GET /images/%s: %d %s", sha, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// serveInProcess runs santong serve in this process on a loopback port until stop.
func serveInProcess(t *testing.T, args ...string) (base string, stop func()) {
	t.Helper()
	var out, errb syncBuffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return testPass
		}
		return ""
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), c) }()
	stop = func() { cancel(); <-done }
	re := regexp.MustCompile(`serving .* on (http://\S+)`)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String() + errb.String()); m != nil {
			return m[1], stop
		}
		select {
		case code := <-done:
			t.Fatalf("santong serve exited %d: %s", code, errb.String())
		default:
		}
	}
	stop()
	t.Fatalf("santong serve did not start: %s", errb.String())
	return "", nil
}
