package main

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/santong-cn/santong/verify"
)

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="(about|verdict|t|sig)" value="([^"]*)">`)

// TestReportKill9: a consumer's report acknowledged by the service ("received", with its
// reference) just before the service is killed with SIGKILL is recorded as complaint.received
// after the restart, and what the consumer wrote is in no public record. The service records
// in batches (--report-interval 1h) so that the report is still queued at the kill: the restart
// records it at start.
func TestReportKill9(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd, base := startServe(t, "--demo", "--data", dir, "--report-interval", "1h")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var forged string
	for _, s := range readSampleIndex(dir) {
		if s.Verdict == verify.VerdictForged {
			forged = s.Path
		}
	}
	if forged == "" {
		t.Fatal("the demo has no forged sample")
	}
	get := func(path, accept string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := get(forged, "text/html")
	if code != 200 {
		t.Fatalf("forged page: %d", code)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	const secret = "在某某超市买的，包装粗糙 kill9-secret"
	form.Set("what", "counterfeit")
	form.Set("details", secret)
	form.Set("contact", "kill9@example.cn")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(base+"/report", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/report/R") {
		t.Fatalf("report: %d %q", resp.StatusCode, loc)
	}
	receipt := func() verify.ReportReceipt {
		code, body := get(loc, "application/json")
		var rc verify.ReportReceipt
		if code != 200 || json.Unmarshal([]byte(body), &rc) != nil {
			t.Fatalf("receipt: %d %s", code, body)
		}
		return rc
	}
	if rc := receipt(); rc.Status != "queued" {
		t.Fatalf("before the kill: %+v (want queued: the test needs a report not yet recorded)", rc)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	cmd, base = startServe(t, "--demo", "--data", dir, "--report-interval", "1h")
	deadline := time.Now().Add(30 * time.Second)
	var rc verify.ReportReceipt
	for rc = receipt(); rc.Status != "recorded"; rc = receipt() {
		if time.Now().After(deadline) {
			t.Fatalf("not recorded after the restart: %+v", rc)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, rec := get("/api/v1/records/"+strconv.FormatInt(*rc.Index, 10), "application/json")
	if code != 200 || !strings.Contains(rec, "complaint.received") && !strings.Contains(rec, "Y29tcGxhaW50LnJlY2VpdmVk") {
		t.Fatalf("record %d: %d %.300s", *rc.Index, code, rec)
	}
	if strings.Contains(rec, secret) || strings.Contains(rec, "kill9@example.cn") {
		t.Fatal("the record shows what the consumer wrote")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, reportsDir, "queue")); len(ents) != 0 {
		t.Fatalf("still queued: %v", ents)
	}
}
