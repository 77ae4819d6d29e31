package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/verify"
)

// imagesDir is where a data directory keeps product images (verify/image.go).
const imagesDir = "images"

// readImage reads and checks an image file as the service will (verify.CheckImage), so that a
// file the service would refuse is refused before anything is signed.
func readImage(flagName, path string) ([]byte, *verify.ImageInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, usagef("--%s: %v", flagName, err)
	}
	info, err := verify.CheckImage(b)
	if err != nil {
		msg := fault.MessageOf(err)
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Message != "" {
			msg = fe.Message // without its field: the flag names it
		}
		return nil, nil, withHint(usagef("--%s %s: %s", flagName, filepath.Base(path), msg),
			"a product image is a PNG, JPEG or WebP file of at most 200 KiB, 16 to 2048 pixels a side")
	}
	return b, info, nil
}

// imageFlag reads the image file a flag names, if any, and returns it with its SHA-256.
func imageFlag(flagName, path string) ([]byte, string, error) {
	if path == "" {
		return nil, "", nil
	}
	b, info, err := readImage(flagName, path)
	if err != nil {
		return nil, "", err
	}
	return b, info.SHA256, nil
}

// putImage keeps a product's image where its registration went: the data directory's image
// store, or the server (PUT /api/v1/products/{id}/image, signed by the signer's key). Both check
// the same things: the key may upload it, and its SHA-256 is the one the product was
// registered with.
func (s *signer) putImage(ctx context.Context, product uuid.UUID, b []byte) (*verify.ImageInfo, error) {
	path := "/api/v1/products/" + product.String() + "/image"
	if l, ok := s.tgt.(*localTarget); ok {
		req, err := http.NewRequestWithContext(ctx, "PUT", path, nil)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		attach.Sign(req, s.priv, b, now)
		signed, err := attach.ReadSigned(req.Header, req.Method, req.URL.RequestURI(), b, now)
		if err != nil {
			return nil, err
		}
		want, err := verify.NewCertRegistry(l.Registry).ImageUpload(signed, product.String(), now)
		if err != nil {
			return nil, err
		}
		im, err := verify.OpenImages(filepath.Join(l.dir, imagesDir))
		if err != nil {
			return nil, err
		}
		return im.Put(b, want)
	}
	req, err := http.NewRequestWithContext(ctx, "PUT", s.server+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	attach.Sign(req, s.priv, b, time.Now())
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("send the image to %s: %w", s.server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, httpError(resp.StatusCode, body)
	}
	var info verify.ImageInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("malformed answer from the server: %w", err)
	}
	return &info, nil
}

// cmdProductImage uploads the image a product was registered with (its SHA-256 is in
// product.registered): the enterprise's key or the operator's.
func cmdProductImage(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("product image")
	o := addSignFlags(fs, "the enterprise's key file (or the operator's)")
	prod := fs.String("product", "", "the product (id or GTIN)")
	file := fs.String("file", "", "the image file: PNG, JPEG or WebP, at most 200 KiB")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := required("product", *prod, "the product whose image this is"); err != nil {
		return err
	}
	if err := required("file", *file, "the image file"); err != nil {
		return err
	}
	b, _, err := readImage("file", *file)
	if err != nil {
		return err
	}
	s, err := o.open(c)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := s.product(ctx, "product", *prod)
	if err != nil {
		return err
	}
	info, err := s.putImage(ctx, id, b)
	if err != nil {
		if fault.CodeOf(err) == fault.Conflict {
			return withHint(err, "the image must be the very file whose SHA-256 the product was registered with (product register --image)")
		}
		return err
	}
	return printImage(c, o, id, info)
}

func printImage(c *cli, o *signOpts, id uuid.UUID, info *verify.ImageInfo) error {
	if o.json {
		return json.NewEncoder(c.stdout).Encode(struct {
			Product string `json:"product"`
			*verify.ImageInfo
		}{id.String(), info})
	}
	fmt.Fprintf(c.stdout, "image kept: product %s, %s %d×%d, %d bytes, sha256 %s\n", id, info.Type, info.Width, info.Height, info.Bytes, info.SHA256)
	return nil
}
