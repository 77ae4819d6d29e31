package verify

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/santong-cn/santong/ledger/event"
)

// TestBadge: a listing's badge shows the scheme's mark and the live status in Chinese, cached
// for a minute; an unknown product gets a neutral badge (404), never a good one; a malformed
// GTIN a JSON error naming the field.
func TestBadge(t *testing.T) {
	w := newWorld(t, "")
	defer w.close()
	s := w.server(Config{})
	defer s.Close()
	h := s.Handler()
	w.viaHandler(h)
	w.setup()
	for _, c := range []struct {
		path, want, not string
		code            int
	}{
		{"/badge/09506000134352.svg", "三同认证有效", "撤销", 200},
		{"/badge/9506000134352.svg", "三同认证有效", "撤销", 200}, // GTIN-13, normalised
		{"/badge/05412345000013.svg", "三同认证撤销", "有效", 200},
		{"/badge/00000000000017.svg", "未登记", "有效", 404},
		{"/badge/certificates/STC-2026-0001.svg", "三同认证有效", "撤销", 200},
		{"/badge/certificates/STC-2026-0001.svg?scheme=santong", "三同认证有效", "撤销", 200},
		{"/badge/certificates/STC-2026-0002.svg", "三同认证撤销", "有效", 200},
		{"/badge/certificates/STC-2026-0001.svg?scheme=eco_origin", "未登记", "有效", 404},
		{"/badge/certificates/STC-1999-0404.svg", "未登记", "有效", 404},
	} {
		r := do(t, h, "GET", c.path)
		if r.Code != c.code || r.Header().Get("Content-Type") != "image/svg+xml" || r.Header().Get("Cache-Control") != "public, max-age=60" ||
			!strings.Contains(r.body, c.want) || strings.Contains(r.body, c.not) {
			t.Errorf("%s: %d %v\n%s", c.path, r.Code, r.Header(), r.body)
		}
		d := xml.NewDecoder(strings.NewReader(r.body))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: not well-formed SVG: %v", c.path, err)
			}
		}
	}
	// a suspension shows within the badge's minute: the registry's cache follows the log
	w.must(w.certK, w.ent, w.cert1, &event.Suspension{Reason: "抽检不合格", RectifyBy: date(30 * 24 * time.Hour)})
	for _, p := range []string{"/badge/09506000134352.svg", "/badge/certificates/STC-2026-0001.svg"} {
		if r := do(t, h, "GET", p); !strings.Contains(r.body, "三同认证暂停") {
			t.Errorf("%s after a suspension: %s", p, r.body)
		}
	}
	for _, p := range []string{"/badge/09506000134353.svg", "/badge/abc.svg", "/badge/09506000134352.png"} {
		r := do(t, h, "GET", p)
		if r.Code != 400 || decode[ErrorBody](t, r).Error.Field != "gtin" {
			t.Errorf("%s: %d %s", p, r.Code, r.body)
		}
	}
	for p, field := range map[string]string{"/badge/certificates/STC-2026-0001.png": "number", "/badge/certificates/.svg": "number",
		"/badge/certificates/STC-2026-0001.svg?scheme=organic": "scheme"} {
		r := do(t, h, "GET", p)
		if r.Code != 400 || decode[ErrorBody](t, r).Error.Field != field {
			t.Errorf("%s: %d %s", p, r.Code, r.body)
		}
	}
}
