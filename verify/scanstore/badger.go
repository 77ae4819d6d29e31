package scanstore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Memory sizes the Badger database of a scan store. The zero value of each field takes the
// default below, sized for a service: resident memory stays near
// NumMemtables×MemTableSize + BlockCacheSize + IndexCacheSize plus Badger's fixed overhead.
type Memory struct {
	MemTableSize     int64 // bytes of one memtable (and of its write-ahead file); default 8 MiB
	NumMemtables     int   // memtables held at once, the one written and those being flushed; default 3
	BlockCacheSize   int64 // cache of decompressed table blocks; default 16 MiB
	IndexCacheSize   int64 // cache of table indexes and bloom filters; default 16 MiB
	ValueLogFileSize int64 // bytes of one value-log file (mapped at twice this); default 16 MiB
}

// Defaults of Memory.
const (
	DefaultMemTableSize     = 8 << 20
	DefaultNumMemtables     = 3
	DefaultBlockCacheSize   = 16 << 20
	DefaultIndexCacheSize   = 16 << 20
	DefaultValueLogFileSize = 16 << 20
)

func (m *Memory) defaults() {
	if m.MemTableSize <= 0 {
		m.MemTableSize = DefaultMemTableSize
	}
	if m.NumMemtables <= 0 {
		m.NumMemtables = DefaultNumMemtables
	}
	if m.BlockCacheSize <= 0 {
		m.BlockCacheSize = DefaultBlockCacheSize
	}
	if m.IndexCacheSize <= 0 {
		m.IndexCacheSize = DefaultIndexCacheSize
	}
	if m.ValueLogFileSize <= 0 {
		m.ValueLogFileSize = DefaultValueLogFileSize
	}
}

// Allocation is the most disk space the database can take at once beyond what statfs shows
// as used: Badger maps its write-ahead files (twice the memtable size each) and value-log
// files (twice their size) at their full size and fills them later (sparse files), so a
// free-space watermark must stay above this.
func (m Memory) Allocation() int64 {
	m.defaults()
	return int64(m.NumMemtables+1)*2*m.MemTableSize + 2*m.ValueLogFileSize
}

// Options configure a Badger store.
type Options struct {
	Key []byte // HMAC key for client IPs; random when empty (hashes then differ across restarts)
	// Retention is how long per-scan rows are kept (default 180 days; negative: forever). The
	// per-unit counts are kept regardless.
	Retention time.Duration
	// Window is the window within which one client's repeated scans of a unit count once
	// (default DefaultWindow, 24 hours).
	Window   time.Duration
	Queue    int // bound of waiting scans (default 8192)
	MaxBatch int // scans per transaction (default 512)
	// Linger is how long the writer waits for more scans before committing a batch smaller
	// than MaxBatch (default 0: commit at once; the batch is what queued during the previous
	// commit). Fewer, larger commits cost fewer syncs but add latency.
	Linger time.Duration
	// SyncEvery is what a power loss or an OS crash may lose. A scan is answered once its group
	// is committed to Badger, before any fsync: its write-ahead file's pages are then in the OS
	// page cache, so a crash of the process (kill -9, a panic) loses nothing answered. A
	// background fsync runs every SyncEvery/2, and no scan is answered while one answered more
	// than SyncEvery ago is not yet fsynced (the writer then waits for the fsync), so a power
	// loss loses at most the scans answered within one SyncEvery. Default DefaultSyncEvery;
	// negative: each group is answered only after its own fsync (Badger's SyncWrites).
	SyncEvery time.Duration
	Memory    Memory
	InMemory  bool // no directory: for tests
	Logger    *slog.Logger
}

const (
	// tableSize is the size of every table compactions write (Badger's default 2 MiB, doubling
	// per level, builds tables of 8-32 MiB at the bottom levels of a large store, a dozen at
	// once in buffers twice their size: hundreds of MB while a compaction runs).
	tableSize      = 1 << 20
	defaultQueue   = 8192
	defaultMaxScan = 512
	prefix         = 'q'
)

