package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/santong-cn/santong/verify"
)

// startServe runs 'santong serve' in a child process (the test binary, as testscript.Main
// installs it) and returns its base URL once it serves.
func startServe(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command("santong", append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "SANTONG_PASSPHRASE=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`serving .* on (http://\S+)`)
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				base <- m[1]
			}
		}
	}()
	select {
	case b := <-base:
		return cmd, b
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("santong serve did not start: %s", stderr.String())
		return nil, ""
	}
}

// TestWebhookKill9: a service killed with SIGKILL while a webhook delivery is in flight delivers
// that change again after the restart, and every change of the feed reaches the subscriber:
// none lost, in log order, each acknowledged at least once.
func TestWebhookKill9(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	secret := verify.NewSecret()
	const holdAt = 4 // the delivery that is in flight when the service dies

	var (
		mu       sync.Mutex
		acked    []string // ids acknowledged, in order
		distinct = map[string]bool{}
		held     = make(chan string, 1)
		release  = make(chan struct{})
		holding  = true
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verify.VerifyWebhook(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("delivery: %v", err)
			http.Error(w, err.Error(), 400)
			return
		}
		id := r.Header.Get("Santong-Webhook-Id")
		mu.Lock()
		if holding && !distinct[id] && len(distinct) == holdAt-1 {
			holding = false
			mu.Unlock()
			held <- id
			<-release // the sender is killed meanwhile
			http.Error(w, "too late", 503)
			return
		}
		acked = append(acked, id)
		distinct[id] = true
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer rcv.Close()
	defer close(release)

	cmd, base := startServe(t, "--demo", "--data", dir)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte(secret+"\n"), 0o600)
	var out, errb strings.Builder
	c := &cli{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if code := run(t.Context(), []string{"webhook", "add", "--data", dir, "--url", rcv.URL + "/hooks/santong", "--secret-file", sf}, c); code != 0 {
		t.Fatalf("webhook add: %d %s", code, errb.String())
	}

	var inflight string
	select {
	case inflight = <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery reached the receiver")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	mu.Lock()
	if distinct[inflight] {
		t.Fatalf("the change in flight (%s) was acknowledged before the kill", inflight)
	}
	before := len(acked)
	mu.Unlock()

	// A read-only command on the killed service's directory says what to do, and changes nothing.
	var vout, verr strings.Builder
	vc := &cli{stdout: &vout, stderr: &verr, getenv: func(k string) string {
		if k == "SANTONG_PASSPHRASE" {
			return demoPassphrase
		}
		return ""
	}}
	if code := run(t.Context(), []string{"log", "verify", "--data", dir}, vc); code == 0 || !strings.Contains(verr.String(), "not closed cleanly") ||
		!strings.Contains(verr.String(), "santong serve --data") {
		t.Errorf("log verify after kill -9: exit %d, %s", code, verr.String())
	}

	// The service starts again on it: the write-ahead log is replayed, the root checked.
	cmd, base = startServe(t, "--demo", "--data", dir)
	want := feedIDs(t, base)
	if len(want) < holdAt+2 {
		t.Fatalf("the demo's feed is too short to test with: %v", want)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(distinct)
		mu.Unlock()
		if n >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("after the restart %d of %d changes delivered; missing %v", n, len(want), missing(want, distinct))
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if m := missing(want, distinct); len(m) > 0 {
		t.Fatalf("lost: %v", m)
	}
	// in log order: the first acknowledgement of each id follows the feed's order
	var first []string
	seen := map[string]bool{}
	for _, id := range acked {
		if !seen[id] {
			seen[id] = true
			first = append(first, id)
		}
	}
	if !slices.Equal(first[:len(want)], want) {
		t.Errorf("order:\n got %v\nwant %v", first, want)
	}
	if i := slices.Index(acked, inflight); i < before {
		t.Errorf("the change in flight at the kill (%s) was not delivered after the restart", inflight)
	}
	t.Logf("%d changes; %d acknowledged before the kill, %s in flight; %d deliveries in all (%d repeated)",
		len(want), before, inflight, len(acked), len(acked)-len(distinct))
}

// feedIDs lists the ids of the whole change feed of a service.
func feedIDs(t *testing.T, base string) []string {
	t.Helper()
	var ids []string
	for cur := int64(-1); ; {
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/changes?after=%d&limit=500", base, cur))
		if err != nil {
			t.Fatal(err)
		}
		var p verify.ChangesJSON
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Changes {
			ids = append(ids, c.ID)
		}
		if len(p.Changes) == 0 {
			for _, c := range p.Pending {
				ids = append(ids, c.ID)
			}
			return ids
		}
		cur = p.Next
	}
}

func missing(want []string, have map[string]bool) []string {
	var m []string
	for _, id := range want {
		if !have[id] {
			m = append(m, id)
		}
	}
	return m
}

// TestWebhookCLI: add, list and remove, and what add refuses.
func TestWebhookCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	c, out, errb := testCLI(t)
	if code := run(ctx, []string{"init", "--data", dir}, c); code != 0 {
		t.Fatalf("init: %s", errb.String())
	}
	cmd := func(args ...string) (int, string, string) {
		c, out, errb := testCLI(t)
		code := run(ctx, args, c)
		return code, out.String(), errb.String()
	}
	code, o, e := cmd("webhook", "add", "--data", dir, "--url", "https://platform.example/santong", "--kinds", "certificate.revoked,certificate.suspended")
	if code != 0 || !strings.Contains(o, "secret: whsec_") {
		t.Fatalf("add: %d %s %s", code, o, e)
	}
	id := strings.Fields(o)[1]
	id = strings.TrimSuffix(id, ":")
	if fi, err := os.Stat(filepath.Join(dir, webhooksDir, "subscribers.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("subscribers file: %v %v", fi, err)
	}
	code, o, _ = cmd("webhook", "list", "--data", dir)
	if code != 0 || !strings.Contains(o, id) || !strings.Contains(o, "kinds=certificate.revoked,certificate.suspended") || strings.Contains(o, "whsec_") {
		t.Errorf("list: %d %s", code, o)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "http://platform.example/h"}, "plain http"},
		{[]string{"--url", "platform.example/h"}, "absolute https"},
		{[]string{}, "--url is required"},
		{[]string{"--url", "https://p.example/h", "--kinds", "cert.gone"}, "unknown change kind"},
		{[]string{"--url", "https://p.example/h", "--from", "yesterday"}, "--from"},
	} {
		code, _, e := cmd(append([]string{"webhook", "add", "--data", dir}, tc.args...)...)
		if code != 2 || !strings.Contains(e, tc.want) {
			t.Errorf("add %v: %d %q, want %q", tc.args, code, e, tc.want)
		}
	}
	if code, _, e := cmd("webhook", "remove", "--data", dir, "wh_nope"); code == 0 || !strings.Contains(e, "no webhook subscriber") {
		t.Errorf("remove unknown: %d %s", code, e)
	}
	if code, o, e := cmd("webhook", "remove", "--data", dir, id); code != 0 || !strings.Contains(o, "removed") {
		t.Errorf("remove: %d %s %s", code, o, e)
	}
	if _, o, _ := cmd("webhook", "list", "--data", dir); !strings.Contains(o, "no webhook subscribers") {
		t.Errorf("list after remove: %s", o)
	}
	_ = out.String()
}
