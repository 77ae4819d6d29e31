// Package scanstore counts scans of printed codes, outside the Merkle log (volume and
// privacy). The verification service sees only the Store interface; this package has its
// Badger implementation (a database of its own, never the ledger's) and TestStore, the one
// conformance test every implementation runs (a PostgreSQL one included).
//
// # What is kept
//
// Per unit (one printed code, named by its batch and serial): the count of scans, the first
// and last scan time, up to 16 distinct client regions, the number of distinct clients that
// scanned it, the scans counted once per client per window (a client's repeated scans within
// the window, default 24 hours, count once) and the last 64 clients seen, each as an 8-byte
// keyed hash of its address with the time its scan was last counted. The clone rule reads
// these; they are bounded in size (at most about 1.5 KB a unit) and kept for as long as the
// store lives.
//
// Per scan: its time, its region and a keyed hash (HMAC-SHA-256 truncated to 16 bytes) of the
// client IP, never the IP. These rows expire after the retention (default 180 days).
//
// # Badger layout
//
//	'q' 'u' len(batch) batch serial(8)             → unit stats (see Stats.MarshalBinary)
//	'q' 's' len(batch) batch serial(8) seq(8)      → one scan: time(8) ip-hash(16) len(region) region
//
// Integers are big-endian; seq is the unit's count at that scan.
//
// # What a crash may lose
//
// The Badger store answers a group of scans once Badger has committed it, before its fsync:
// a crash of the process loses nothing answered (the write-ahead file's pages are in the OS
// page cache). A background fsync runs every SyncEvery/2 and no scan is answered while one
// answered more than SyncEvery ago waits for its fsync, so that a power loss or an OS crash
// loses at most the scans answered within one SyncEvery (25 ms by default) before it; each
// unit's count then resumes from what was synced. TestPowerLossScans (lazyfs) and
// TestKill9Scans check both. The 'q' prefix is the one
// these keys had in the ledger's database before the scan store had its own; Migrate copies
// such keys over once.
package scanstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/santong-cn/santong/internal/fault"
)

// MaxRegions is the number of distinct regions remembered per unit; MaxRegionLen bounds one.
const (
	MaxRegions   = 16
	MaxRegionLen = 32
)

// DefaultRetention is how long per-scan rows are kept by default.
const DefaultRetention = 180 * 24 * time.Hour

// MaxClients is the number of clients remembered per unit (for telling a new client from one
// scanning again); past it the client counted longest ago is forgotten (should it scan again,
// it counts as a new client).
const MaxClients = 64

// DefaultWindow is the window within which one client's repeated scans of a unit count once.
const DefaultWindow = 24 * time.Hour

// Store records scans and reads a unit's counts.
type Store interface {
	// Record records one scan of a unit and returns the unit's exact counts including it,
	// scans answered in the order they were recorded. What a crash may then lose is each
	// implementation's: Badger nothing on a crash of the process and at most Options.SyncEvery
	// (25 ms) of scans on a power loss; PostgreSQL nothing (it answers after the commit). It
	// fails with ErrPushback at once when the store is overloaded, and with ErrClosed after
	// Close.
	Record(ctx context.Context, s Scan) (Stats, error)
	// Stats reads a unit's counts (zero for a unit never scanned).
	Stats(ctx context.Context, batch string, serial uint64) (Stats, error)
	// Health reports whether the store can record scans.
	Health(ctx context.Context) error
	// Close records the scans already accepted and releases the store.
	Close() error
}

// Scan is one scan to record.
type Scan struct {
	Batch  string
	Serial uint64
	Time   time.Time
	Region string // coarse, from a trusted proxy or the server's setting; "" when unknown
	// IP names the client (the service passes the address, an IPv6 client's /64): hashed with
	// the store's key before anything is stored, never stored raw. "" is no known client: each
	// such scan is counted.
	IP string
}

// Stats are a unit's scan counts.
type Stats struct {
	Count   int64     `json:"count"`
	First   time.Time `json:"first,omitzero"`
	Last    time.Time `json:"last,omitzero"`
	Regions []string  `json:"regions,omitempty"` // distinct regions given by clients (at most 16 kept)
	// Counted is the scans counted once per client per window; Clients the distinct clients
	// that scanned (exact while at most MaxClients, then an overcount: a forgotten client
	// scanning again counts again).
	Counted int64        `json:"counted"`
	Clients int64        `json:"clients"`
	Seen    []ClientSeen `json:"-"` // the last MaxClients clients
}

// ClientSeen is a client of a unit: the first 8 bytes of its keyed hash, and when its scan was
// last counted (Unix seconds).
type ClientSeen struct {
	Client [8]byte
	At     int64
}

// ClientOf is the client id a store keeps for a scan's IP: the first 8 bytes of its keyed
// hash; zero for no IP.
func ClientOf(key []byte, ip string) [8]byte {
	var c [8]byte
	if ip != "" {
		h := HashIP(key, ip)
		copy(c[:], h[:])
	}
	return c
}

// Errors of every Store.
var (
	ErrPushback = fault.New(fault.Pushback, "too many scans waiting: retry later")
	ErrClosed   = fault.New(fault.Pushback, "scan store closed")
)

