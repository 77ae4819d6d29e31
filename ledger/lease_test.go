package ledger

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/internal/pgtest"
)

// markProxy forwards TCP between a store and its server and, when armed with a marker, cuts the
// connection at the first transfer from the store that contains it: after forwarding it (the
// server runs it, its answer is lost) or before (the server never sees it).
type markProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	marker []byte
	after  bool
	cuts   atomic.Int32
	wg     sync.WaitGroup
}

func newMarkProxy(t *testing.T, target string) *markProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &markProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			var swallow atomic.Bool // set at the cut: the server's answers go nowhere
			p.wg.Add(2)
			go func() { // store -> server
				defer p.wg.Done()
				defer c.Close()
				defer s.Close()
				buf := make([]byte, 1<<20)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					p.mu.Lock()
					hit := p.marker != nil && bytes.Contains(buf[:n], p.marker)
					after := p.after
					if hit {
						p.marker = nil
					}
					p.mu.Unlock()
					if hit {
						p.cuts.Add(1)
						swallow.Store(true)
						if after {
							s.Write(buf[:n])
							time.Sleep(300 * time.Millisecond) // the server commits; its answer goes nowhere
						}
						return
					}
					if _, err := s.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
			go func() { // server -> store
				defer p.wg.Done()
				buf := make([]byte, 1<<20)
				for {
					n, err := s.Read(buf)
					if err != nil {
						c.Close()
						return
					}
					if swallow.Load() {
						continue
					}
					if _, err := c.Write(buf[:n]); err != nil {
						s.Close()
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *markProxy) arm(marker []byte, after bool) {
	p.mu.Lock()
	p.marker, p.after = marker, after
	p.mu.Unlock()
}

// pgLog opens a log on a fresh PostgreSQL database reached through a markProxy, fenced by a
// writer lease as serve --store opens it.
func pgLog(t *testing.T) (*Log, *markProxy, *pgkv.Store) {
	t.Helper()
	pgtest.Need(t)
	srv, err := pgtest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	dsn := srv.DSN("postgres")
	host := dsn[strings.Index(dsn, "@")+1 : strings.LastIndex(dsn, "/")]
	p := newMarkProxy(t, host)
	ctx := context.Background()
	st, err := pgkv.Open(ctx, strings.Replace(dsn, host, p.ln.Addr().String(), 1), pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	epoch, err := st.Acquire(ctx, "writer", "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	fenced := st.Fenced("writer", epoch)
	opts := testOptions(t, "")
	opts.CheckpointLock = StoreLock{Store: fenced}
	l, err := OpenStore(fenced, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, p, st
}

// TestCommitUnknownResolved: a group commit whose connection is cut during COMMIT (pgkv reports
// ErrCommitUnknown) is settled by re-reading the log: when the server committed it, the append
// is acknowledged with the record's receipt and the log goes on; when it did not, the append
// fails and nothing of it is in the log (and the log stops, to be reopened).
func TestCommitUnknownResolved(t *testing.T) {
	l, p, _ := pgLog(t)
	ctx := context.Background()
	chain := uuid.New()
	for i := range 5 {
		if _, err := l.Append(ctx, Entry{Chain: chain, Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// cut after the commit reached the server: it committed
	marker := []byte(`{"n":"committed-but-unanswered"}`)
	p.arm(marker, true)
	rc, err := l.Append(ctx, Entry{Chain: chain, Payload: marker})
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections, want 1", p.cuts.Load())
	}
	if err != nil {
		t.Fatalf("an append whose commit happened but whose answer was lost failed: %v", err)
	}
	rec, err := l.Record(rc.Index)
	if err != nil || rec.Hash() != rc.Hash || !bytes.Equal(rec.Payload, marker) {
		t.Fatalf("the receipt is not the stored record: %v", err)
	}
	if _, err := l.Append(ctx, Entry{Chain: chain, Payload: payload(6)}); err != nil {
		t.Fatalf("the log stopped after a resolved commit: %v", err)
	}
	if _, err := l.SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	size := l.Size()

	// cut before the commit reached the server: nothing was written
	marker = []byte(`{"n":"never-sent"}`)
	p.arm(marker, false)
	_, err = l.Append(ctx, Entry{Chain: chain, Payload: marker})
	if p.cuts.Load() != 2 {
		t.Fatalf("the proxy cut %d connections, want 2", p.cuts.Load())
	}
	if err == nil {
		t.Fatalf("an append whose commit never reached the server was acknowledged")
	}
	if !errors.Is(err, errNotCommitted) {
		t.Errorf("the refusal does not say the re-read found nothing written: %v", err)
	}
	if _, err := l.Record(size); err == nil {
		t.Errorf("a record exists past the acknowledged size %d", size)
	}
	if n := l.Size(); n != size {
		t.Errorf("size %d after a failed commit, want %d", n, size)
	}
}
