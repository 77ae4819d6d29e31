package main

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/santong-cn/santong/label"
)

// About one label PNG in 150 defeats gozxing's finder-pattern detector ("dimension = 31"), even
// with TRY_HARDER: santong verify must still read it. This key, batch and serial make one.
func TestDecodeQRHardCode(t *testing.T) {
	seed := make([]byte, 32)
	seed[0] = 182
	tok, err := label.Sign(ed25519.NewKeyFromSeed(seed), "santong.local/log", 7, 182)
	if err != nil {
		t.Fatal(err)
	}
	u := tok.URL("HTTP://127.0.0.1:8080/Q/")
	code, err := label.Encode(u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeQR(bytes.NewReader(code.PNG(8)))
	if err != nil || got != u {
		t.Fatalf("decodeQR = %q, %v; want the label's URL", got, err)
	}
}
