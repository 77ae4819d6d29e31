package ledger_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
)

// A log in a directory: append to an enterprise's chain, sign a checkpoint, and prove the record
// included in it as an auditor would, trusting only the log's public key.
func Example() {
	dir, _ := os.MkdirTemp("", "santong-example-")
	defer os.RemoveAll(dir)

	logKey := ed25519.NewKeyFromSeed(make([]byte, 32)) // in real use: read from an encrypted key file
	signer, verifier, _ := ledger.NewSigner("santong.example/log", logKey)
	l, err := ledger.Open(ledger.Options{Dir: dir, Origin: "santong.example/log", Signer: signer, Verifier: verifier})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	ctx := context.Background()
	enterprise := uuid.MustParse("11111111-1111-4111-8111-111111111111")
	first, _ := l.Append(ctx, ledger.Entry{Chain: enterprise, Payload: []byte(`{"type":"enterprise.registered"}`)})
	second, _ := l.Append(ctx, ledger.Entry{Chain: enterprise, Payload: []byte(`{"type":"audit.recorded"}`), ExpectHead: &first.Hash})
	signed, _ := l.SignCheckpoint(ctx)

	// The auditor's side: the checkpoint's signature, then the record's inclusion proof.
	cp, err := ledger.OpenCheckpoint(signed.Note, verifier)
	if err != nil {
		panic(err)
	}
	rec, _ := l.Record(second.Index)
	proof, _ := l.InclusionProof(second.Index, cp.Size)
	fmt.Println("checkpoint size:", cp.Size)
	fmt.Println("chain link ok:", rec.Prev == first.Hash)
	fmt.Println("included:", ledger.VerifyInclusion(cp.Checkpoint, second.Index, rec.Bytes, proof) == nil)
	// Output:
	// checkpoint size: 2
	// chain link ok: true
	// included: true
}
