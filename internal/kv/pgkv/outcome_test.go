package pgkv

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/internal/pgtest"
)

// cutProxy forwards TCP between the store and the server, and on request cuts the next
// transfer from the store: after forwarding it (the server runs the commit; its answer is lost)
// or before (the server never sees it).
type cutProxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32 // 0 pass, 1 cut after forwarding, 2 cut before forwarding
	wg     sync.WaitGroup
}

const (
	passAll = iota
	cutAfter
	cutBefore
)

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		srv, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		var swallow atomic.Bool
		p.wg.Add(2)
		go func() { // store -> server
			defer p.wg.Done()
			defer c.Close()
			defer srv.Close()
			buf := make([]byte, 1<<20)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				switch p.mode.Swap(passAll) {
				case cutBefore:
					return
				case cutAfter:
					swallow.Store(true)
					if _, err := srv.Write(buf[:n]); err != nil {
						return
					}
					time.Sleep(500 * time.Millisecond) // the server runs it, answers into the void
					return
				}
				if _, err := srv.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
		go func() { // server -> store
			defer p.wg.Done()
			buf := make([]byte, 1<<16)
			for {
				n, err := srv.Read(buf)
				if err != nil {
					c.Close()
					return
				}
				if swallow.Load() {
					continue
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

// viaProxy rewrites dsn to go through the proxy.
func viaProxy(t *testing.T, dsn string, p *cutProxy) string {
	port := pgtest.Shared(t).Port
	old := fmt.Sprintf("127.0.0.1:%d/", port)
	if !strings.Contains(dsn, old) {
		t.Fatalf("dsn %q has no %q", dsn, old)
	}
	return strings.Replace(dsn, old, p.ln.Addr().String()+"/", 1)
}

// TestCommitUnknownOutcome: a connection that drops while COMMIT is on the wire gives
// ErrCommitUnknown, whether the server committed (cut after) or never saw it (cut before); the
// caller resolves it by reading, and the store goes on with a new connection.
func TestCommitUnknownOutcome(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	direct := open(t, dsn, Options{})
	target := fmt.Sprintf("127.0.0.1:%d", pgtest.Shared(t).Port)
	p := newCutProxy(t, target)
	s := open(t, viaProxy(t, dsn, p), Options{MaxConns: 1})
	group := func(tag string) kv.Txn {
		tx := s.Begin()
		for i := 0; i < 100; i++ {
			if err := tx.Set([]byte(fmt.Sprintf("%s/%03d", tag, i)), []byte(tag)); err != nil {
				t.Fatal(err)
			}
		}
		return tx
	}
	// warm up: the statements get prepared on the connection, so the next commit is one write
	if err := group("warm").Commit(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode      int32
		tag       string
		committed bool
	}{
		{cutAfter, "after", true},
		{cutBefore, "before", false},
	} {
		tx := group(c.tag)
		p.mode.Store(c.mode)
		err := tx.Commit()
		if !errors.Is(err, ErrCommitUnknown) {
			t.Fatalf("cut %s: Commit returned %v, want ErrCommitUnknown", c.tag, err)
		}
		if errors.Is(err, kv.ErrConflict) {
			t.Fatalf("cut %s: an unknown outcome must not look like a conflict", c.tag)
		}
		// resolve by reading
		var n int
		if err := direct.View(func(r kv.Reader) error {
			return r.Iterate([]byte(c.tag+"/"), nil, true, func(k, v []byte) (bool, error) { n++; return true, nil })
		}); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 100, false: 0}[c.committed]; n != want {
			t.Fatalf("cut %s: %d keys present, want %d (all or nothing)", c.tag, n, want)
		}
		// the store goes on (Warm again: a new connection prepares again)
		if err := group("warm").Commit(); err != nil {
			t.Fatalf("cut %s: next commit: %v", c.tag, err)
		}
	}
	// an async commit reports the unknown outcome too
	tx := group("async")
	p.mode.Store(cutAfter)
	errc := make(chan error, 1)
	tx.CommitAsync(func(err error) { errc <- err })
	select {
	case err := <-errc:
		if !errors.Is(err, ErrCommitUnknown) {
			t.Fatalf("CommitAsync: %v, want ErrCommitUnknown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("CommitAsync did not report")
	}
}

// countTracer counts the round trips a store makes: batches and single queries.
type countTracer struct{ batches, queries atomic.Int64 }

func (c *countTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.queries.Add(1)
	return ctx
}
func (c *countTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *countTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.batches.Add(1)
	return ctx
}
func (c *countTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *countTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestGroupCommitOneRoundTrip: a group commit of 4,000 keys is one batch (one round trip once
// its statements are prepared on the connection), not 4,000 statements.
func TestGroupCommitOneRoundTrip(t *testing.T) {
	tr := &countTracer{}
	s := open(t, pgtest.NewDatabase(t), Options{MaxConns: 1, tracer: tr})
	commit := func(g int) {
		tx := s.Begin()
		for i := 0; i < 4000; i++ {
			if err := tx.Set([]byte(fmt.Sprintf("g%d/%05d", g, i)), []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Delete([]byte("some/deleted")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	commit(0)
	tr.batches.Store(0)
	tr.queries.Store(0)
	commit(1)
	if b, q := tr.batches.Load(), tr.queries.Load(); b != 1 || q != 0 {
		t.Fatalf("a group commit of 4,000 keys took %d batches and %d queries, want 1 batch", b, q)
	}
	n := 0
	if err := s.View(func(r kv.Reader) error {
		return r.Iterate([]byte("g1/"), nil, true, func(k, v []byte) (bool, error) { n++; return true, nil })
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4000 {
		t.Fatalf("%d keys committed, want 4000", n)
	}
}

func TestSchemaVersion(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	if _, err := Open(context.Background(), dsn, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "no schema") {
		t.Fatalf("read-only Open of an empty database: %v, want a missing-schema error", err)
	}
	s := open(t, dsn, Options{})
	if err := s.Update(func(tx kv.Txn) error { return tx.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	// a second Open of the same tables is fine
	open(t, dsn, Options{})
	ro := open(t, dsn, Options{ReadOnly: true})
	if err := ro.Update(func(tx kv.Txn) error { return tx.Set([]byte("k"), []byte("w")) }); !errors.Is(err, kv.ErrReadOnly) {
		t.Fatalf("write to a read-only store: %v, want ErrReadOnly", err)
	}
	if err := ro.View(func(r kv.Reader) error { _, err := r.Get([]byte("k")); return err }); err != nil {
		t.Fatalf("read-only View: %v", err)
	}
	// a later layout is refused, not read as this one
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), "UPDATE kv_meta SET value = '2' WHERE name = 'schema'"); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		_, err := Open(context.Background(), dsn, Options{ReadOnly: ro})
		if err == nil || !strings.Contains(err.Error(), `schema version "2"`) {
			t.Fatalf("Open (read-only %v) of schema version 2: %v", ro, err)
		}
	}
	// other tables beside it
	other := open(t, dsn, Options{Table: "scans"})
	if err := other.Update(func(tx kv.Txn) error { return tx.Set([]byte("k"), []byte("scans")) }); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	for _, dsn := range []string{"postgres://u:secretpw@[::1", "host=x port=notaport password=secretpw"} {
		_, err := Open(context.Background(), dsn, Options{})
		if err == nil || strings.Contains(err.Error(), "secretpw") {
			t.Fatalf("Open(%q): %v; want an error that does not echo the password", dsn, err)
		}
	}
	for _, name := range []string{"", "KV", "kv; DROP TABLE x", "1kv", strings.Repeat("a", 60)} {
		if _, err := Open(context.Background(), "postgres://127.0.0.1:1/x", Options{Table: name}); err == nil || !strings.Contains(err.Error(), "table name") {
			if name != "" {
				t.Fatalf("Open with table %q: %v, want a table-name error", name, err)
			}
		}
	}
	s := open(t, pgtest.NewDatabase(t), Options{})
	tx := s.Begin()
	defer tx.Discard()
	if err := tx.Set(make([]byte, MaxKeySize+1), []byte("v")); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("Set of a %d-byte key: %v, want ErrKeyTooLong", MaxKeySize+1, err)
	}
	long := make([]byte, MaxKeySize) // random: the index cannot compress it
	rand.New(rand.NewSource(1)).Read(long)
	if err := tx.Set(long, []byte("v")); err != nil {
		t.Fatalf("Set of a %d-byte key: %v", MaxKeySize, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit of a %d-byte key: %v", MaxKeySize, err)
	}
	if err := tx.Commit(); err == nil {
		t.Fatal("a second Commit succeeded")
	}
}
