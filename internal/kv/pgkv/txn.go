package pgkv

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/kv"
)

// write is one buffered write: a value, or a delete.
type write struct {
	v   []byte
	del bool
}

// txn is a View (readOnly) or a read-write transaction. It is not safe for concurrent use.
type txn struct {
	s        *Store
	readOnly bool
	fence    *fence
	after    *slot     // the last CommitAsync before this transaction: its first read waits for it
	conn     *pgx.Conn // held from the first read to the end
	err      error     // a failure that leaves the transaction only to be discarded
	writes   map[string]write
	sorted   []string // the keys of writes in order; nil when stale
	count    int64
	size     int64
	finished bool
	reads    readSet // what the server answered, for the validated retry (retry.go)
}

func (s *Store) newTxn(readOnly bool, fc *fence) *txn {
	s.mu.Lock()
	after := s.tail
	s.mu.Unlock()
	return &txn{s: s, readOnly: readOnly, fence: fc, after: after, reads: readSet{off: readOnly}}
}

var errFinished = errors.New("pgkv: transaction already committed or discarded")

// begin takes a connection and opens the server transaction, sending first (a query) in the
// same round trip; it returns first's results, which the caller must close.
func (t *txn) begin(ctx context.Context, first func(b *pgx.Batch)) (pgx.BatchResults, error) {
	if t.after != nil {
		select {
		case <-t.after.committed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for attempt := 0; ; attempt++ {
		c, err := t.s.pool.acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("pgkv: connect: %w", err)
		}
		b := &pgx.Batch{}
		if t.readOnly {
			b.Queue(beginRO)
		} else {
			b.Queue(beginRW)
		}
		if t.fence != nil {
			b.Queue(t.s.q.fence, t.fence.name, t.fence.epoch)
		}
		first(b)
		br := c.SendBatch(ctx, b)
		_, err = br.Exec()
		if err == nil && t.fence != nil {
			_, err = br.Exec()
			if err != nil {
				err = fenceError(err)
			}
		}
		if err == nil {
			t.conn = c
			return br, nil
		}
		br.Close()
		t.s.rollback(c)
		// nothing was read yet: a connection that died idle, or a lease renewed at this
		// moment (the fence's row changed under the snapshot), is retried
		if attempt < 3 && (isConflict(err) || isSafeToRetry(err)) {
			continue
		}
		return nil, t.fail(err)
	}
}

// fail records err as the transaction's failure and returns it.
func (t *txn) fail(err error) error {
	if t.err == nil {
		t.err = mapErr(err)
	}
	return t.err
}

func (t *txn) check(k []byte) error {
	if t.finished {
		return errFinished
	}
	if t.err != nil {
		return t.err
	}
	if len(k) == 0 {
		return ErrEmptyKey
	}
	return nil
}

// Get returns a copy of the value of k, or kv.ErrNotFound.
func (t *txn) Get(k []byte) ([]byte, error) {
	if err := t.check(k); err != nil {
		return nil, err
	}
	if w, ok := t.writes[string(k)]; ok {
		if w.del {
			return nil, kv.ErrNotFound
		}
		return append([]byte{}, w.v...), nil
	}
	ctx, cancel := t.s.opCtx()
	defer cancel()
	var v []byte
	var err error
	if t.conn == nil {
		var br pgx.BatchResults
		br, err = t.begin(ctx, func(b *pgx.Batch) { b.Queue(t.s.q.get, k) })
		if err != nil {
			return nil, err
		}
		err = br.QueryRow().Scan(&v)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	} else {
		err = t.conn.QueryRow(ctx, t.s.q.get, k).Scan(&v)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		t.reads.get(k, nil, false)
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, t.fail(fmt.Errorf("pgkv: get: %w", err))
	}
	if v == nil {
		v = []byte{}
	}
	t.reads.get(k, v, true)
	return v, nil
}

// pageRows bounds the rows of one page; pageBytes aims a page of values at about 4 MiB.
const (
	pageRows  = 1000
	firstPage = 64
	pageBytes = 4 << 20
)

type row struct{ k, v []byte }

// Iterate calls f for every key under prefix at or after start, in key order, reading pages
// of rows and merging the transaction's own writes (as they were when Iterate began).
func (t *txn) Iterate(prefix, start []byte, keysOnly bool, f func(k, v []byte) (bool, error)) error {
	if t.finished {
		return errFinished
	}
	if t.err != nil {
		return t.err
	}
	lo, hi := bounds(prefix, start)
	pending := t.pendingIn(lo, hi)
	limit := pageRows
	if !keysOnly {
		limit = firstPage
	}
	from, after := lo, 0
	for {
		rows, err := t.page(from, hi, after, keysOnly, limit)
		if err != nil {
			return err
		}
		last := len(rows) < limit
		// emit the page's rows, and the pending writes before each
		for _, r := range rows {
			for len(pending) > 0 && pending[0] < string(r.k) {
				if ok, err := t.emitPending(pending[0], keysOnly, f); !ok || err != nil {
					return err
				}
				pending = pending[1:]
			}
			if len(pending) > 0 && pending[0] == string(r.k) {
				if ok, err := t.emitPending(pending[0], keysOnly, f); !ok || err != nil {
					return err
				}
				pending = pending[1:]
				continue
			}
			if keysOnly {
				r.v = nil
			} else if r.v == nil {
				r.v = []byte{}
			}
			if ok, err := f(r.k, r.v); !ok || err != nil {
				return err
			}
		}
		if last {
			for _, k := range pending {
				if ok, err := t.emitPending(k, keysOnly, f); !ok || err != nil {
					return err
				}
			}
			return nil
		}
		from, after = rows[len(rows)-1].k, 1
		if !keysOnly {
			var n int
			for _, r := range rows {
				n += len(r.k) + len(r.v)
			}
			limit = pageBytes / (n/len(rows) + 1)
			limit = max(16, min(limit, pageRows))
		}
	}
}

// emitPending calls f for the buffered write of k, skipping deletes.
func (t *txn) emitPending(k string, keysOnly bool, f func(k, v []byte) (bool, error)) (bool, error) {
	w := t.writes[k]
	if w.del {
		return true, nil
	}
	var v []byte
	if !keysOnly {
		v = append([]byte{}, w.v...)
	}
	return f([]byte(k), v)
}

// pendingIn returns the keys of the buffered writes in [lo, hi), in order.
func (t *txn) pendingIn(lo, hi []byte) []string {
	if len(t.writes) == 0 {
		return nil
	}
	if t.sorted == nil {
		t.sorted = make([]string, 0, len(t.writes))
		for k := range t.writes {
			t.sorted = append(t.sorted, k)
		}
		sort.Strings(t.sorted)
	}
	i := sort.SearchStrings(t.sorted, string(lo))
	j := len(t.sorted)
	if hi != nil {
		j = sort.SearchStrings(t.sorted, string(hi))
	}
	if i >= j {
		return nil
	}
	return append([]string{}, t.sorted[i:j]...)
}

// page reads up to limit rows from the server, all of them before returning (so that the
// caller's callback may use the connection).
func (t *txn) page(from, hi []byte, after int, keysOnly bool, limit int) ([]row, error) {
	ko := 0
	if keysOnly {
		ko = 1
	}
	args := []any{from}
	bounded := 0
	if hi != nil {
		bounded = 1
		args = append(args, hi)
	}
	args = append(args, limit)
	sql := t.s.q.scan[ko][after][bounded]
	ctx, cancel := t.s.opCtx()
	defer cancel()
	var rs pgx.Rows
	var br pgx.BatchResults
	var err error
	if t.conn == nil {
		br, err = t.begin(ctx, func(b *pgx.Batch) { b.Queue(sql, args...) })
		if err != nil {
			return nil, err
		}
		rs, err = br.Query()
	} else {
		rs, err = t.conn.Query(ctx, sql, args...)
	}
	if err != nil {
		if br != nil {
			br.Close()
		}
		return nil, t.fail(fmt.Errorf("pgkv: iterate: %w", err))
	}
	out := make([]row, 0, min(limit, 256))
	for rs.Next() {
		var r row
		if keysOnly {
			err = rs.Scan(&r.k)
		} else {
			err = rs.Scan(&r.k, &r.v)
		}
		if err != nil {
			break
		}
		out = append(out, r)
	}
	rs.Close()
	if err == nil {
		err = rs.Err()
	}
	if br != nil {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, t.fail(fmt.Errorf("pgkv: iterate: %w", err))
	}
	t.reads.page(sql, args, keysOnly, out)
	return out, nil
}

// Set writes v under k (buffered until the commit).
func (t *txn) Set(k, v []byte) error {
	if v == nil {
		v = []byte{}
	}
	return t.put(k, write{v: v})
}

// Delete removes k (buffered until the commit).
func (t *txn) Delete(k []byte) error { return t.put(k, write{del: true}) }

func (t *txn) put(k []byte, w write) error {
	if err := t.check(k); err != nil {
		return err
	}
	if t.readOnly || t.s.opts.ReadOnly {
		return kv.ErrReadOnly
	}
	if len(k) > MaxKeySize {
		return ErrKeyTooLong
	}
	l := t.s.limits
	count, size := t.count, t.size
	old, replacing := t.writes[string(k)]
	if replacing {
		size -= int64(len(k)+len(old.v)) + l.Overhead
	} else {
		count++
	}
	size += int64(len(k)+len(w.v)) + l.Overhead
	if (l.MaxCount > 0 && count > l.MaxCount) || (l.MaxBytes > 0 && size > l.MaxBytes) {
		return kv.ErrTooBig
	}
	if t.writes == nil {
		t.writes = make(map[string]write)
	}
	if !replacing {
		t.sorted = nil
	}
	t.writes[string(k)] = w
	t.count, t.size = count, size
	return nil
}

// Discard abandons the transaction; after Commit or CommitAsync it does nothing.
func (t *txn) Discard() {
	if t.finished {
		return
	}
	t.finished = true
	t.writes = nil
	if t.conn != nil {
		t.s.rollback(t.conn)
		t.conn = nil
	}
}

// finishView ends a View: its snapshot is released; an error of the server's (a serialization
// failure is impossible in READ ONLY REPEATABLE READ) is reported.
func (t *txn) finishView() error {
	if t.err != nil {
		return t.err
	}
	return nil
}

// rollback ends c's transaction, if any, and gives c back (or closes it when that fails).
func (s *Store) rollback(c *pgx.Conn) {
	if c.PgConn().TxStatus() != 'I' && !c.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		_, err := c.Exec(ctx, "ROLLBACK")
		cancel()
		if err != nil {
			s.pool.discard(c)
			return
		}
	}
	s.pool.release(c)
}
