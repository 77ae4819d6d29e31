package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressBar draws a one-line bar on a terminal, at most ten times a second.
type progressBar struct {
	w     io.Writer
	what  string
	start time.Time
	last  time.Time
}

// progress returns a progress callback (done, total) that draws a bar on stderr when it is a
// terminal, and otherwise (a log file, a pipe, CI) writes a line every few seconds with the
// counts and the rate, and a last one when the work is done, if it took more than two seconds.
func (c *cli) progress(what string) func(done, total uint64) {
	if !c.tty {
		p := &progressLines{w: c.stderr, what: what, start: time.Now(), every: progressEvery}
		return p.update
	}
	p := &progressBar{w: c.stderr, what: what, start: time.Now()}
	return p.update
}

// progressEvery is how often progressLines writes.
const progressEvery = 5 * time.Second

// progressLines reports progress as lines, for output that is not a terminal.
type progressLines struct {
	w     io.Writer
	what  string
	start time.Time
	last  time.Time
	every time.Duration
}

func (p *progressLines) update(done, total uint64) {
	now := time.Now()
	if p.last.IsZero() {
		p.last = p.start
	}
	finished := done >= total
	if finished && now.Sub(p.start) < 2*time.Second && p.last == p.start {
		return
	}
	if !finished && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	secs := now.Sub(p.start).Seconds()
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	state := ""
	if finished {
		state = ", done"
	}
	fmt.Fprintf(p.w, "santong: %s: %d of %d (%.0f%%), %s/s, %.0fs%s\n", p.what, done, total, pct,
		humanCount(float64(done)/max(secs, 0.001)), secs, state)
}

func (p *progressBar) update(done, total uint64) {
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	n := int(frac * width)
	rate := ""
	if secs := now.Sub(p.start).Seconds(); secs > 0.05 {
		rate = fmt.Sprintf("  %s/s", humanCount(float64(done)/secs))
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%%  %d/%d%s\x1b[K", p.what, strings.Repeat("#", n), strings.Repeat(".", width-n),
		100*frac, done, total, rate)
	if done >= total {
		fmt.Fprintf(p.w, "  %.1fs\n", now.Sub(p.start).Seconds())
	}
}

// humanCount writes 1234567 as 1.2M.
func humanCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
