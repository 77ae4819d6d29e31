package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestComplaintsQueue reads the demo's complaints as its certification bodies, its regulator
// and an enterprise would, from the data directory and from a server: the 三同 body sees the
// three complaints about enterprises it certified, with what the complainants said and their
// contact (confidential attachments, read with its key); --public leaves those out; the
// eco-origin body's queue holds only the one about the enterprise it also certified; the regulator sees them all; an enterprise's key
// is refused.
func TestComplaintsQueue(t *testing.T) {
	d := filepath.Join(t.TempDir(), "d")
	wantRun(t, 0, "init", "--data", d)
	wantRun(t, 0, "demo", "--data", d)
	key := func(n string) string { return filepath.Join(d, "demo-keys", n+".key") }
	const detail = "内销水壶的温控器与出口型号不同"
	const contact = "投诉人 示例 (complainant, demo), 电话 010-0000-0000"
	check := func(where string, target ...string) {
		t.Helper()
		out, _ := wantRun(t, 0, append([]string{"complaints", "--key", key("certifier-santong")}, target...)...)
		if !strings.Contains(out, "3 complaints, 1 open") || !strings.Contains(out, detail) || !strings.Contains(out, "contact     "+contact) ||
			!strings.Contains(out, "云梯虚构电器有限公司") {
			t.Errorf("%s: the 三同 body's queue:\n%s", where, out)
		}
		if strings.Index(out, "(open)") > strings.Index(out, "(closed") {
			t.Errorf("%s: open complaints are not listed first:\n%s", where, out)
		}
		out, _ = wantRun(t, 0, append([]string{"complaints", "--public", "--key", key("certifier-santong")}, target...)...)
		if !strings.Contains(out, "3 complaints") || strings.Contains(out, detail) || strings.Contains(out, "010-0000-0000") {
			t.Errorf("%s: --public shows confidential texts:\n%s", where, out)
		}
		out, _ = wantRun(t, 0, append([]string{"complaints", "--key", key("certifier-eco")}, target...)...)
		if !strings.Contains(out, ": 1 complaint, 0 open") || !strings.Contains(out, "青岚示范茶业有限公司") || strings.Contains(out, detail) {
			t.Errorf("%s: the eco-origin body's queue:\n%s", where, out)
		}
		out, _ = wantRun(t, 0, append([]string{"complaints", "--json", "--key", key("regulator")}, target...)...)
		var l struct {
			For        string `json:"for"`
			Complaints []struct {
				Details []string `json:"details"`
				Contact []string `json:"contact"`
			} `json:"complaints"`
		}
		if err := json.Unmarshal([]byte(out), &l); err != nil || l.For != "regulator" || len(l.Complaints) != 3 ||
			len(l.Complaints[0].Details) != 1 || len(l.Complaints[0].Contact) != 1 {
			t.Errorf("%s: the regulator's view: %v\n%s", where, err, out)
		}
		code, _, errs := runCLI(t, append([]string{"complaints", "--key", key("yunti")}, target...)...)
		if code == 0 || !strings.Contains(errs, "santong: error: ") || !strings.Contains(errs, "only a certification body's key or a regulator's lists complaints") {
			t.Errorf("%s: an enterprise's key: exit %d %s", where, code, errs)
		}
	}
	check("--data", "--data", d)
	base, stop := serveInProcess(t, "--data", d)
	defer stop()
	check("--server", "--server", base)
	if _, errs := wantRun(t, 2, "complaints", "--data", d); !strings.Contains(errs, "--key is required") {
		t.Errorf("no key: %s", errs)
	}
}
