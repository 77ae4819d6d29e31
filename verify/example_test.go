package verify_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http/httptest"
	"os/signal"
	"syscall"

	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/scanstore"
)

// The service over a certification registry: the adapters give its dependencies, a scan store
// of its own counts scans, Serve runs it until the context ends, and the caller closes the scan
// store and the registry (and Badger) after.
func Example() {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32)) // the log key: load it from a key file
	signer, verifier, _ := ledger.NewSigner("santong.example/log", priv)
	reg, err := cert.Open(ledger.Options{InMemory: true, Origin: "santong.example/log", Signer: signer, Verifier: verifier}, cert.Config{})
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	scans, err := scanstore.Open("", scanstore.Options{InMemory: true, // in serve: DATA/scans
		Key: []byte("a 32-byte secret from the config")})
	if err != nil {
		panic(err)
	}
	defer scans.Close()

	deps := verify.NewCertRegistry(reg).Deps()
	deps.Scans = scans
	srv := verify.New(verify.Config{
		Origin:         "https://v.santong.example",
		TrustedProxies: []string{"10.0.0.0/8"},
		Clone:          verify.CloneRule{MaxScans: 50, MaxRegions: 3},
	}, deps)

	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	fmt.Println(w.Code, w.Body.String())

	if false { // in santong serve:
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		_ = srv.Serve(ctx, ":8080") // drains in-flight requests
	}
	srv.Close()
	// Output: 200 {"status":"ok"}
}