// DefaultSyncEvery is the default Options.SyncEvery: a power loss loses at most the scans
// answered in the last 25 ms.
const DefaultSyncEvery = 25 * time.Millisecond

// Badger is the scan store on a Badger database of its own. Writes go through one writer that
// commits many scans per transaction (group commit) from a bounded queue; past the queue's
// bound Record fails at once with ErrPushback. Groups are committed and answered in order, each
// scan with the unit's exact counts including it; they reach the disk by a background fsync
// (Options.SyncEvery: what a power loss may lose). Scan rows carry a Badger TTL (ExpiresAt =
// scan time + retention); Badger stops returning them then and drops them at compaction.
type Badger struct {
	db        *badger.DB
	dir       string        // "" in memory
	syncEvery time.Duration // < 0: Badger syncs each commit
	// The background fsync: the writer kicks it after each commit; committed is the writer's
	// count of groups, synced (under syncMu) the groups a finished fsync covered, syncErr the
	// last fsync's error, and syncEnd is closed when the fsync in progress ends.
	committed atomic.Uint64
	kick      chan struct{}
	syncMu    sync.Mutex
	synced    uint64
	syncErr   error
	syncEnd   chan struct{}
	stopSync  chan struct{}
	syncDone  chan struct{}
	unsynced  []answered // the writer's groups answered since the last fsync it saw, oldest first
	key       []byte
	retention time.Duration
	window    time.Duration
	queue     chan *scanReq
	maxBatch  int
	linger    time.Duration
	log       *slog.Logger
	// the writer's own, reused from commit to commit: the IP hash's HMAC, its input and sum,
	// the group's units and answers
	mac      hash.Hash
	macIn    []byte
	macSum   []byte
	units    map[string]*Stats
	results  []Stats
	failed   atomic.Pointer[error] // the last commit's error; nil after a good commit
	syncFail atomic.Pointer[error] // the last background fsync's error; nil after a good one
	commits  commitCounters

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	done   chan struct{}
}

type scanReq struct {
	s   Scan
	res chan scanRes
}

type scanRes struct {
	st  Stats
	err error
}

// Open opens (creating it if need be) the scan store in dir.
func Open(dir string, o Options) (*Badger, error) {
	o.Memory.defaults()
	m := o.Memory
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if !o.InMemory {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("scan store: %w", err)
		}
	}
	if o.SyncEvery == 0 {
		o.SyncEvery = DefaultSyncEvery
	}
	if !o.InMemory {
		if err := dropEmptyWAL(dir, o.Logger); err != nil {
			return nil, fmt.Errorf("scan store: %w", err)
		}
	}
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(o.SyncEvery < 0).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{o.Logger}).
		WithMemTableSize(m.MemTableSize).
		WithNumMemtables(m.NumMemtables).
		WithNumLevelZeroTables(min(m.NumMemtables+1, 5)).
		WithNumLevelZeroTablesStall(10).
		WithBlockCacheSize(m.BlockCacheSize).
		WithIndexCacheSize(m.IndexCacheSize).
		WithValueLogFileSize(m.ValueLogFileSize).
		WithBaseTableSize(tableSize).
		WithValueThreshold(4 << 10). // every value of the store is far smaller: all stay in the LSM tree
		WithNumCompactors(2).
		WithNumGoroutines(2).
		// No block compression: a compaction's table builders then hold one buffer per block
		// instead of two (the soak's memory peaks were those buffers), and reads need no
		// decompression. Scan rows are small binary values that Snappy shrank by about a third.
		WithCompression(options.None)
	bo.TableSizeMultiplier = 1 // (no With method)
	if o.InMemory {
		bo = bo.WithDir("").WithValueDir("").WithInMemory(true)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("scan store: open %s: %w", dir, err)
	}
	if o.InMemory {
		dir = ""
	} else if o.SyncEvery > 0 {
		s := &Badger{dir: dir}
		if err := s.syncFiles(); err != nil { // the files Open created: their size durable before any scan
			db.Close()
			return nil, fmt.Errorf("scan store: sync %s: %w", dir, err)
		}
	}
	return start(db, dir, o), nil
}

