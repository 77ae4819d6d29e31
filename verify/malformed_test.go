package verify

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMalformedHTTP sends malformed requests over a real connection: each gets a 4xx, never a
// 5xx or a dropped connection without an answer.
func TestMalformedHTTP(t *testing.T) {
	f := newFixture()
	s := newTestServer(t, f, Config{})
	addr, stop := runLoopback(t, s)
	defer stop()
	tok := f.token(0, 1)
	cases := []struct {
		name, raw string
		want      int
	}{
		{"bad request line", "GARBAGE\r\n\r\n", 400},
		{"bad version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505},
		{"no host", "GET /healthz HTTP/1.1\r\n\r\n", 400},
		{"huge header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431},
		{"bad escape in token", "GET /q/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"nul in path", "GET /q/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"dot segments", "GET /q/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"encoded slash in token", "GET /q/1AB%2F..%2F HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"long token", "GET /q/" + strings.Repeat("Z", 8000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"long gs1 path", "GET /01/" + strings.Repeat("1", 500) + " HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"post without length", "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n", 400},
		{"bad content length", "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400},
		{"huge content length", "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{", 413},
		{"chunked too big", "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n30000\r\n" + strings.Repeat("a", 0x30000) + "\r\n0\r\n\r\n", 413},
		{"trace", "TRACE /q/" + tok + " HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"bad accept", "GET /q/" + tok + " HTTP/1.1\r\nHost: x\r\nAccept: ;;;,,*/\r\n\r\n", 200},
		{"bad query", "GET /api/v1/enterprises?q=%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"forwarded ip not trusted", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			go conn.Write([]byte(c.raw))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
}

// TestGracefulShutdown: a write in flight when the context ends is answered before Run returns,
// and new connections are refused after.
func TestGracefulShutdown(t *testing.T) {
	f := newFixture()
	f.reg.submitWait = make(chan struct{})
	s := newTestServer(t, f, Config{})
	addr, stop := runLoopback(t, s)
	got := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+addr+"/api/v1/events", "application/json", strings.NewReader(`{"chain":"`+entA+`"}`))
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-f.reg.submitWait // the write is in flight
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	if code := <-got; code != 201 {
		t.Fatalf("in-flight write: %d", code)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Errorf("still serving after Run returned")
	}
}
