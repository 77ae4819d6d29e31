package cert

import (
	"encoding/binary"

	"github.com/google/uuid"
)

// The projection's Badger keys. In code every key starts with 'x'; in Badger the first byte is
// the projection's active generation, 'x' or 'y' (see below), so that a rebuild can write a
// whole new projection beside the one being served and switch to it in one small transaction.
//
//	x k <key id 8>                      Key
//	x f <certifier uuid 16>             Certifier
//	x r <regulator uuid 16>             Regulator
//	x q <SHA-256(export 0 domestic)>    Equivalence: a standards comparison (标准比对)
//	x e <enterprise uuid 16>            Enterprise
//	x u <credit code>                   enterprise uuid
//	x p <product uuid 16>               Product
//	x g <GTIN-14>                       product uuid
//	x a <audit uuid 16>                 Audit
//	x s <inspection uuid 16>            Inspection
//	x c <certificate uuid 16>           Certificate (as granted; its status changes are under S and H)
//	x S <certificate uuid 16>           certHead: the number of status changes and the latest one
//	x H <certificate uuid 16> <seq 4>   StatusChange number seq of the certificate, from 0
//	x R <certificate uuid 16>           supersession: the certificate that renews it, and from when
//	x n <scheme> 0 <number>             certificate uuid
//	x o <complaint uuid 16>             Complaint
//	x b <batch uuid 16>                 Batch
//	x i <ledger index 8>                batch uuid (for tokens)
//	x j <ledger index 8>                scan record (binary): the batch, its label key's public key, its product's GTIN, its certificate's dates (scan.go)
//	x N <key id 8>                      a revoked key's revocation time (binary, scan.go)
//	x w <ledger index 8>                Draw
//	x W <request index 8>               DrawState: a commit-then-reveal draw (drawplan.go)
//	x M <draw uuid 16>                  its request's ledger index (8)
//	x T <scheme> 0 <period>             the request's ledger index: one per scheme and period
//	x O <request index 8> <position 4>  inspection uuid: the inspection that opened the target
//	x X <enterprise uuid 16>            DrawFacts: returns, complaints, failed inspections, since (20, binary)
//	x Y <scheme> 0 <enterprise 16> <certificate 16>   valid from, valid until (16, binary): the draws' index
//	x V <batch uuid 16> <last serial 8> VoidRange: a void of the batch's units (void.go)
//	x A <commitment 32>                 AttachmentRef: a confidential attachment an event names
//	x J <application uuid 16>           Application (application.go), rewritten at each step
//	x L <enterprise 16> <index 8>       application uuid: the enterprise's applications
//	x Q <certifier 16> <index 8>        application uuid: the applications made to a certifier
//	x E <enterprise 16> <index 8>       product uuid: the enterprise's products, in registration order
//	x C <enterprise 16> <index 8>       certificate uuid: the enterprise's certificates
//	x K <enterprise 16> <index 8>       key id: the enterprise's enrolled keys
//	x D <enterprise 16> <index 8>       Declaration: the enterprise's self-declarations
//	x P <product 16> <index 8>          certificate uuid: the certificates covering the product
//	x h <product 16> <ledger index 8>   (empty): the product's events
//	x d <signature 64>                  (empty): events already in the log
//	x H <sha256 of the event's bytes 32>  ledger index (8): every event, so that a retry finds its receipt (recorded.go)
//	x z                                 genesis (the operator root key id)
//	x !                                 applied through: the number of log records folded in (8)
//
//	v                                   the active generation: 'x' or 'y' (absent: 'x')
//
// Values are JSON (integers big-endian where noted; the scan record binary, as scan.go lays out). Every event writes a bounded number of
// keys, each of bounded size: lists (an enterprise's products, a certificate's history) are one
// key per member, never a value that grows and is rewritten.
const prefix = 'x'

// Generations of the projection in Badger.
const (
	genX = 'x'
	genY = 'y'
)

// metaGen is the key naming the active generation.
var metaGen = []byte{'v'}

func other(gen byte) byte {
	if gen == genX {
		return genY
	}
	return genX
}

func key(kind byte, parts ...[]byte) []byte {
	n := 2
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 2, n)
	k[0], k[1] = prefix, kind
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func idx8(i int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func seq4(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

func uid(u uuid.UUID) []byte { return u[:] }

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// keyApplied holds the number of log records the projection has folded in. It is written with
// every record, in the record's transaction, so that a projection that does not match its log
// (a crash during a rebuild, a partial restore) is found on open and not served.
var keyApplied = key('!')

// phys maps a key of the code to its Badger key in generation gen.
func phys(gen byte, k []byte) []byte {
	if gen == prefix {
		return k
	}
	p := make([]byte, len(k))
	copy(p, k)
	p[0] = gen
	return p
}
