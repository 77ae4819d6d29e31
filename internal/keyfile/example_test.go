package keyfile_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/santong-cn/santong/internal/keyfile"
)

func Example() {
	dir, _ := os.MkdirTemp("", "keys")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "label.key")

	key, _ := keyfile.Generate()
	pass := []byte("correct horse battery staple") // in a CLI: keyfile.Passphrase("passphrase: ")
	// WriteParams with FastParams keeps the example quick; real keys use Write (DefaultParams).
	if err := keyfile.WriteParams(path, key, pass, "acme label key", keyfile.FastParams); err != nil {
		panic(err)
	}
	pub, name, _ := keyfile.ReadPublic(path)
	got, err := keyfile.Read(path, pass)
	fmt.Println(name, pub.Equal(key.Public()), got.Equal(key), err)

	_, err = keyfile.Read(path, []byte("wrong"))
	fmt.Println(err)
	// Output:
	// acme label key true true <nil>
	// wrong passphrase, or the encrypted key in the file was altered
}