func start(db *badger.DB, dir string, o Options) *Badger {
	if len(o.Key) == 0 {
		o.Key = make([]byte, 32)
		rand.Read(o.Key)
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
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
	if o.SyncEvery == 0 {
		o.SyncEvery = DefaultSyncEvery
	}
	s := &Badger{db: db, dir: dir, syncEvery: o.SyncEvery, key: o.Key, retention: o.Retention, window: o.Window,
		queue: make(chan *scanReq, o.Queue), maxBatch: o.MaxBatch, linger: o.Linger, log: o.Logger, done: make(chan struct{}),
		kick: make(chan struct{}, 1), syncEnd: make(chan struct{}), stopSync: make(chan struct{}), syncDone: make(chan struct{}),
		mac: hmac.New(sha256.New, o.Key), units: map[string]*Stats{}}
	if s.syncEvery > 0 {
		go s.syncLoop()
	} else {
		close(s.syncDone)
	}
	go s.run()
	return s
}

var resPool = sync.Pool{New: func() any { return make(chan scanRes, 1) }}

// Record implements Store.
func (s *Badger) Record(ctx context.Context, sc Scan) (Stats, error) {
	r := &scanReq{s: sc, res: resPool.Get().(chan scanRes)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return Stats{}, ErrClosed
	}
	select {
	case s.queue <- r:
	default:
		s.mu.RUnlock()
		return Stats{}, ErrPushback
	}
	s.mu.RUnlock()
	select {
	case res := <-r.res:
		resPool.Put(r.res)
		return res.st, res.err
	case <-ctx.Done():
		return Stats{}, ctx.Err() // the scan is still recorded; r.res is left to the GC
	}
}

// Stats implements Store.
func (s *Badger) Stats(_ context.Context, batch string, serial uint64) (Stats, error) {
	var st Stats
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(unitKey(batch, serial))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(st.UnmarshalBinary)
	})
	if err != nil {
		return Stats{}, fmt.Errorf("read scan stats: %w", err)
	}
	return st, nil
}

// Health implements Store: an error when the store is closed or its last commit or background
// fsync failed.
func (s *Badger) Health(context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed || s.db.IsClosed() {
		return ErrClosed
	}
	if p := s.syncFail.Load(); p != nil {
		return fmt.Errorf("scan store: last fsync failed: %w", *p)
	}
	if p := s.failed.Load(); p != nil {
		return fmt.Errorf("scan store: last commit failed: %w", *p)
	}
	return nil
}

// Close records the scans already queued, stops the writer and closes the database.
func (s *Badger) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.done
	if s.syncEvery > 0 {
		close(s.stopSync)
		<-s.syncDone
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("scan store: close: %w", err)
	}
	return nil
}

// HashIP is the keyed hash of a client IP that the store keeps instead of the IP.
func (s *Badger) HashIP(ip string) [16]byte { return HashIP(s.key, ip) }

// hashIP is HashIP for the writer, with its own HMAC (no allocation).
func (s *Badger) hashIP(ip string) [16]byte {
	s.mac.Reset()
	s.macIn = append(s.macIn[:0], ip...)
	s.mac.Write(s.macIn)
	s.macSum = s.mac.Sum(s.macSum[:0])
	var h [16]byte
	copy(h[:], s.macSum)
	return h
}

