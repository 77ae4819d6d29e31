package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/santong-cn/santong/internal/kv/pgkv"
	"github.com/santong-cn/santong/ledger"
)

// serve --store: an instance is either the writer (it holds the writer lease, storelease.go) or
// a standby. A standby answers every request but /healthz with 503 "unavailable", the holder's
// address in the X-Santong-Writer header and the JSON field "writer" (it does not forward), and
// tries to take the lease every TTL/5: when the holder dies (or stops renewing), the lease
// expires after at most the TTL and a standby takes over. The writer serves everything, and
// fail-stops when it loses the lease: its fenced store refuses every write at once, the service
// drains (/readyz 503) and the process exits with an error, to be restarted as a standby.

// writerHeader carries the lease holder's address in a standby's answers.
const writerHeader = ledger.WriterHeader

// awaitLease serves as a standby on ln until this instance holds the writer lease (or ctx ends:
// done). It returns the context the service runs in (cancelled when the lease is lost), the
// listener the service takes over, and stop, to call when the service has ended: it reports the
// lost lease as the error.
func (c *cli) awaitLease(ctx context.Context, ln net.Listener, base string, ttl time.Duration) (sctx context.Context, sln net.Listener, stop func() error, done bool, err error) {
	if err := checkStoreURL(c.store); err != nil {
		return nil, nil, nil, false, err
	}
	if ttl < 300*time.Millisecond {
		return nil, nil, nil, false, usagef("--lease-ttl must be at least 300ms")
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// A writer paused inside a transaction holds the lease row FOR SHARE, and the next holder's
	// Acquire waits for it: the server ends such a session once it has been idle for the
	// lease's TTL, by when the paused writer has lost the lease anyway (without it, a pause
	// cost pgkv's default of 60 s without a writer).
	c.storeIdle = ttl
	var id [6]byte
	rand.Read(id[:])
	holder := base + "#" + hex.EncodeToString(id[:])
	h := newHandoff(ln)
	var writer atomic.Value // the holder's address, for the standby's answers
	writer.Store("")
	standby := &http.Server{Handler: standbyHandler(func() string { return writer.Load().(string) }), ReadHeaderTimeout: 10 * time.Second}
	sv := h.view()
	served := make(chan struct{})
	go func() { defer close(served); _ = standby.Serve(sv) }()
	endStandby := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = standby.Shutdown(sctx)
		cancel()
		<-served
	}
	// The standby answers while it waits for the store too (a cluster without a primary at
	// this moment, during a failover): a supervisor need not restart it in a loop.
	st, err := c.waitStore(ctx, logger, ttl)
	if err != nil || st == nil {
		endStandby()
		return nil, nil, nil, st == nil && err == nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	poll := ttl / 5
	announced := ""
	for {
		lease, err := acquireLease(ctx, st, holder, ttl, logger, func(error) { cancel() })
		var held *pgkv.HeldError
		switch {
		case err == nil:
			endStandby()
			logger.Info("writer lease acquired: this instance is the writer", "holder", holder, "epoch", lease.epoch, "ttl", ttl)
			c.lease = lease
			return sctx, h.view(), func() error { cancel(); lease.release(); return lease.Err() }, false, nil
		case errors.As(err, &held):
			if a := holderAddr(held.Lease.Holder); a != announced {
				announced = a
				writer.Store(a)
				logger.Info("standby: the writer lease is held by another instance", "writer", a, "epoch", held.Lease.Epoch)
				fmt.Fprintf(c.stdout, "santong: standby on %s; the writer is %s\n", base, a)
			}
		default:
			logger.Warn("standby: could not try the writer lease", "err", err)
		}
		select {
		case <-ctx.Done():
			endStandby()
			cancel()
			st.Close()
			return nil, nil, nil, true, nil
		case <-time.After(poll):
		}
	}
}

// storeWait bounds how long serve --store waits for its store at start before it gives up.
var storeWait = time.Minute

// waitStore opens the store, trying again with a growing pause while the failure may pass (no
// server accepts a read-write session yet: a failover, a cluster starting) and for at most
// storeWait. A failure that waiting cannot mend (a refused password, a missing database, a
// schema of another version, a malformed URL) is returned at once. A nil store and nil error:
// ctx ended.
func (c *cli) waitStore(ctx context.Context, logger *slog.Logger, ttl time.Duration) (*pgkv.Store, error) {
	deadline := time.Now().Add(storeWait)
	pause := min(ttl/4, 250*time.Millisecond)
	for {
		st, err := c.openStore(ctx, false)
		if err == nil || !transientStoreError(err) || time.Now().Add(pause).After(deadline) {
			return st, err
		}
		logger.Warn("standby: the store is not reachable yet; trying again", "in", pause, "err", err)
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// transientStoreError says whether waiting may mend a failure to open the store: a connection
// that failed, or found only a read-only server, may succeed later; the server's refusals of the
// user or the database, a malformed URL and the schema checks will not.
func transientStoreError(err error) bool {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "28", "3D", "42": // authorisation, missing database, privileges
			return false
		}
	}
	return true
}

// standbyHandler answers a standby's requests.
func standbyHandler(writer func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := writer()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/healthz" {
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "standby", "writer": addr})
			return
		}
		if addr != "" {
			w.Header().Set(writerHeader, addr)
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		msg := "this instance is a standby; the writer is " + addr + ": send the request there"
		if addr == "" {
			msg = "this instance is a standby and no writer holds the lease now: retry shortly"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error":  map[string]string{"code": "unavailable", "message": msg, "field": ""},
			"writer": addr,
		})
	})
}

// handoff lets one listening socket pass from the standby's server to the service's: each
// takes connections from a view, and closing a view (as http.Server.Shutdown does) leaves the
// socket open for the next.
type handoff struct {
	ln    net.Listener
	conns chan net.Conn
	ended chan struct{} // closed when the socket's Accept failed (it was closed)
}

func newHandoff(ln net.Listener) *handoff {
	h := &handoff{ln: ln, conns: make(chan net.Conn), ended: make(chan struct{})}
	go func() {
		defer close(h.ended)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case h.conns <- c:
			case <-time.After(30 * time.Second): // nobody serves: drop it
				c.Close()
			}
		}
	}()
	return h
}

func (h *handoff) view() net.Listener { return &handoffView{h: h, closed: make(chan struct{})} }

type handoffView struct {
	h      *handoff
	once   sync.Once
	closed chan struct{}
}

func (v *handoffView) Accept() (net.Conn, error) {
	select {
	case c := <-v.h.conns:
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.h.ended:
		return nil, net.ErrClosed
	}
}

func (v *handoffView) Close() error   { v.once.Do(func() { close(v.closed) }); return nil }
func (v *handoffView) Addr() net.Addr { return v.h.ln.Addr() }
