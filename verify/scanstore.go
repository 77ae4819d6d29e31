package verify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/santong-cn/santong/internal/fault"
)

// Scan counting lives in the log's Badger database under the key prefix 'q' only, outside the
// Merkle log (volume and privacy):
//
//	'q' 'u' len(batch) batch serial(8)             → unit stats: count, first, last, regions
//	'q' 's' len(batch) batch serial(8) seq(8)      → one scan: time, region, HMAC of the client IP
//
// Integers are big-endian. A scan never waits on the log's writer: the store has its own
// single writer that commits many scans per Badger transaction (group commit) from a bounded
// queue; past the queue's bound Record fails at once with a fault.Pushback error.

const (
	scanPrefix     = 'q'
	maxRegions     = 16 // distinct regions remembered per unit
	maxRegionLen   = 32
	defaultQueue   = 8192
	defaultMaxScan = 512
)

// ScanStats are a unit's scan counts.
type ScanStats struct {
	Count   int64     `json:"count"`
	First   time.Time `json:"first,omitzero"`
	Last    time.Time `json:"last,omitzero"`
	Regions []string  `json:"regions,omitempty"` // distinct regions given by clients (at most 16 kept)
}

// ScanCounter records scans. *ScanStore implements it.
type ScanCounter interface {
	// Record records one scan of a unit durably and returns the unit's counts including it.
	Record(ctx context.Context, s Scan) (ScanStats, error)
}

// Scan is one scan to record.
type Scan struct {
	Batch  string
	Serial uint64
	Time   time.Time
	Region string // coarse, as given by the client; "" when unknown
	IP     string // hashed with the store's key before anything is stored; never stored raw
}

// ScanStore is the Badger scan counter.
type ScanStore struct {
	db       *badger.DB
	key      []byte
	queue    chan *scanReq
	maxBatch int
	linger   time.Duration
	log      *slog.Logger

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	done   chan struct{}
}

type scanReq struct {
	s   Scan
	res chan scanRes
}

type scanRes struct {
	st  ScanStats
	err error
}

// ScanOptions configure a ScanStore.
type ScanOptions struct {
	Key      []byte // HMAC key for client IPs; random when empty (hashes then differ across restarts)
	Queue    int    // bound of waiting scans (default 8192)
	MaxBatch int    // scans per transaction (default 512)
	// Linger is how long the writer waits for more scans before committing a batch smaller
	// than MaxBatch (default 0: commit at once; the batch is what queued during the previous
	// commit). Fewer, larger commits cost fewer syncs but add latency.
	Linger time.Duration
	Logger *slog.Logger
}

// OpenScanStore starts a scan store on db. Close stops it; it does not close db.
func OpenScanStore(db *badger.DB, o ScanOptions) *ScanStore {
	if len(o.Key) == 0 {
		o.Key = make([]byte, 32)
		rand.Read(o.Key)
	}
	if o.Queue <= 0 {
		o.Queue = defaultQueue
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = defaultMaxScan
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &ScanStore{db: db, key: o.Key, queue: make(chan *scanReq, o.Queue), maxBatch: o.MaxBatch,
		linger: o.Linger, log: o.Logger, done: make(chan struct{})}
	go s.run()
	return s
}

// ErrScanPushback is returned when the scan queue is full.
var ErrScanPushback = fault.New(fault.Pushback, "too many scans waiting: retry later")

var errScanClosed = fault.New(fault.Pushback, "scan store closed")

var resPool = sync.Pool{New: func() any { return make(chan scanRes, 1) }}

// Record implements ScanCounter.
func (s *ScanStore) Record(ctx context.Context, sc Scan) (ScanStats, error) {
	r := &scanReq{s: sc, res: resPool.Get().(chan scanRes)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ScanStats{}, errScanClosed
	}
	select {
	case s.queue <- r:
	default:
		s.mu.RUnlock()
		return ScanStats{}, ErrScanPushback
	}
	s.mu.RUnlock()
	select {
	case res := <-r.res:
		resPool.Put(r.res)
		return res.st, res.err
	case <-ctx.Done():
		return ScanStats{}, ctx.Err() // the scan is still recorded; r.res is left to the GC
	}
}

// Stats reads a unit's counts.
func (s *ScanStore) Stats(batch string, serial uint64) (ScanStats, error) {
	var st ScanStats
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(unitKey(batch, serial))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return st.unmarshal(v) })
	})
	return st, err
}

// Close records the scans already queued and stops the writer.
func (s *ScanStore) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	<-s.done
	return nil
}

// HashIP is the keyed hash of a client IP that the store keeps instead of the IP.
func (s *ScanStore) HashIP(ip string) [16]byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(ip))
	var h [16]byte
	copy(h[:], m.Sum(nil))
	return h
}

func (s *ScanStore) run() {
	defer close(s.done)
	batch := make([]*scanReq, 0, s.maxBatch)
	var timer *time.Timer
	for r := range s.queue {
		batch = append(batch[:0], r)
		var deadline <-chan time.Time
		if s.linger > 0 {
			if timer == nil {
				timer = time.NewTimer(s.linger)
			} else {
				timer.Reset(s.linger)
			}
			deadline = timer.C
		}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				if deadline == nil {
					break fill
				}
				select {
				case r, ok := <-s.queue:
					if !ok {
						break fill
					}
					batch = append(batch, r)
				case <-deadline:
					deadline = nil
					break fill
				}
			}
		}
		if timer != nil {
			timer.Stop() // Go 1.23+ timers: no stale value to drain after Stop
		}
		s.commit(batch)
	}
}

