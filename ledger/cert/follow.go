package cert

import (
	"crypto/ed25519"
	"errors"
	"runtime"
	"sync"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// Precheck implements ledger.Prechecker for a replica's catch-up (ledger.ApplyVerified): it
// decodes the records' events and verifies their signatures on every core, and hands each event
// whose signature verifies to Apply as Submit does on the primary (Record.Decoded), so that the
// single writer no longer spends most of a catch-up verifying signatures one after another.
//
// A signature is checked against the public key its key id names: a key id is the SHA-256 of
// its public key (event.KeyIDOf), so the key is the one Apply would read, found in the
// committed projection (r), among the keys enrolled earlier in recs (and the genesis's root
// key), or in the hook's cache of public keys. Whether the key may sign the event (enrolled before it, not revoked or expired
// at its times, its role, its enterprise) depends on the state and stays with Apply. An event
// that does not decode, whose key is not found, whose signature does not verify, or a genesis,
// is left alone: Apply checks it in full and refuses it as on the primary.
func (h *Hook) Precheck(r kv.Reader, recs []*ledger.Record) error {
	evs := make([]*event.Event, len(recs))
	precheckParallel(len(recs), func(i int) {
		if recs[i].Decoded == nil {
			evs[i], _ = event.Decode(recs[i].Payload)
		}
	})
	st := &readStore{r: r, gen: h.generation()}
	pubs := make([]ed25519.PublicKey, len(recs))
	enrolled := make(map[event.KeyID]ed25519.PublicKey)
	for i, ev := range evs {
		if ev == nil {
			continue
		}
		if g, ok := ev.Body.(*event.Genesis); ok { // checked by Apply; its root key signs what follows
			if len(g.RootKey) == ed25519.PublicKeySize {
				enrolled[event.KeyIDOf(g.RootKey)] = ed25519.PublicKey(g.RootKey)
			}
			continue
		}
		pub, err := h.precheckKey(st, enrolled, ev.Actor)
		if err != nil {
			return err
		}
		pubs[i] = pub
		if b, ok := ev.Body.(*event.KeyEnrolment); ok && len(b.Key) == ed25519.PublicKeySize {
			enrolled[event.KeyIDOf(b.Key)] = ed25519.PublicKey(b.Key)
		}
	}
	precheckParallel(len(recs), func(i int) {
		if pubs[i] != nil && evs[i].Verify(pubs[i]) == nil {
			recs[i].Decoded = evs[i]
		}
	})
	return nil
}

// precheckKey returns the public key that id names, or nil when none is known yet; an error
// only when the projection cannot be read.
func (h *Hook) precheckKey(st *readStore, enrolled map[event.KeyID]ed25519.PublicKey, id event.KeyID) (ed25519.PublicKey, error) {
	if p, ok := enrolled[id]; ok {
		return p, nil
	}
	if p, ok := h.pubs.Load(id); ok {
		return p.(ed25519.PublicKey), nil
	}
	k, err := lookupKey(st, id)
	if errors.Is(err, ErrUnknownKey) {
		return nil, nil
	}
	if err != nil {
		if fault.CodeOf(err) == ledger.ErrStorage.Code {
			return nil, err
		}
		return nil, nil // a malformed key record: Apply says so
	}
	pub := ed25519.PublicKey(k.Public)
	if len(pub) != ed25519.PublicKeySize || event.KeyIDOf(pub) != id {
		return nil, nil
	}
	h.pubs.Store(id, pub)
	return pub, nil
}

// precheckParallel runs f(0..n-1) on every core.
func precheckParallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+63)/64)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				f(i)
			}
		}(lo, min(n, lo+per))
	}
	wg.Wait()
}