func (s *Badger) run() {
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

// Commits are what a Badger store's writer and its background fsync did since Open.
type Commits struct {
	Groups     int64         // transactions committed (groups of scans)
	Scans      int64         // scans in them
	CommitTime time.Duration // time spent writing and committing the groups (with SyncEvery < 0, their fsyncs)
	Syncs      int64         // background fsyncs
	SyncTime   time.Duration // their time
	Waits      int64         // groups held back until an fsync because one answered SyncEvery ago was not yet synced
}

type commitCounters struct {
	groups, scans, nanos, syncs, syncNanos, waits atomic.Int64
}

// Commits returns what the writer did since Open (for benchmarks and metrics).
func (s *Badger) Commits() Commits {
	c := &s.commits
	return Commits{Groups: c.groups.Load(), Scans: c.scans.Load(), CommitTime: time.Duration(c.nanos.Load()),
		Syncs: c.syncs.Load(), SyncTime: time.Duration(c.syncNanos.Load()), Waits: c.waits.Load()}
}

// answered is a group answered before its fsync: its number and when.
type answered struct {
	seq uint64
	at  time.Time
}

// bound runs in the writer after a group's commit, before it is answered: it holds the group
// back while a group answered more than SyncEvery ago is not yet fsynced (waiting for the
// background fsync), then kicks that fsync. An error is the failed fsync's: the group is then
// answered as not recorded (it may still be counted: an overcount, never a loss).
func (s *Badger) bound() error {
	seq := s.committed.Add(1)
	now := time.Now()
	for waited := false; len(s.unsynced) > 0; {
		s.syncMu.Lock()
		synced, serr, end := s.synced, s.syncErr, s.syncEnd
		s.syncMu.Unlock()
		i := 0
		for i < len(s.unsynced) && s.unsynced[i].seq <= synced {
			i++
		}
		s.unsynced = s.unsynced[i:]
		if len(s.unsynced) == 0 || now.Sub(s.unsynced[0].at) < s.syncEvery {
			break
		}
		if waited && serr != nil {
			return fmt.Errorf("record scan: %w", serr)
		}
		if !waited {
			s.commits.waits.Add(1)
		}
		s.kickSync()
		<-end
		waited, now = true, time.Now()
	}
	s.kickSync()
	s.unsynced = append(s.unsynced, answered{seq, now})
	return nil
}

func (s *Badger) kickSync() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// syncLoop is the background fsync: after a kick, it syncs what the writer committed, at most
// once per SyncEvery/2.
func (s *Badger) syncLoop() {
	defer close(s.syncDone)
	every := s.syncEvery / 2
	t := time.NewTimer(every)
	t.Stop()
	for {
		select {
		case <-s.kick:
		case <-s.stopSync:
			return
		}
		t0 := time.Now()
		s.syncOnce()
		if d := every - time.Since(t0); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-s.stopSync:
				return
			}
		}
	}
}

func (s *Badger) syncOnce() {
	target := s.committed.Load()
	t0 := time.Now()
	err := s.syncFiles()
	s.commits.syncs.Add(1)
	s.commits.syncNanos.Add(int64(time.Since(t0)))
	s.syncMu.Lock()
	if err == nil {
		s.synced = target
	}
	s.syncErr = err
	close(s.syncEnd)
	s.syncEnd = make(chan struct{})
	s.syncMu.Unlock()
	if err != nil {
		s.log.Error("scan store: fsync", "err", err)
		err = fmt.Errorf("sync scans: %w", err)
		s.syncFail.Store(&err)
	} else if s.syncFail.Load() != nil {
		s.syncFail.Store(nil)
	}
}

