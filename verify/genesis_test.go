package verify

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
	"github.com/santong-cn/santong/ledger/event"
)

// TestNoGenesisOverHTTP is issue 10's takeover: an anonymous POST of a genesis signed by a
// stranger's key is refused with a JSON 403, on an empty log as on one that has its genesis,
// and nothing is written.
func TestNoGenesisOverHTTP(t *testing.T) {
	for _, setup := range []bool{false, true} {
		w := newWorld(t, "")
		h := w.server(Config{}).Handler()
		w.viaHandler(h)
		if setup {
			w.setup()
		}
		size := w.reg.Log().Size()
		stranger := worldKey(77)
		b, err := event.New(uuid.Nil, uuid.Nil, &event.Genesis{Name: "stranger", Origin: testOrigin, RootKey: pubOf(stranger)}).At(time.Now()).Sign(stranger)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("POST", "/api/v1/events", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var eb ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || rec.Code != http.StatusForbidden || eb.Error.Code != "forbidden" || eb.Error.Field != "type" {
			t.Errorf("set up %v: POST of a stranger's genesis: %d %s, want 403 forbidden on field type", setup, rec.Code, rec.Body)
		}
		time.Sleep(50 * time.Millisecond)
		if got := w.reg.Log().Size(); got != size {
			t.Errorf("set up %v: the log grew from %d to %d records", setup, size, got)
		}
		w.close()
	}
}

// TestReadyzStorageFault: /readyz turns unready (503, code unavailable) when the log's own keys
// no longer read, and a read of the lost record answers 503, not 404.
func TestReadyzStorageFault(t *testing.T) {
	w := newWorld(t, t.TempDir())
	defer w.close()
	h := w.server(Config{}).Handler()
	w.viaHandler(h)
	w.setup()
	get := func(p string) (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set("Accept", "application/json")
		h.ServeHTTP(rec, req)
		var eb ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &eb)
		return rec.Code, eb.Error.Code
	}
	if _, err := w.reg.Log().SignCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := get("/readyz"); st != http.StatusOK {
		t.Fatalf("/readyz of a healthy log: %d", st)
	}
	last := w.reg.Log().Size() - 1
	key := binary.BigEndian.AppendUint64([]byte{'r'}, uint64(last))
	if err := badgerkv.DB(w.reg.Log().Store()).Update(func(txn *badger.Txn) error { return txn.Delete(key) }); err != nil {
		t.Fatal(err)
	}
	if st, code := get("/readyz"); st != http.StatusServiceUnavailable || code != "unavailable" {
		t.Errorf("/readyz with a lost record: %d %s, want 503 unavailable", st, code)
	}
	if st, code := get(fmt.Sprintf("/api/v1/records/%d", last)); st != http.StatusServiceUnavailable || code != "unavailable" {
		t.Errorf("GET of the lost record: %d %s, want 503 unavailable", st, code)
	}
}