// commit writes a batch of scans in one transaction (more if it grows too big) and answers
// every request of the batch.
func (s *ScanStore) commit(batch []*scanReq) {
	stats := make(map[string]*ScanStats, len(batch))
	results := make([]ScanStats, len(batch))
	txn := s.db.NewTransaction(true)
	var err error
	for i, r := range batch {
		uk := unitKey(r.s.Batch, r.s.Serial)
		st, ok := stats[string(uk)]
		if !ok {
			st = new(ScanStats)
			var item *badger.Item
			item, err = txn.Get(uk)
			if err == nil {
				err = item.Value(func(v []byte) error { return st.unmarshal(v) })
			} else if errors.Is(err, badger.ErrKeyNotFound) {
				err = nil
			}
			if err != nil {
				break
			}
			stats[string(uk)] = st
		}
		st.add(r.s)
		results[i] = *st
		results[i].Regions = append([]string(nil), st.Regions...)
		ip := s.HashIP(r.s.IP)
		if err = s.setRetry(&txn, uk, st.marshal()); err != nil {
			break
		}
		if err = s.setRetry(&txn, scanKey(uk, st.Count), scanValue(r.s, ip)); err != nil {
			break
		}
	}
	if err == nil {
		err = txn.Commit()
	} else {
		txn.Discard()
	}
	if err != nil {
		s.log.Error("scan store: commit", "scans", len(batch), "err", err)
		err = fmt.Errorf("record scan: %w", err)
	}
	for i, r := range batch {
		r.res <- scanRes{st: results[i], err: err}
	}
}

// setRetry sets a key, committing and starting a new transaction when the current one is full.
func (s *ScanStore) setRetry(txn **badger.Txn, k, v []byte) error {
	err := (*txn).Set(k, v)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err := (*txn).Commit(); err != nil {
			return err
		}
		// the store's single writer is the only one writing 'q' keys: no conflicts to fear
		*txn = s.db.NewTransaction(true)
		err = (*txn).Set(k, v)
	}
	return err
}

func (st *ScanStats) add(sc Scan) {
	st.Count++
	if st.First.IsZero() || sc.Time.Before(st.First) {
		st.First = sc.Time
	}
	if sc.Time.After(st.Last) {
		st.Last = sc.Time
	}
	if sc.Region != "" && len(st.Regions) < maxRegions {
		for _, r := range st.Regions {
			if r == sc.Region {
				return
			}
		}
		st.Regions = append(st.Regions, sc.Region)
	}
}

func unitKey(batch string, serial uint64) []byte {
	if len(batch) > 255 {
		batch = batch[:255]
	}
	k := make([]byte, 0, 3+len(batch)+8)
	k = append(k, scanPrefix, 'u', byte(len(batch)))
	k = append(k, batch...)
	return binary.BigEndian.AppendUint64(k, serial)
}

func scanKey(uk []byte, seq int64) []byte {
	k := make([]byte, 0, len(uk)+8)
	k = append(k, uk...)
	k[1] = 's'
	return binary.BigEndian.AppendUint64(k, uint64(seq))
}

func scanValue(sc Scan, ip [16]byte) []byte {
	v := make([]byte, 0, 8+16+1+len(sc.Region))
	v = binary.BigEndian.AppendUint64(v, uint64(sc.Time.UnixNano()))
	v = append(v, ip[:]...)
	v = append(v, byte(len(sc.Region)))
	return append(v, sc.Region...)
}

func (st *ScanStats) marshal() []byte {
	b := make([]byte, 0, 32)
	b = binary.AppendUvarint(b, uint64(st.Count))
	b = binary.AppendVarint(b, st.First.UnixNano())
	b = binary.AppendVarint(b, st.Last.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(st.Regions)))
	for _, r := range st.Regions {
		b = append(b, byte(len(r)))
		b = append(b, r...)
	}
	return b
}

var errBadStats = errors.New("malformed scan stats")

func (st *ScanStats) unmarshal(b []byte) error {
	c, n := binary.Uvarint(b)
	if n <= 0 {
		return errBadStats
	}
	b = b[n:]
	f, n := binary.Varint(b)
	if n <= 0 {
		return errBadStats
	}
	b = b[n:]
	l, n := binary.Varint(b)
	if n <= 0 {
		return errBadStats
	}
	b = b[n:]
	nr, n := binary.Uvarint(b)
	if n <= 0 || nr > maxRegions {
		return errBadStats
	}
	b = b[n:]
	st.Count, st.First, st.Last = int64(c), time.Unix(0, f).UTC(), time.Unix(0, l).UTC()
	st.Regions = st.Regions[:0]
	for range nr {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return errBadStats
		}
		st.Regions = append(st.Regions, string(b[1:1+b[0]]))
		b = b[1+b[0]:]
	}
	return nil
}
