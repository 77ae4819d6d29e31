package pgkv

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
)

// pool is a small connection pool: at most max connections, idle ones kept for reuse. (pgxpool
// would do; this keeps the module's dependencies as they are, and a transaction here holds its
// connection from its first statement to its end anyway.)
type pool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{} // one token per connection that may be open
	mu    sync.Mutex
	idle  []*pgx.Conn
	done  bool
}

var errClosed = errors.New("pgkv: store is closed")

func newPool(cfg *pgx.ConnConfig, max int) *pool {
	return &pool{cfg: cfg, slots: make(chan struct{}, max)}
}

// acquire returns an idle connection or opens a new one, waiting while max are in use.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		<-p.slots
		return nil, errClosed
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// release gives c back; a connection that is closed, busy or inside a transaction is closed
// instead of reused.
func (p *pool) release(c *pgx.Conn) {
	defer func() { <-p.slots }()
	if c.IsClosed() || c.PgConn().IsBusy() || c.PgConn().TxStatus() != 'I' {
		_ = c.Close(context.Background())
		return
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		_ = c.Close(context.Background())
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// discard closes c instead of reusing it.
func (p *pool) discard(c *pgx.Conn) {
	_ = c.Close(context.Background())
	<-p.slots
}

func (p *pool) close() {
	p.mu.Lock()
	p.done = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.Close(context.Background())
	}
}