// dropEmptyWAL removes the empty write-ahead (*.mem) and value-log (*.vlog) files of dir.
// Badger creates such a file when it starts a memtable (or at Open, a value log) and only the
// fsync after makes its size durable; a power cut in between leaves it empty, and Badger then
// refuses to open the database. An empty file holds nothing: what was written to it had not
// been fsynced, within the bound of SyncEvery.
func dropEmptyWAL(dir string, log *slog.Logger) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if n := e.Name(); !strings.HasSuffix(n, ".mem") && !strings.HasSuffix(n, ".vlog") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			log.Warn("scan store: removing an empty log file (a power cut right after it was created)", "file", e.Name())
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncFiles fsyncs the store's write-ahead files (*.mem), value-log files (*.vlog) and
// directory. Badger's DB.Sync syncs only the current memtable's write-ahead file, but the one
// it just replaced, still waiting for its flush to a table, holds scans answered before.
func (s *Badger) syncFiles() error {
	if s.dir == "" {
		return nil
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".mem") || strings.HasSuffix(n, ".vlog") {
			f, err := os.Open(filepath.Join(s.dir, n))
			if errors.Is(err, fs.ErrNotExist) {
				continue // flushed and removed meanwhile
			} else if err != nil {
				return err
			}
			err = f.Sync()
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// commit writes a batch of scans in one transaction (more if it grows too big) and answers
// every request of the batch.
func (s *Badger) commit(batch []*scanReq) {
	t0 := time.Now()
	stats := s.units
	clear(stats)
	if cap(s.results) < len(batch) {
		s.results = make([]Stats, len(batch))
	}
	results := s.results[:len(batch)]
	txn := s.db.NewTransaction(true)
	var err error
	for i, r := range batch {
		uk := unitKey(r.s.Batch, r.s.Serial)
		st, ok := stats[string(uk)]
		if !ok {
			st = new(Stats)
			var item *badger.Item
			item, err = txn.Get(uk)
			if err == nil {
				err = item.Value(st.UnmarshalBinary)
			} else if errors.Is(err, badger.ErrKeyNotFound) {
				err = nil
			}
			if err != nil {
				break
			}
			stats[string(uk)] = st
		}
		ip := s.hashIP(r.s.IP)
		var client [8]byte
		if r.s.IP != "" {
			copy(client[:], ip[:])
		}
		st.AddClient(r.s, client, s.window)
		results[i] = st.Clone()
		v, _ := st.MarshalBinary()
		if err = s.setRetry(&txn, badger.NewEntry(uk, v)); err != nil {
			break
		}
		e := badger.NewEntry(scanKey(uk, st.Count), scanValue(r.s, ip))
		if s.retention > 0 {
			e.ExpiresAt = expiry(r.s.Time, s.retention)
		}
		if err = s.setRetry(&txn, e); err != nil {
			break
		}
	}
	if err == nil {
		err = txn.Commit()
	} else {
		txn.Discard()
	}
	s.commits.groups.Add(1)
	s.commits.scans.Add(int64(len(batch)))
	s.commits.nanos.Add(int64(time.Since(t0)))
	if err != nil {
		s.log.Error("scan store: commit", "scans", len(batch), "err", err)
		err = fmt.Errorf("record scan: %w", err)
		s.failed.Store(&err)
	} else if s.syncEvery > 0 {
		err = s.bound()
	}
	if err == nil && s.failed.Load() != nil {
		s.failed.Store(nil)
	}
	for i, r := range batch {
		r.res <- scanRes{st: results[i], err: err}
		results[i] = Stats{} // the answer is the caller's: the writer keeps no reference to it
	}
}

// expiry is the Badger ExpiresAt (Unix seconds) of a row written at t: t + retention, rounded up.
func expiry(t time.Time, retention time.Duration) uint64 {
	return uint64(t.Add(retention + time.Second - 1).Unix())
}

// setRetry sets an entry, committing and starting a new transaction when the current one is full.
func (s *Badger) setRetry(txn **badger.Txn, e *badger.Entry) error {
	err := (*txn).SetEntry(e)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err := (*txn).Commit(); err != nil {
			return err
		}
		// the store's single writer is the only one writing: no conflicts to fear
		*txn = s.db.NewTransaction(true)
		err = (*txn).SetEntry(e) // the full transaction did not take e
	}
	return err
}

func unitKey(batch string, serial uint64) []byte {
	if len(batch) > 255 {
		batch = batch[:255]
	}
	k := make([]byte, 0, 3+len(batch)+8)
	k = append(k, prefix, 'u', byte(len(batch)))
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
	r := sc.Region
	if len(r) > 255 {
		r = r[:255]
	}
	v := make([]byte, 0, 8+16+1+len(r))
	v = binary.BigEndian.AppendUint64(v, uint64(sc.Time.UnixNano()))
	v = append(v, ip[:]...)
	v = append(v, byte(len(r)))
	return append(v, r...)
}

// scanTime is the time of a scan row's value.
func scanTime(v []byte) (time.Time, bool) {
	if len(v) < 8+16+1 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(fmt.Sprintf("scan store: badger: "+f, a...))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(fmt.Sprintf("scan store: badger: "+f, a...))
}
func (b badgerLogger) Infof(string, ...any)  {}
func (b badgerLogger) Debugf(string, ...any) {}
