package ledger

import (
	"encoding/binary"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"golang.org/x/mod/sumdb/tlog"
)

// RecordVersion is the first byte of every record the log writes. Version 1 (no chain position,
// no chain-heads root) is still read; a future incompatible layout uses another value.
const RecordVersion = 2

const (
	recordHeaderV1 = 1 + 8 + 16 + 32
	// recordHeader is the size of a record before its payload.
	recordHeader = recordHeaderV1 + 8 + 32
)

// encodeRecord lays out a record: version, time, chain, prev, position in the chain, chain-heads
// root (zero unless the record ends a commit), payload (docs/ledger.md).
func encodeRecord(t time.Time, chain uuid.UUID, prev Hash, seq int64, heads Hash, payload []byte) []byte {
	b := make([]byte, recordHeader+len(payload))
	b[0] = RecordVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(t.UnixNano()))
	copy(b[9:25], chain[:])
	copy(b[25:57], prev[:])
	binary.BigEndian.PutUint64(b[57:65], uint64(seq))
	copy(b[65:97], heads[:])
	copy(b[97:], payload)
	return b
}

var (
	errRecordShort   = fault.New(fault.Invalid, "malformed record: too short")
	errRecordVersion = fault.New(fault.Invalid, "malformed record: unknown version")
	errRecordLarge   = fault.New(fault.Invalid, "malformed record: payload over 64 KiB")
	errRecordSeq     = fault.New(fault.Invalid, "malformed record: chain position out of range")
)

// DecodeRecord parses the bytes of record index. The returned record's Bytes and Payload alias b.
func DecodeRecord(index int64, b []byte) (*Record, error) {
	if len(b) < 1 {
		return nil, errRecordShort
	}
	header := recordHeader
	switch b[0] {
	case 1:
		header = recordHeaderV1
	case RecordVersion:
	default:
		return nil, errRecordVersion
	}
	if len(b) < header {
		return nil, errRecordShort
	}
	if len(b)-header > MaxPayload+recordHeader-header {
		return nil, errRecordLarge
	}
	r := &Record{Index: index, Version: int(b[0]), Bytes: b, Payload: b[header:], Seq: -1}
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	copy(r.Chain[:], b[9:25])
	copy(r.Prev[:], b[25:57])
	if b[0] == RecordVersion {
		r.Seq = int64(binary.BigEndian.Uint64(b[57:65]))
		if r.Seq < 0 || (index >= 0 && r.Seq > index) {
			return nil, errRecordSeq
		}
		copy(r.Heads[:], b[65:97])
	}
	return r, nil
}

// Hash returns the record's RFC 6962 leaf hash: SHA-256(0x00 || Bytes).
func (r *Record) Hash() Hash { return tlog.RecordHash(r.Bytes) }

// Key layout of the log in the shared Badger database. Every key starts with one byte that names
// its keyspace; the log owns 'r', 't', 'c', 'k' and 'm'. The certification state owns 'x' and
// scan counting owns 'q'.
const (
	prefixRecord = 'r' // 'r' index(8)            -> record bytes
	prefixTile   = 't' // 't' level(1) n(8)       -> full hash tile (256 hashes) + its interior rows 4-7
	prefixChain  = 'c' // 'c' chain(16) index(8)  -> empty: the chain index
	prefixHead   = 'k' // 'k' chain(16)           -> len(8) index(8) hash(32)
	prefixMeta   = 'm' // 'm' name                -> value
)

var (
	metaSize       = []byte("msize")       // number of records, 8 bytes
	metaCheckpoint = []byte("mcheckpoint") // the latest signed checkpoint note
)

func recordKey(i int64) []byte {
	k := make([]byte, 9)
	k[0] = prefixRecord
	binary.BigEndian.PutUint64(k[1:], uint64(i))
	return k
}

func tileKey(level int, n int64) []byte {
	k := make([]byte, 10)
	k[0] = prefixTile
	k[1] = byte(level)
	binary.BigEndian.PutUint64(k[2:], uint64(n))
	return k
}

func chainKey(chain uuid.UUID, i int64) []byte {
	k := make([]byte, 25)
	k[0] = prefixChain
	copy(k[1:17], chain[:])
	binary.BigEndian.PutUint64(k[17:], uint64(i))
	return k
}

func headKey(chain uuid.UUID) []byte {
	k := make([]byte, 17)
	k[0] = prefixHead
	copy(k[1:], chain[:])
	return k
}

func encodeHead(h Head) []byte {
	b := make([]byte, 48)
	binary.BigEndian.PutUint64(b[0:8], uint64(h.Len))
	binary.BigEndian.PutUint64(b[8:16], uint64(h.Index))
	copy(b[16:], h.Hash[:])
	return b
}

func decodeHead(chain uuid.UUID, b []byte) (Head, error) {
	if len(b) != 48 {
		return Head{}, fault.New(fault.Internal, "malformed chain head")
	}
	h := Head{Chain: chain, Len: int64(binary.BigEndian.Uint64(b[0:8])), Index: int64(binary.BigEndian.Uint64(b[8:16]))}
	copy(h.Hash[:], b[16:])
	return h, nil
}

func putInt64(v int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b
}
