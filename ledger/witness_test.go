package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/witnesstest"
)

// waitQuorum waits until w's Cosigned(cp) carries k valid cosignatures of ws.
func waitQuorum(t *testing.T, w *Witnesses, cp *SignedCheckpoint, ws []*CosignatureVerifier, k int, within time.Duration) ([]byte, error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := w.Cosigned(cp)
		_, err := CheckQuorum(msg, ws, k)
		if err == nil || time.Now().After(deadline) {
			return msg, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLitewitness runs the witness client against a real litewitness on loopback: the log's
// checkpoints are cosigned (first from "old 0", then with consistency proofs), a dead witness
// beside it delays nothing, and a forked log with the same origin and key but another tree is
// refused by the witness and fails the auditor's quorum.
func TestLitewitness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vkey, err := VerifierKey(testOrigin, testKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	lw := witnesstest.Start(t, "witness.test/w1", testOrigin, vkey)
	wkey, err := NewCosignatureVerifier(lw.VKey)
	if err != nil {
		t.Fatalf("litewitness's key %q: %v", lw.VKey, err)
	}
	ws := []*CosignatureVerifier{wkey}

	l := openTest(t, filepath.Join(t.TempDir(), "db"))
	defer l.Close()
	live := WitnessConfig{Name: "w1", URL: lw.URL, Key: wkey}
	dead := WitnessConfig{Name: "dead", URL: "http://127.0.0.1:1", Key: wkey}
	// A witness that never answers: each request runs into the client's timeout.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client going away
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	defer func() { cancel(); hang.CloseClientConnections(); hang.Close() }()
	slow := WitnessConfig{Name: "slow", URL: hang.URL, Key: wkey}
	w := NewWitnesses(l, []WitnessConfig{dead, slow, live}, WitnessOptions{Timeout: 20 * time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() { w.Run(wctx); close(wdone) }()

	for round, n := range []int{3, 5, 300} {
		appendN(t, l, n, fmt.Sprint("round", round))
		cp, err := l.SignCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := waitQuorum(t, w, cp, ws, 1, 5*time.Second) // well within the slow witness's 20 s timeout
		if err != nil {
			t.Fatalf("checkpoint of size %d: %v; stats %+v", cp.Size, err, w.Stats())
		}
		if _, err := OpenCheckpoint(msg, l.opts.Verifier); err != nil {
			t.Fatalf("the cosigned checkpoint no longer opens with the log key: %v", err)
		}
		t.Logf("cosigned checkpoint:\n%s", msg)
	}
	st := w.Stats()
	if st[2].Cosigned < 3 || st[2].Failures != 0 || st[0].Failures == 0 || st[0].Cosigned != 0 || st[1].Cosigned != 0 {
		t.Fatalf("stats %+v: want 3 cosignatures from w1 and failures only from the dead witness", st)
	}

	// A fork: the same origin and key, another tree, larger than what the witness cosigned.
	f := openTest(t, filepath.Join(t.TempDir(), "fork"))
	defer f.Close()
	appendN(t, f, 400, "forged")
	fcp, err := f.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fw := NewWitnesses(f, []WitnessConfig{live}, WitnessOptions{Timeout: 2 * time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	fctx, fcancel := context.WithCancel(ctx)
	go fw.Run(fctx)
	deadline := time.Now().Add(10 * time.Second)
	for fw.Stats()[0].Failures < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	fcancel()
	fst := fw.Stats()[0]
	if fst.Conflicts == 0 || fst.Failures < 2 || fst.Cosigned != 0 {
		t.Fatalf("fork stats %+v: want a 409 (size hint followed), then refusals, and no cosignature", fst)
	}
	if _, err := CheckQuorum(fw.Cosigned(fcp), ws, 1); !errors.Is(err, ErrQuorum) {
		t.Fatalf("the forked checkpoint passes the quorum: %v", err)
	}
	// The honest log goes on being cosigned, also by a fresh client (a restarted service) that
	// starts from "old 0" and must follow the witness's 409 size hint.
	appendN(t, l, 1, "after the fork")
	cp, err := l.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitQuorum(t, w, cp, ws, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	wcancel() // the service stops; the witness client stops with it
	<-wdone
	appendN(t, l, 1, "after the restart")
	if cp, err = l.SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	w2 := NewWitnesses(l, []WitnessConfig{live}, WitnessOptions{Timeout: 2 * time.Second, BackoffMin: 20 * time.Millisecond})
	go w2.Run(ctx)
	if _, err := waitQuorum(t, w2, cp, ws, 1, 10*time.Second); err != nil {
		t.Fatalf("a restarted client: %v; stats %+v", err, w2.Stats())
	}
	if st := w2.Stats()[0]; st.Conflicts != 1 || st.Failures != 0 {
		t.Fatalf("a restarted client: stats %+v, want one 409 followed", st)
	}
}
