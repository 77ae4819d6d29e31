package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressLines: output that is not a terminal gets lines with counts and a rate, not a
// bar's carriage returns; work over in under two seconds says nothing.
func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := &progressLines{w: &b, what: "labels", start: time.Now().Add(-10 * time.Second), every: 0}
	p.update(500, 1000)
	p.update(1000, 1000)
	out := b.String()
	if strings.Contains(out, "\r") || strings.Count(out, "\n") != 2 ||
		!strings.Contains(out, "labels: 500 of 1000 (50%)") || !strings.Contains(out, "1000 of 1000 (100%)") || !strings.Contains(out, "done") {
		t.Fatalf("progress lines:\n%s", out)
	}
	b.Reset()
	q := &progressLines{w: &b, what: "quick", start: time.Now(), every: time.Hour}
	q.update(1, 2)
	q.update(2, 2)
	if b.Len() != 0 {
		t.Fatalf("quick work reported: %q", b.String())
	}
	c := &cli{stderr: &b}
	if c.progress("x") == nil {
		t.Fatal("no progress reporting when stderr is not a terminal")
	}
}
