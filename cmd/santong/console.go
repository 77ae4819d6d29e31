package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"

	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/console"
	"github.com/santong-cn/santong/verify/private"
)

func init() {
	eventWords[event.AppFiled] = [2]string{"认证申请", "application filed"}
	eventWords[event.AppAccepted] = [2]string{"受理", "application accepted"}
	eventWords[event.AppRejected] = [2]string{"申请驳回", "application rejected"}
	eventWords[event.AppAdvanced] = [2]string{"初评/推荐上报", "application intake step"}
	eventWords[event.AppDecided] = [2]string{"申请决定", "application decided"}
	eventWords[event.AppWithdrawn] = [2]string{"申请撤回", "application withdrawn"}
}

// openPrivate opens the service's store of what is not public (applications' details,
// enrolment requests) in DIR/private.
func openPrivate(dir string, reg *cert.Registry) (*verify.Private, error) {
	st, err := private.Open(filepath.Join(dir, "private"))
	if err != nil {
		return nil, err
	}
	return &verify.Private{Store: st, Ledger: reg}, nil
}

// cmdConsole serves the working console for one key's holder on loopback.
func cmdConsole(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("console")
	keyPath := fs.String("key", "", "your key file: it signs everything the console sends")
	labelKeyPath := fs.String("label-key", "", "an enterprise's label key file (to issue labels)")
	server := fs.String("server", c.getenv("SANTONG_SERVER"), "the Santong service, e.g. http://127.0.0.1:8080 ($SANTONG_SERVER)")
	addr := fs.String("addr", "127.0.0.1:8090", "where the console listens: loopback only")
	out := fs.String("out", "santong-labels", "the directory for label batches (one directory each)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *server == "" {
		return usagef("--server is required: the Santong service the console talks to")
	}
	if err := checkServerURL(*server); err != nil {
		return err
	}
	ln, err := console.Listen(*addr)
	if err != nil {
		return usagef("%v", err)
	}
	defer ln.Close()
	key, err := c.readKey(*keyPath)
	if err != nil {
		return err
	}
	var labelKey ed25519.PrivateKey
	if *labelKeyPath != "" {
		if labelKey, err = c.readKey(*labelKeyPath); err != nil {
			return err
		}
		if labelKey.Equal(key) {
			return usagef("--key and --label-key are the same key: the label key is a separate key enrolled with the role label")
		}
	}
	con, err := console.New(console.Config{Server: *server, Key: key, LabelKey: labelKey, OutDir: *out})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "santong: console for key %s on %s\nopen %s (Ctrl-C stops)\n",
		event.KeyIDOf(key.Public().(ed25519.PublicKey)), *server, con.URL(ln))
	return con.Serve(ctx, ln)
}
