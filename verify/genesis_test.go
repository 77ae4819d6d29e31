package verify

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

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
