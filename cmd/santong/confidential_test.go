package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// TestConfidentialAttachments (issue 12, item 5) loads the demo, whose audit and inspection
// findings, complaint texts and complainants' contacts are confidential attachments, and checks
// as the public and as each role would:
//   - no record of the log (the bytes the tiles serve) and no public JSON or page holds any of
//     the confidential texts, and every record's attachment names a stored attachment;
//   - the regulator reads every attachment; the certifier that recorded an audit reads its
//     findings, another body does not; an enterprise reads its own findings but not a complaint
//     about it or who made it; a label key, an unsigned request, a forged signature and a
//     signature for another attachment are refused;
//   - santong attachment get and attachment check work from the command line.
func TestConfidentialAttachments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	c, _, errb := testCLI(t)
	ctx := context.Background()
	if code := run(ctx, []string{"init", "--data", dir}, c); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb)
	}
	if code := run(ctx, []string{"demo", "--data", dir, "--json"}, c); code != 0 {
		t.Fatalf("demo: exit %d: %s", code, errb)
	}
	reg, _, err := c.openRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	files, err := attach.OpenStore(filepath.Join(dir, attachmentsDir))
	if err != nil {
		t.Fatal(err)
	}
	deps := verify.NewCertRegistry(reg).Deps()
	deps.Attachments = &verify.CertAttachments{Registry: reg, Files: files}
	srv := httptest.NewServer(verify.New(verify.Config{RateLimit: -1}, deps).Handler())
	defer srv.Close()

	// Every stored attachment, its texts and its reference.
	type stored struct {
		a     *attach.Attachment
		texts []string
		kind  string
		ent   string
		typ   event.Type
	}
	all := map[string]*stored{}
	err = filepath.WalkDir(files.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		sha := strings.TrimSuffix(d.Name(), ".json")
		a, err := files.Get(sha)
		if err != nil {
			return err
		}
		ts, err := a.Texts()
		if err != nil {
			return err
		}
		ref, err := reg.Attachment(sha)
		if err != nil {
			return err
		}
		all[sha] = &stored{a: a, texts: ts, kind: ref.Kind, ent: ref.Enterprise.String(), typ: ref.Type}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, s := range all {
		kinds[s.kind]++
	}
	if kinds[event.AttachFinding] < 3 || kinds[event.AttachComplaint] < 3 || kinds[event.AttachContact] < 3 {
		t.Fatalf("demo attachments by kind: %v", kinds)
	}

	// The public side holds none of the texts.
	secret := func(where string, b []byte) {
		for _, s := range all {
			for _, tx := range s.texts {
				if bytes.Contains(b, []byte(tx)) || bytes.Contains(b, []byte(tx[:len(tx)/2])) {
					t.Errorf("%s holds the confidential %s %q", where, s.kind, tx)
				}
			}
		}
	}
	named := 0
	for i := int64(0); i < reg.Log().Size(); i++ {
		r, err := reg.Log().Record(i)
		if err != nil {
			t.Fatal(err)
		}
		secret("record "+strconv.FormatInt(i, 10), r.Bytes)
		for sha := range all {
			if bytes.Contains(r.Payload, []byte(sha)) {
				named++
			}
		}
	}
	if named != len(all) {
		t.Errorf("%d attachments stored, %d named by records", len(all), named)
	}
	get := func(path string, h http.Header) (int, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, s := range all {
		for _, p := range []string{"/api/v1/enterprises/" + s.ent, "/api/v1/enterprises/" + s.ent + "/chain", "/registry/enterprises/" + s.ent} {
			_, b := get(p, nil)
			secret(p, b)
		}
	}

	// Readers.
	key := func(name string) []byte {
		k, err := keyfile.Read(filepath.Join(dir, "demo-keys", name), []byte(testPass))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keys := map[string][]byte{}
	for _, n := range []string{"regulator", "certifier-santong", "certifier-eco", "yunti", "jincheng", "qinglan-label"} {
		keys[n] = key(n + ".key")
	}
	read := func(who, sha string) (int, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/attachments/"+sha, nil)
		attach.Sign(req, keys[who], nil, time.Now())
		return get("/api/v1/attachments/"+sha, req.Header)
	}
	entOf := map[string]string{}
	for _, e := range []string{"yunti", "jincheng"} {
		id, err := reg.EnterpriseByUSCC(demoUSCC(demoEntBySlug(e).uscc17))
		if err != nil {
			t.Fatal(err)
		}
		entOf[id.ID.String()] = e
	}
	checked := map[string]int{}
	for sha, s := range all {
		st, b := read("regulator", sha)
		if got, err := attach.Parse(b); st != 200 || err != nil || got.Commitment() != sha {
			t.Errorf("regulator reading a %s: %d %s", s.kind, st, b)
		}
		if st, _ := read("qinglan-label", sha); st != 403 {
			t.Errorf("a label key reading a %s: %d, want 403", s.kind, st)
		}
		ent, ok := entOf[s.ent]
		if !ok {
			continue
		}
		want := 200 // the enterprise's own findings
		if s.typ == event.ComplaintRecv {
			want = 403 // a complaint about it, or who made it
		}
		if st, b := read(ent, sha); st != want {
			t.Errorf("%s reading its own %s of %s: %d %s, want %d", ent, s.kind, s.typ, st, b, want)
		}
		if st, _ := read("certifier-santong", sha); st != 200 {
			t.Errorf("the 三同 body reading a %s of %s about %s: %d, want 200", s.kind, s.typ, ent, st)
		}
		if st, _ := read("certifier-eco", sha); st != 403 {
			t.Errorf("the eco-origin body reading a %s of %s about %s: %d, want 403", s.kind, s.typ, ent, st)
		}
		checked[s.kind]++
	}
	if checked[event.AttachFinding] == 0 || checked[event.AttachComplaint] == 0 || checked[event.AttachContact] == 0 {
		t.Errorf("role checks by kind: %v", checked)
	}

	// Refused requests.
	var one string
	for sha := range all {
		one = sha
		break
	}
	if st, _ := get("/api/v1/attachments/"+one, nil); st != 401 {
		t.Errorf("unsigned: %d, want 401", st)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/attachments/"+one, nil)
	attach.Sign(req, keys["regulator"], nil, time.Now())
	forged := req.Header.Clone()
	sig := []byte(forged.Get(attach.HeaderSignature))
	sig[3] ^= 1
	forged.Set(attach.HeaderSignature, string(sig))
	if st, _ := get("/api/v1/attachments/"+one, forged); st != 401 {
		t.Errorf("forged signature: %d, want 401", st)
	}
	for other := range all {
		if other != one {
			if st, _ := get("/api/v1/attachments/"+other, req.Header); st != 401 {
				t.Errorf("a signature for another attachment: %d, want 401", st)
			}
			break
		}
	}
	stale, _ := http.NewRequest("GET", srv.URL+"/api/v1/attachments/"+one, nil)
	attach.Sign(stale, keys["regulator"], nil, time.Now().Add(-10*time.Minute))
	if st, _ := get("/api/v1/attachments/"+one, stale.Header); st != 401 {
		t.Errorf("a signature ten minutes old: %d, want 401", st)
	}

	// The command line.
	out := filepath.Join(t.TempDir(), "a.json")
	if code, o, e := runCLI(t, "attachment", "get", "--key", filepath.Join(dir, "demo-keys", "regulator.key"), "--server", srv.URL, "--out", out, one); code != 0 {
		t.Fatalf("attachment get: %d %s %s", code, o, e)
	}
	if code, o, e := runCLI(t, "attachment", "check", out, one); code != 0 || !strings.Contains(o, "matches") {
		t.Fatalf("attachment check: %d %s %s", code, o, e)
	}
	b, _ := os.ReadFile(out)
	a, _ := attach.Parse(b)
	a.Content = append([]byte("x"), a.Content...)
	if err := os.WriteFile(out, a.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runCLI(t, "attachment", "check", out, one); code == 0 || !strings.Contains(e, "does not match") {
		t.Fatalf("attachment check of a changed attachment: %d %s", code, e)
	}
	for sha, st := range all {
		if entOf[st.ent] != "yunti" || st.kind != event.AttachFinding {
			continue
		}
		if code, _, e := runCLI(t, "attachment", "get", "--key", filepath.Join(dir, "demo-keys", "certifier-eco.key"), "--server", srv.URL, sha); code == 0 || !strings.Contains(e, "may not read") {
			t.Errorf("attachment get by a body that may not read it: exit %d: %s", code, e)
		}
		break
	}
}

func demoEntBySlug(slug string) demoEnterprise {
	for _, e := range demoEnterprises {
		if e.slug == slug {
			return e
		}
	}
	panic("no demo enterprise " + slug)
}
