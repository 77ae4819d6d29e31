package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// liar wraps the honest service: it answers as told for the enterprise's chain and chain end,
// and honestly for everything else (checkpoints, proofs, the registry chain).
type liar struct {
	honest http.Handler
	mu     sync.Mutex
	chain  func(w http.ResponseWriter, r *http.Request) bool // true: answered
}

func (l *liar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	f := l.chain
	l.mu.Unlock()
	if f != nil && f(w, r) {
		return
	}
	l.honest.ServeHTTP(w, r)
}

// record answers with the honest service's answer, kept.
func record(h http.Handler, r *http.Request) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Body.Bytes()
}

// TestAuditCompleteChains: a server that hides the enterprise's last record (its suspension),
// or serves the chain and chain head of an older checkpoint under the new one, is caught by
// `audit replay --server`; so is a bundle with its last record cut off.
func TestAuditCompleteChains(t *testing.T) {
	configHome(t)
	f := newAuditFixture(t, filepath.Join(t.TempDir(), "d"))
	f.open(t)
	defer func() {
		if f.reg != nil {
			f.reg.Close()
		}
	}()
	honest := verify.New(verify.Config{Origin: "http://x"}, verify.NewCertRegistry(f.reg).Deps()).Handler()
	l := &liar{honest: honest}
	srv := httptest.NewServer(l)
	defer srv.Close()
	chainPath := "/api/v1/enterprises/" + f.ent.String() + "/chain"

	// Honest: the replay passes, and the old chain and its end are kept for the liar.
	wantRun(t, 0, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.ent.String())
	oldChain := record(honest, httptest.NewRequest("GET", chainPath+"?from=0&limit=100", nil))
	oldSize := f.reg.Log().Checkpoint().Size
	oldEnd := record(honest, httptest.NewRequest("GET", chainPath+"/end?size="+strconv.FormatInt(oldSize, 10), nil))

	// The certifier suspends the certificate: the enterprise's last record.
	f.submit(t, f.certK, f.ent, f.certID, &event.Suspension{Reason: "抽检不合格", RectifyBy: fixDay(30)})
	if _, err := f.reg.Log().SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, _ := wantRun(t, 0, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.ent.String())
	if !strings.Contains(out, "暂停认证") || !strings.Contains(out, "complete: both chains end where the checkpoint's chain-heads map says") {
		t.Fatalf("honest replay after the suspension:\n%s", out)
	}

	// 1. The liar drops the chain's last record from its pages; everything else is honest.
	l.mu.Lock()
	l.chain = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != chainPath {
			return false
		}
		var page verify.ChainJSON
		if err := json.Unmarshal(record(honest, r), &page); err != nil {
			t.Error(err)
			return false
		}
		if len(page.Records) > 0 {
			page.Records = page.Records[:len(page.Records)-1]
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(page)
		return true
	}
	l.mu.Unlock()
	_, errs := wantRun(t, 1, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.ent.String())
	if !strings.Contains(errs, "CHAIN INCOMPLETE") {
		t.Fatalf("hidden last record: %s", errs)
	}

	// 2. The liar serves the old chain and the old chain end (valid under the old checkpoint)
	// under the new checkpoint.
	l.mu.Lock()
	l.chain = func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case chainPath:
			w.Header().Set("Content-Type", "application/json")
			w.Write(oldChain)
			return true
		case chainPath + "/end":
			w.Header().Set("Content-Type", "application/json")
			w.Write(oldEnd)
			return true
		}
		return false
	}
	l.mu.Unlock()
	_, errs = wantRun(t, 1, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.ent.String())
	if !strings.Contains(errs, "AUDIT FAILED") || !strings.Contains(errs, "not the checkpoint's last record") {
		t.Fatalf("old chain head under a new checkpoint: %s", errs)
	}
	// 2b. The old chain with the new end: the new map says the chain is longer.
	l.mu.Lock()
	l.chain = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == chainPath {
			w.Header().Set("Content-Type", "application/json")
			w.Write(oldChain)
			return true
		}
		return false
	}
	l.mu.Unlock()
	_, errs = wantRun(t, 1, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.ent.String())
	if !strings.Contains(errs, "CHAIN INCOMPLETE") {
		t.Fatalf("old chain with the new end: %s", errs)
	}
	// 3. The liar will not say where the chain ends: no audit passes.
	l.mu.Lock()
	l.chain = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == chainPath+"/end" {
			http.NotFound(w, r)
			return true
		}
		return false
	}
	l.mu.Unlock()
	wantRun(t, 2, "audit", "replay", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.ent.String())

	// A bundle whose exporter cut off the last record (and put the chain end back as it was, or
	// took an older one) fails its replay offline.
	l.mu.Lock()
	l.chain = nil
	l.mu.Unlock()
	path := filepath.Join(t.TempDir(), "b.json")
	wantRun(t, 0, "audit", "export", "--server", srv.URL, "--log-key", f.logKey, "--enterprise", f.ent.String(), "--out", path)
	wantRun(t, 0, "audit", "replay", "--bundle", path, "--log-key", f.logKey)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var oe verify.ChainEndJSON
	if err := json.Unmarshal(oldEnd, &oe); err != nil {
		t.Fatal(err)
	}
	for name, cut := range map[string]func(b *cert.Bundle){
		"last record cut": func(b *cert.Bundle) { b.Chain = b.Chain[:len(b.Chain)-1] },
		"old head": func(b *cert.Bundle) {
			b.Chain = b.Chain[:len(b.Chain)-1]
			b.ChainEnd.Len, b.ChainEnd.Index, b.ChainEnd.Siblings = oe.Len, oe.Index, oe.Siblings
		},
		"registry end cut": func(b *cert.Bundle) { b.RegistryEnd.Len-- },
	} {
		c, _ := cert.ParseBundle(data)
		cut(c)
		bad, _ := c.Marshal()
		p := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, errs := wantRun(t, 1, "audit", "replay", "--bundle", p, "--log-key", f.logKey)
		if !strings.Contains(errs, "AUDIT FAILED") {
			t.Fatalf("%s: %s", name, errs)
		}
	}
	// A bundle without chain ends is refused as malformed.
	noEnd := bytes.Replace(data, []byte(`"chain_end"`), []byte(`"chain_end_"`), 1)
	if _, err := cert.ParseBundle(noEnd); err == nil {
		t.Fatal("a bundle without its chain end parsed")
	}

}
