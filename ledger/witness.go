package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The witness client (C2SP tlog-witness): after each new checkpoint the log sends
//
//	POST <witness URL>/add-checkpoint
//
//	old <size the witness last cosigned>
//	<consistency proof from that size, one base64 hash a line>
//	<blank line>
//	<the signed checkpoint>
//
// to every witness, and keeps the cosignature line each returns. A 409 answer names, in a
// text/x.tlog.size body, the size the witness knows: the client resubmits from there. Each witness
// has its own goroutine, with a bounded timeout and a capped exponential backoff: a slow or dead
// witness delays neither appends nor signing nor the other witnesses. Cosignatures are
// appended to /checkpoint by Cosigned.

// WitnessConfig names one witness: its name (also its key's name), its base URL and its
// cosignature/v1 verifier key.
type WitnessConfig struct {
	Name string
	URL  string
	Key  *CosignatureVerifier
}

// ParseWitness parses NAME=URL,VKEY (the form of serve --witness).
func ParseWitness(s string) (WitnessConfig, error) {
	name, rest, ok := strings.Cut(s, "=")
	u, vkey, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 || name == "" {
		return WitnessConfig{}, fmt.Errorf("witness %q: want NAME=URL,VKEY", s)
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return WitnessConfig{}, fmt.Errorf("witness %s: %q is not an http(s) URL", name, u)
	}
	k, err := NewCosignatureVerifier(vkey)
	if err != nil {
		return WitnessConfig{}, fmt.Errorf("witness %s: %w", name, err)
	}
	return WitnessConfig{Name: name, URL: strings.TrimSuffix(u, "/"), Key: k}, nil
}

// WitnessOptions tunes the client; zero values take the defaults.
type WitnessOptions struct {
	Timeout    time.Duration // one request (default 5s)
	BackoffMin time.Duration // first retry after a failure (default 1s)
	BackoffMax time.Duration // cap of the doubling backoff (default 1m)
	Client     *http.Client  // default: a client with no redirects
	Logger     *slog.Logger
}

// Witnesses submits the log's checkpoints to its witnesses and collects their cosignatures.
type Witnesses struct {
	log  *Log
	opts WitnessOptions
	ws   []*witnessState
}

type witnessState struct {
	cfg WitnessConfig

	mu    sync.Mutex
	known int64       // the size the witness said it knows (0 at start: "old 0")
	cp    Checkpoint  // the checkpoint of the last cosignature
	cosig Cosignature // the last cosignature

	ok, conflicts, failures atomic.Int64
	lastOK                  atomic.Int64 // unix seconds of the last cosignature
	knownSize               atomic.Int64
}

// WitnessStats is one witness's counters, for metrics.
type WitnessStats struct {
	Name                          string
	Cosigned, Conflicts, Failures int64
	CosignedSize                  int64 // size of the last checkpoint it cosigned
	LastCosignature               time.Time
}

// NewWitnesses returns a client for the witnesses of l; Run starts it.
func NewWitnesses(l *Log, ws []WitnessConfig, opts WitnessOptions) *Witnesses {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = time.Second
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = max(time.Minute, opts.BackoffMin)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Logger == nil {
		opts.Logger = l.log
	}
	w := &Witnesses{log: l, opts: opts}
	for _, c := range ws {
		w.ws = append(w.ws, &witnessState{cfg: c})
	}
	return w
}

// Run submits checkpoints until ctx is done, one goroutine per witness.
func (w *Witnesses) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, st := range w.ws {
		wg.Go(func() { w.run(ctx, st) })
	}
	wg.Wait()
}

