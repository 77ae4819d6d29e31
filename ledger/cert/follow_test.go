package cert

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/kv"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/event"
)

// rawPrimary is a log of origin with the log key of logWorld and no lifecycle hook: a primary
// that appends whatever it is given, as a broken or malicious one would.
func rawPrimary(t *testing.T) *ledger.Log {
	t.Helper()
	signer, verifier, err := ledger.NewSigner(origin, testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Options{Origin: origin, Signer: signer, Verifier: verifier, Dir: t.TempDir(), CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendRaw(t *testing.T, l *ledger.Log, evs ...[]byte) *ledger.SignedCheckpoint {
	t.Helper()
	for _, b := range evs {
		if _, err := l.Append(context.Background(), ledger.Entry{Chain: chainOf(b), Payload: b}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.SignCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// applyTo applies to replica r the records of p it lacks, with p's checkpoint cp.
func applyTo(t *testing.T, r *Registry, p *ledger.Log, cp *ledger.SignedCheckpoint) error {
	t.Helper()
	var recs [][]byte
	for i := r.Log().Size(); i < cp.Size; i++ {
		rec, err := p.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec.Bytes)
	}
	_, err := r.Log().ApplyVerified(cp.Note, recs, nil)
	return err
}

func openFollowRegistry(t *testing.T) *Registry {
	t.Helper()
	_, verifier, err := ledger.NewSigner(origin, testKey(9))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ledger.Options{Origin: origin, Verifier: verifier, Follow: true, Dir: t.TempDir()}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestFollowLifecycle: a replica with the lifecycle hook applies its primary's events, their
// signatures checked on every core (Hook.Precheck) for keys enrolled in the same batch and in
// the committed state, and refuses, applying nothing, an event the primary should never have
// appended: one whose signature does not verify, and one whose signature does but whose key
// may not sign it (a state rule, which stays with Apply).
func TestFollowLifecycle(t *testing.T) {
	w := newWorld(t)
	var honest [][]byte
	w.submit = func(b []byte) (int64, error) { honest = append(honest, b); return int64(len(honest) - 1), nil }
	w.setup()
	w.certify()
	for range 40 {
		w.must(w.entK, w.ent, uuid.New(), w.batchBody())
	}
	late := len(honest)
	for range 40 {
		w.must(w.entK, w.ent, uuid.New(), w.batchBody())
	}

	// Honest: the first part enrols the keys that sign it; the second is signed by keys in the
	// replica's committed state.
	p := rawPrimary(t)
	cp1 := appendRaw(t, p, honest[:late]...)
	cp2 := appendRaw(t, p, honest[late:]...)
	r := openFollowRegistry(t)
	// What Precheck vouches for: every event but the genesis, whose key is enrolled earlier in
	// the batch or in the committed state.
	vouched := func(recs []*ledger.Record) int {
		t.Helper()
		if err := ledger.SafeView(r.db, func(rd kv.Reader) error { return r.hook.Precheck(rd, recs) }); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rec := range recs {
			if rec.Decoded != nil {
				n++
			}
		}
		return n
	}
	records := func(from, to int64) []*ledger.Record {
		var out []*ledger.Record
		for i := from; i < to; i++ {
			rec, err := p.Record(i)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rec)
		}
		return out
	}
	for _, cp := range []*ledger.SignedCheckpoint{cp1, cp2} {
		from := r.Log().Size()
		want := int(cp.Size - from)
		if from == 0 {
			want-- // the genesis
		}
		if got := vouched(records(from, cp.Size)); got != want {
			t.Errorf("Precheck vouched for %d of records %d to %d, want %d", got, from, cp.Size, want)
		}
		if err := applyTo(t, r, p, cp); err != nil {
			t.Fatalf("the honest primary's %d records: %v", cp.Size, err)
		}
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.BatchInfo(cp2.Size-1, time.Now()); err != nil {
		t.Errorf("the last batch on the replica: %v", err)
	}

	changed := bytes.Replace(w.sign(w.entK, w.ent, uuid.New(), w.batchBody()), []byte(`"L1"`), []byte(`"L2"`), 1)
	if _, err := event.Decode(changed); err != nil {
		t.Fatalf("the changed event must still decode: %v", err)
	}
	if got := vouched([]*ledger.Record{{Index: cp2.Size, Payload: changed}}); got != 0 {
		t.Error("Precheck vouched for an event changed after it was signed")
	}
	for _, tc := range []struct {
		name string
		ev   []byte
		want error
	}{
		{"a batch changed after it was signed", changed, event.ErrBadSignature},
		{"a batch signed by another enterprise's key", w.sign(w.ent2K, w.ent, uuid.New(), w.batchBody()), ErrOtherEnterprise},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := rawPrimary(t)
			cp1 := appendRaw(t, p, honest...)
			cp2 := appendRaw(t, p, tc.ev)
			r := openFollowRegistry(t)
			if err := applyTo(t, r, p, cp1); err != nil {
				t.Fatal(err)
			}
			err := applyTo(t, r, p, cp2)
			var ref *ledger.Refused
			if !errors.As(err, &ref) || ref.Index != cp1.Size || !strings.Contains(err.Error(), tc.want.Error()) {
				t.Fatalf("got %v, want record %d refused for %q", err, cp1.Size, tc.want)
			}
			if r.Log().Size() != cp1.Size || !bytes.Equal(r.Log().Checkpoint().Note, cp1.Note) {
				t.Fatalf("the replica moved to %d records on a refused one", r.Log().Size())
			}
			if err := r.Check(); err != nil {
				t.Errorf("the projection after a refusal: %v", err)
			}
		})
	}
}