// AddClient counts one scan by client (ClientOf its IP) into st: Add, and the distinct clients
// and the scans counted once per client per window. Every Store counts scans with it.
func (st *Stats) AddClient(sc Scan, client [8]byte, window time.Duration) {
	st.Add(sc)
	if client == ([8]byte{}) {
		st.Counted++
		return
	}
	t := sc.Time.Unix()
	for i := range st.Seen {
		if c := &st.Seen[i]; c.Client == client {
			if t-c.At >= int64(window/time.Second) || t < c.At-int64(window/time.Second) {
				st.Counted++
				c.At = t
			}
			return
		}
	}
	st.Counted++
	st.Clients++
	if len(st.Seen) >= MaxClients { // forget the client counted longest ago
		old := 0
		for i, c := range st.Seen {
			if c.At < st.Seen[old].At {
				old = i
			}
		}
		st.Seen = append(st.Seen[:old], st.Seen[old+1:]...)
	}
	st.Seen = append(st.Seen, ClientSeen{Client: client, At: t})
}

// Add counts one scan into st: its count, times and region (not its client: see AddClient).
func (st *Stats) Add(sc Scan) {
	st.Count++
	if st.First.IsZero() || sc.Time.Before(st.First) {
		st.First = sc.Time
	}
	if sc.Time.After(st.Last) {
		st.Last = sc.Time
	}
	if sc.Region != "" && len(st.Regions) < MaxRegions {
		for _, r := range st.Regions {
			if r == sc.Region {
				return
			}
		}
		st.Regions = append(st.Regions, sc.Region)
	}
}

// Clone returns a copy of st that shares nothing with it.
func (st Stats) Clone() Stats {
	st.Regions = append([]string(nil), st.Regions...)
	st.Seen = append([]ClientSeen(nil), st.Seen...)
	return st
}

// HashIP is the keyed hash of a client IP that a store keeps instead of the IP.
func HashIP(key []byte, ip string) [16]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ip))
	var h [16]byte
	copy(h[:], m.Sum(nil))
	return h
}

// MarshalBinary encodes st: uvarint count, varint first and last (Unix nanoseconds), uvarint
// number of regions, then each region as a length byte and its bytes; then uvarint counted,
// uvarint clients, uvarint number of clients seen and each as its 8 bytes and a varint time
// (Unix seconds). A value that ends after the regions (written before clients were counted)
// decodes with Counted = Count and no clients.
func (st Stats) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = binary.AppendUvarint(b, uint64(st.Count))
	b = binary.AppendVarint(b, st.First.UnixNano())
	b = binary.AppendVarint(b, st.Last.UnixNano())
	n := min(len(st.Regions), MaxRegions)
	b = binary.AppendUvarint(b, uint64(n))
	for _, r := range st.Regions[:n] {
		if len(r) > MaxRegionLen {
			r = r[:MaxRegionLen]
		}
		b = append(b, byte(len(r)))
		b = append(b, r...)
	}
	b = binary.AppendUvarint(b, uint64(st.Counted))
	b = binary.AppendUvarint(b, uint64(st.Clients))
	n = min(len(st.Seen), MaxClients)
	b = binary.AppendUvarint(b, uint64(n))
	for _, c := range st.Seen[len(st.Seen)-n:] {
		b = append(b, c.Client[:]...)
		b = binary.AppendVarint(b, c.At)
	}
	return b, nil
}

// ErrBadStats is returned for stored stats that do not decode.
var ErrBadStats = errors.New("malformed scan stats")

// UnmarshalBinary decodes what MarshalBinary encoded; anything else is ErrBadStats.
func (st *Stats) UnmarshalBinary(b []byte) error {
	c, n := binary.Uvarint(b)
	if n <= 0 || c > 1<<62 {
		return ErrBadStats
	}
	b = b[n:]
	f, n := binary.Varint(b)
	if n <= 0 {
		return ErrBadStats
	}
	b = b[n:]
	l, n := binary.Varint(b)
	if n <= 0 {
		return ErrBadStats
	}
	b = b[n:]
	nr, n := binary.Uvarint(b)
	if n <= 0 || nr > MaxRegions {
		return ErrBadStats
	}
	b = b[n:]
	regions := st.Regions[:0]
	for range nr {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return ErrBadStats
		}
		regions = append(regions, string(b[1:1+b[0]]))
		b = b[1+b[0]:]
	}
	counted, clients, seen := c, uint64(0), st.Seen[:0]
	if len(b) > 0 {
		if counted, n = binary.Uvarint(b); n <= 0 || counted > c {
			return ErrBadStats
		}
		b = b[n:]
		if clients, n = binary.Uvarint(b); n <= 0 || clients > counted {
			return ErrBadStats
		}
		b = b[n:]
		ns, n := binary.Uvarint(b)
		if n <= 0 || ns > MaxClients || ns > clients {
			return ErrBadStats
		}
		b = b[n:]
		for range ns {
			if len(b) < 9 {
				return ErrBadStats
			}
			var cs ClientSeen
			copy(cs.Client[:], b)
			at, n := binary.Varint(b[8:])
			if n <= 0 {
				return ErrBadStats
			}
			cs.At = at
			seen = append(seen, cs)
			b = b[8+n:]
		}
	}
	if len(b) != 0 {
		return ErrBadStats
	}
	st.Count, st.First, st.Last, st.Regions = int64(c), time.Unix(0, f).UTC(), time.Unix(0, l).UTC(), regions
	st.Counted, st.Clients, st.Seen = int64(counted), int64(clients), seen
	return nil
}
