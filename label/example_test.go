package label_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"

	"github.com/santong-cn/santong/label"
)

func Example() {
	// The enterprise's label key; in practice read with keyfile.Read.
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	const origin = "santong.cn/log"

	// Unit 42 of the batch whose label-batch event is at ledger index 1234.
	tok, err := label.Sign(priv, origin, 1234, 42)
	if err != nil {
		panic(err)
	}
	url := tok.URL("HTTPS://V.SANTONG.CN/Q/")
	fmt.Println(len(url), tok.Short())

	// The verifier: parse the scanned URL, look up batch 1234 on the ledger to learn its label
	// key, check the serial is in the batch's range, and verify.
	got, err := label.Parse(url)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Batch, got.Serial, label.Verify(got, pub, origin))
	fmt.Println(label.Verify(got, pub, "other.example/log") != nil)

	code, _ := label.Encode(url)
	fmt.Println("QR version", code.Version)
	// Output:
	// 148 1234-000042
	// 1234 42 <nil>
	// true
	// QR version 6
}

func ExampleIssue() {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	dir, _ := os.MkdirTemp("", "issue")
	defer os.RemoveAll(dir)
	res, err := label.Issue(context.Background(), label.Batch{
		Key: priv, Origin: "santong.cn/log", Batch: 1234, First: 1, Count: 1000,
		Prefix: "HTTPS://V.SANTONG.CN/Q/", Product: "三同牌 绿茶", Lot: "L2026-11A",
	}, label.IssueOptions{
		Outputs:  label.CSVManifest | label.JSONManifest,
		Dir:      dir,
		Progress: func(done, total uint64) { /* draw a bar */ },
	})
	fmt.Println(res.Units, res.Files, err)
	// Output: 1000 2 <nil>
}
