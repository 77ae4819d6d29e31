package cert_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// A client builds an event, signs it with its key and submits the bytes; the registry checks
// and appends them. Here the operator initialises a log and registers an enterprise.
func Example() {
	logPub, logPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = logPub
	signer, verifier, _ := ledger.NewSigner("santong.example/log", logPriv)
	reg, err := cert.Open(ledger.Options{InMemory: true, Origin: "santong.example/log", Signer: signer, Verifier: verifier}, cert.Config{})
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	ctx := context.Background()

	rootPub, root, _ := ed25519.GenerateKey(rand.Reader)
	b, _ := event.New(ledger.RegistryChain, uuid.Nil, &event.Genesis{Name: "三同 alliance", Origin: "santong.example/log", RootKey: rootPub}).Sign(root)
	if _, err := reg.Submit(ctx, b); err != nil {
		panic(err)
	}

	ent := uuid.New()
	b, _ = event.New(ent, ent, &event.Enterprise{Name: "四川某食品有限公司", USCC: "91512081MA62K0260E",
		ExportFiling: "5100600123", Address: "成都"}).At(time.Now()).Sign(root)
	rc, err := reg.Submit(ctx, b)
	if err != nil {
		panic(err)
	}
	e, _ := reg.EnterpriseByUSCC("91512081MA62K0260E")
	fmt.Println(rc.Index, e.Name)
	// Output: 1 四川某食品有限公司
}