func (w *Witnesses) run(ctx context.Context, st *witnessState) {
	done := int64(-1) // the size this witness last cosigned for us
	backoff := w.opts.BackoffMin
	for {
		cp, err := w.log.NextCheckpoint(ctx, done)
		if err != nil {
			return
		}
		err = w.submit(ctx, st, cp)
		if err == nil {
			done, backoff = cp.Size, w.opts.BackoffMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		st.failures.Add(1)
		w.opts.Logger.Warn("witness", "witness", st.cfg.Name, "size", cp.Size, "err", err, "retry_in", backoff)
		jitter := time.Duration(rand.Int64N(int64(backoff)/4 + 1))
		select {
		case <-time.After(backoff + jitter):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, w.opts.BackoffMax)
	}
}

// errConflict is a 409 with the size the witness knows.
type errConflict struct{ known int64 }

func (e errConflict) Error() string { return fmt.Sprintf("the witness knows size %d", e.known) }

// submit sends cp to the witness, following up to 3 conflicts' size hints.
func (w *Witnesses) submit(ctx context.Context, st *witnessState, cp *SignedCheckpoint) error {
	for range 3 {
		st.mu.Lock()
		old := st.known
		st.mu.Unlock()
		if old > cp.Size {
			return fmt.Errorf("the witness knows size %d, more than this log's checkpoint of size %d: it saw another tree of this log", old, cp.Size)
		}
		line, err := w.addCheckpoint(ctx, st, old, cp)
		var c errConflict
		if errors.As(err, &c) {
			st.conflicts.Add(1)
			st.mu.Lock()
			st.known = c.known
			st.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		st.mu.Lock()
		st.known, st.cp, st.cosig = cp.Size, cp.Checkpoint, line
		st.mu.Unlock()
		st.ok.Add(1)
		st.knownSize.Store(cp.Size)
		st.lastOK.Store(time.Now().Unix())
		return nil
	}
	return errors.New("the witness kept answering 409 Conflict")
}

// addCheckpoint makes one add-checkpoint request and returns the witness's valid cosignature.
func (w *Witnesses) addCheckpoint(ctx context.Context, st *witnessState, old int64, cp *SignedCheckpoint) (Cosignature, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	if old > 0 {
		proof, err := w.log.ConsistencyProof(old, cp.Size)
		if err != nil {
			return Cosignature{}, fmt.Errorf("consistency proof %d→%d: %w", old, cp.Size, err)
		}
		for _, h := range proof {
			fmt.Fprintf(&body, "%s\n", h)
		}
	}
	body.WriteString("\n")
	body.Write(cp.Note)

	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.cfg.URL+"/add-checkpoint", &body)
	if err != nil {
		return Cosignature{}, err
	}
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return Cosignature{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Cosignature{}, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		n, err := strconv.ParseInt(strings.TrimSuffix(string(b), "\n"), 10, 64)
		if err != nil || n < 0 || resp.Header.Get("Content-Type") != "text/x.tlog.size" {
			return Cosignature{}, fmt.Errorf("409 Conflict without a valid size (%q)", b)
		}
		return Cosignature{}, errConflict{n}
	default:
		return Cosignature{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	// The body is signature lines; keep the one that is a valid cosignature of cp by this witness.
	cs := Cosignatures(append(bytes.Clone(cp.Note), b...), []*CosignatureVerifier{st.cfg.Key})
	if len(cs) == 0 {
		return Cosignature{}, fmt.Errorf("the answer holds no valid cosignature by %s", st.cfg.Key.Name())
	}
	return cs[0], nil
}

// Cosigned returns cp's signed note with the cosignature lines of the witnesses that cosigned
// exactly cp appended, as C2SP clients expect.
func (w *Witnesses) Cosigned(cp *SignedCheckpoint) []byte {
	if w == nil || cp == nil || len(cp.Note) == 0 {
		return nil
	}
	out := bytes.Clone(cp.Note)
	for _, st := range w.ws {
		st.mu.Lock()
		if st.cosig.Line != "" && st.cp == cp.Checkpoint {
			out = append(out, st.cosig.Line...)
		}
		st.mu.Unlock()
	}
	return out
}

// Stats returns each witness's counters.
func (w *Witnesses) Stats() []WitnessStats {
	if w == nil {
		return nil
	}
	var out []WitnessStats
	for _, st := range w.ws {
		s := WitnessStats{Name: st.cfg.Name, Cosigned: st.ok.Load(), Conflicts: st.conflicts.Load(), Failures: st.failures.Load(),
			CosignedSize: st.knownSize.Load()}
		if t := st.lastOK.Load(); t > 0 {
			s.LastCosignature = time.Unix(t, 0)
		}
		out = append(out, s)
	}
	return out
}

// NextCheckpoint waits for a signed checkpoint larger than size and returns it.
func (l *Log) NextCheckpoint(ctx context.Context, size int64) (*SignedCheckpoint, error) {
	for {
		l.cpMu.Lock()
		cp, wait := l.cp.Load(), l.cpWait
		l.cpMu.Unlock()
		if cp.Note != nil && cp.Size > size {
			return cp, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
