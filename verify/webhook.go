package verify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/santong-cn/santong/internal/atomicfile"
)

// # Webhooks
//
// The operator registers subscribers (santong webhook add): a URL, a secret and filters. The
// service delivers every change of the feed (changes.go) that passes a subscriber's filters to
// its URL, one change per request, in log order:
//
//	POST <url>
//	Content-Type: application/json
//	Santong-Webhook-Id: <the change's id: a record index, or expired:<certificate>>
//	Santong-Webhook-Timestamp: <Unix seconds of this attempt>
//	Santong-Webhook-Signature: v1=<base64 of HMAC-SHA256(secret, id + "." + timestamp + "." + body)>
//
//	<the change, as GET /api/v1/changes lists it>
//
// A 2xx answer acknowledges the change; anything else, or no answer within 10 s, is retried
// with exponential backoff (1 s doubling to 5 min, ±20 %; a Retry-After is honoured), and the
// subscriber's later changes wait behind it, so that a receiver sees them in order. Delivery is
// at least once: the subscriber's cursor is written durably (write, fsync, rename, fsync of the
// directory) only after the acknowledgement, so a change in flight when the process dies is
// delivered again after the restart. The id is the idempotency key: a receiver that has seen
// an id ignores it. The outbox is the log itself: a subscriber's state is its cursor, so nothing
// is queued that the log does not hold already.
//
// Files, under the data directory's webhooks/ (mode 0600, written crash-safely):
//
//	subscribers.json    [{"id","url","secret","kinds","schemes","enterprises","from","created"}]
//	state/<id>.json     {"cursor": N, "expiries": {"expired:<cert>": position}}
//
// The service rereads subscribers.json when it changes (every 2 s), so that santong webhook
// add and remove take effect on a running service.

// Subscriber is a webhook receiver, as the operator registered it.
type Subscriber struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Secret string `json:"secret"` // the HMAC key, as given (the bytes of the string)
	// Filters: a change is delivered when it passes each filter that is set.
	Kinds       []string `json:"kinds,omitempty"`       // change kinds (certificate.revoked, ...)
	Schemes     []string `json:"schemes,omitempty"`     // changes of these schemes only (enterprise registrations have none)
	Enterprises []string `json:"enterprises,omitempty"` // enterprise ids
	// From is the cursor delivery starts after: -1 the start of the log, -2 the log's end when
	// the service first sees the subscriber.
	From    int64     `json:"from"`
	Created time.Time `json:"created"`
}

// Cursor positions a new subscriber's From can take.
const (
	FromStart int64 = -1
	FromNow   int64 = -2
)

// Match reports whether ch passes s's filters.
func (s *Subscriber) Match(ch Change) bool {
	if len(s.Kinds) > 0 && !slices.Contains(s.Kinds, ch.Kind) {
		return false
	}
	if len(s.Schemes) > 0 && !slices.Contains(s.Schemes, ch.Scheme) {
		return false
	}
	if len(s.Enterprises) > 0 && !slices.Contains(s.Enterprises, ch.Enterprise) {
		return false
	}
	return true
}

// Check validates a subscriber before it is stored: an absolute http(s) URL (plain http only
// to a loopback host, unless insecure), a secret of at least 16 bytes, known kinds.
func (s *Subscriber) Check(insecure bool) error {
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("--url %q: want an absolute https:// URL", s.URL)
	}
	if u.Scheme == "http" && !insecure && !isLoopback(u.Hostname()) {
		return fmt.Errorf("--url %q: plain http to a host other than loopback sends the changes unprotected; use https, or pass --allow-insecure", s.URL)
	}
	if len(s.Secret) < 16 {
		return errors.New("the secret must be at least 16 bytes")
	}
	for _, k := range s.Kinds {
		if !slices.Contains(ChangeKinds, k) {
			return fmt.Errorf("--kinds: unknown change kind %q (known: %s)", k, strings.Join(ChangeKinds, ", "))
		}
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}

// ChangeKinds lists every change kind.
var ChangeKinds = []string{ChangeEnterprise, ChangeGranted, ChangeSuspended, ChangeReinstated, ChangeRevoked, ChangeExpired, ChangeOverdue, ChangeRecalled}

// NewSecret returns a fresh random webhook secret.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// NewSubscriberID returns a fresh subscriber id.
func NewSubscriberID() string {
	var b [6]byte
	rand.Read(b[:])
	return "wh_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// SignWebhook returns the Santong-Webhook-Signature value of a delivery.
func SignWebhook(secret, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id))
	m.Write([]byte("."))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a delivery's signature header (which may carry several
// space-separated signatures during a secret's rotation) and that its timestamp is within
// tolerance of now: what a receiver does. It is here for receivers written in Go and for tests.
func VerifyWebhook(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts := h.Get("Santong-Webhook-Id"), h.Get("Santong-Webhook-Timestamp")
	t, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return errors.New("webhook: missing or malformed id or timestamp header")
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: timestamp outside the tolerance")
	}
	want := SignWebhook(secret, id, t, body)
	for _, sig := range strings.Fields(h.Get("Santong-Webhook-Signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: no valid signature")
}

// ReadSubscribers reads a webhooks directory's subscribers (none if the file does not exist).
func ReadSubscribers(dir string) ([]Subscriber, error) {
	b, err := os.ReadFile(filepath.Join(dir, "subscribers.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l []Subscriber
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "subscribers.json"), err)
	}
	return l, nil
}

// WriteSubscribers replaces a webhooks directory's subscribers, crash-safely and readable by
// the owner only (the file holds the secrets).
func WriteSubscribers(dir string, l []Subscriber) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if l == nil {
		l = []Subscriber{}
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "subscribers.json"), append(b, '\n'))
}

// WebhookState is a subscriber's delivery state.
type WebhookState struct {
	Cursor int64 `json:"cursor"` // every change of records up to here is delivered
	// Expiries delivered at positions above the cursor (an expiry's position can be the
	// cursor's next record, or the log's end while it is pending), to deliver each once.
	Expiries map[string]int64 `json:"expiries,omitempty"`
	// ExpiryEnds are the delivered expiries' ends (Unix nanoseconds): an expiry's position is
	// final only once a record after its end is in the log, and until then it is kept even
	// when the cursor passed the position it had (a later record may turn out to be the first
	// after its end, and would deliver it again).
	ExpiryEnds map[string]int64 `json:"expiry_ends,omitempty"`
	// The last attempt's outcome and the count acknowledged, for santong webhook list.
	LastError string    `json:"last_error,omitempty"`
	LastTry   time.Time `json:"last_try,omitzero"`
	Delivered int64     `json:"delivered"`
}

// ReadWebhookState reads a subscriber's state; ok is false if it has none yet.
func ReadWebhookState(dir, id string) (st WebhookState, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "state", id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("webhook state of %s: %w", id, err)
	}
	return st, true, nil
}

func writeWebhookState(dir, id string, st WebhookState) error {
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "state", id+".json"), b)
}

// WebhookOptions configures a Webhooks dispatcher.
type WebhookOptions struct {
	Dir    string // the webhooks directory (subscribers.json, state/)
	Feed   ChangeFeed
	Log    LogReader // for the checkpoint's size, and to wait for a larger one
	Origin string    // the public base URL, for the changes' record links
	Logger *slog.Logger
	Client *http.Client // default: 10 s timeout

	// Backoff between attempts at one change: MinBackoff doubling to MaxBackoff (defaults 1 s
	// and 5 min). Reload is how often subscribers.json is looked at (default 2 s).
	MinBackoff, MaxBackoff, Reload time.Duration
	Now                            func() time.Time
}

// Webhooks delivers the change feed to the registered subscribers.
type Webhooks struct {
	o WebhookOptions

	mu      sync.Mutex
	running map[string]*subscriberRun

	delivered, failed *prometheus.CounterVec
	lag               *prometheus.GaugeVec
}

type subscriberRun struct {
	sub    Subscriber
	cancel context.CancelFunc
	done   chan struct{}
}

// NewWebhooks returns a dispatcher; Run starts it.
func NewWebhooks(o WebhookOptions) *Webhooks {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Reload <= 0 {
		o.Reload = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &Webhooks{o: o, running: map[string]*subscriberRun{}}
	w.delivered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "santong_webhook_deliveries_total", Help: "Changes acknowledged by webhook subscribers.",
	}, []string{"subscriber"})
	w.failed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "santong_webhook_failures_total", Help: "Webhook delivery attempts that failed (retried with backoff).",
	}, []string{"subscriber"})
	w.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "santong_webhook_lag_records", Help: "Records under the checkpoint that a subscriber's cursor has not passed.",
	}, []string{"subscriber"})
	return w
}

// Collectors are the dispatcher's metrics.
func (w *Webhooks) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.delivered, w.failed, w.lag}
}

// Run delivers until ctx is done, following subscribers.json.
func (w *Webhooks) Run(ctx context.Context) {
	defer w.stopAll()
	var last []byte
	for {
		b, err := os.ReadFile(filepath.Join(w.o.Dir, "subscribers.json"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			w.o.Logger.Error("webhooks: cannot read the subscribers", "err", err)
		} else if !bytes.Equal(b, last) {
			last = b
			if l, err := ReadSubscribers(w.o.Dir); err != nil {
				w.o.Logger.Error("webhooks: cannot read the subscribers", "err", err)
			} else {
				w.reconcile(ctx, l)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.o.Reload):
		}
	}
}

// reconcile starts the subscribers that are new or changed and stops those removed.
func (w *Webhooks) reconcile(ctx context.Context, l []Subscriber) {
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[string]Subscriber{}
	for _, s := range l {
		want[s.ID] = s
	}
	for id, r := range w.running {
		if s, ok := want[id]; !ok || !subscriberEqual(s, r.sub) {
			r.cancel()
			<-r.done
			delete(w.running, id)
			w.lag.DeleteLabelValues(id)
		}
	}
	for id, s := range want {
		if _, ok := w.running[id]; ok {
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &subscriberRun{sub: s, cancel: cancel, done: make(chan struct{})}
		w.running[id] = r
		go func() {
			defer close(r.done)
			w.deliverAll(rctx, s)
		}()
		w.o.Logger.Info("webhooks: delivering", "subscriber", id, "host", hostOf(s.URL))
	}
}

func subscriberEqual(a, b Subscriber) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func (w *Webhooks) stopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, r := range w.running {
		r.cancel()
		<-r.done
		delete(w.running, id)
	}
}

// hostOf is the part of a subscriber's URL that is logged (its path or query may hold a token).
func hostOf(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Host
	}
	return ""
}

// deliverAll is one subscriber's loop: page through the feed from its cursor, deliver, save.
func (w *Webhooks) deliverAll(ctx context.Context, s Subscriber) {
	log := w.o.Logger.With("subscriber", s.ID)
	st, ok, err := ReadWebhookState(w.o.Dir, s.ID)
	for err != nil {
		log.Error("webhooks: cannot read the subscriber's state; retrying", "err", err)
		if !sleepCtx(ctx, w.o.MaxBackoff) {
			return
		}
		st, ok, err = ReadWebhookState(w.o.Dir, s.ID)
	}
	if !ok {
		st.Cursor = s.From
		if s.From == FromNow {
			st.Cursor = w.size() - 1
		}
		if st.Cursor < -1 {
			st.Cursor = -1
		}
		if !w.save(ctx, log, s.ID, &st) {
			return
		}
	}
	if st.Expiries == nil {
		st.Expiries = map[string]int64{}
	}
	for ctx.Err() == nil {
		size := w.size()
		w.lag.WithLabelValues(s.ID).Set(float64(max(0, size-1-st.Cursor)))
		list, pending, next, err := w.o.Feed.Changes(st.Cursor, 100, size, w.o.Now())
		if err != nil {
			log.Error("webhooks: cannot read the change feed", "err", err)
			if !sleepCtx(ctx, w.o.MinBackoff) {
				return
			}
			continue
		}
		dirty := false
		for _, ch := range list {
			if !w.deliverOne(ctx, log, s, &st, ch) {
				return
			}
			if !ch.Positional() {
				st.Cursor = ch.Index
				w.prune(&st)
				dirty = true
				if s.Match(ch) { // acknowledged: store the cursor before the next delivery
					if !w.save(ctx, log, s.ID, &st) {
						return
					}
					dirty = false
				}
			}
		}
		for _, ch := range pending {
			if !w.deliverOne(ctx, log, s, &st, ch) {
				return
			}
		}
		if next != st.Cursor || dirty {
			st.Cursor = max(st.Cursor, next)
			w.prune(&st)
			if !w.save(ctx, log, s.ID, &st) {
				return
			}
		}
		w.lag.WithLabelValues(s.ID).Set(float64(max(0, size-1-st.Cursor)))
		if len(list) == 100 {
			continue // more to page through
		}
		// Wait for a larger checkpoint, or a second (an expiry may pass).
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		w.o.Log.WaitCheckpoint(wctx, size+1)
		cancel()
	}
}

// deliverOne delivers ch to s if it matches and has not been delivered, retrying until it is
// acknowledged; false if ctx ended first.
func (w *Webhooks) deliverOne(ctx context.Context, log *slog.Logger, s Subscriber, st *WebhookState, ch Change) bool {
	if !s.Match(ch) {
		return true
	}
	if ch.Positional() {
		if _, done := st.Expiries[ch.ID]; done {
			st.Expiries[ch.ID] = ch.Index
			return true
		}
	} else if ch.Index <= st.Cursor {
		return true
	}
	if !ch.Positional() && w.o.Origin != "" {
		ch.Record = w.o.Origin + "/api/v1/records/" + strconv.FormatInt(ch.Index, 10)
	}
	body, err := json.Marshal(ch)
	if err != nil {
		log.Error("webhooks: cannot encode a change", "id", ch.ID, "err", err)
		return true
	}
	backoff := w.o.MinBackoff
	for attempt := 1; ; attempt++ {
		wait, err := w.post(ctx, s, ch.ID, body)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		w.failed.WithLabelValues(s.ID).Inc()
		st.LastError, st.LastTry = err.Error(), w.o.Now().UTC()
		writeWebhookState(w.o.Dir, s.ID, *st) // for santong webhook list; the cursor in it is not ahead of an acknowledgement
		d := jitter(backoff)
		if wait > d {
			d = min(wait, w.o.MaxBackoff)
		}
		log.Warn("webhooks: delivery failed; retrying", "id", ch.ID, "attempt", attempt, "err", err, "retry_in", d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return false
		}
		backoff = min(2*backoff, w.o.MaxBackoff)
	}
	w.delivered.WithLabelValues(s.ID).Inc()
	st.Delivered++
	st.LastError, st.LastTry = "", w.o.Now().UTC()
	if ch.Positional() {
		st.Expiries[ch.ID] = ch.Index
		if ch.ValidUntil != nil {
			if st.ExpiryEnds == nil {
				st.ExpiryEnds = map[string]int64{}
			}
			st.ExpiryEnds[ch.ID] = ch.ValidUntil.UnixNano()
		}
		return w.save(ctx, log, s.ID, st)
	}
	return true
}

// post makes one attempt; the duration is a Retry-After's.
func (w *Webhooks) post(ctx context.Context, s Subscriber, id string, body []byte) (time.Duration, error) {
	ts := w.o.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "santong-webhook/1")
	req.Header.Set("Santong-Webhook-Id", id)
	req.Header.Set("Santong-Webhook-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("Santong-Webhook-Signature", SignWebhook(s.Secret, id, ts, body))
	resp, err := w.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a token
		}
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return 0, nil
	}
	var wait time.Duration
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		wait = time.Duration(n) * time.Second
	}
	return wait, fmt.Errorf("HTTP %d", resp.StatusCode)
}

// save writes st durably, retrying on failure (a full disk): a change is never acknowledged
// to the cursor without being stored. False if ctx ended first.
func (w *Webhooks) save(ctx context.Context, log *slog.Logger, id string, st *WebhookState) bool {
	for {
		err := writeWebhookState(w.o.Dir, id, *st)
		if err == nil {
			return true
		}
		log.Error("webhooks: cannot save the subscriber's cursor; retrying", "err", err)
		if !sleepCtx(ctx, w.o.MinBackoff) {
			return false
		}
	}
}

// prune forgets the delivered expiries the cursor has passed.
func (w *Webhooks) prune(st *WebhookState) {
	var at int64 = -1 // the time of the cursor's record, read once
	for id, pos := range st.Expiries {
		if pos > st.Cursor {
			continue
		}
		if end, ok := st.ExpiryEnds[id]; ok {
			if at < 0 {
				rec, err := w.o.Log.Record(st.Cursor)
				if err != nil {
					return // keep them all: pruning is only an economy
				}
				at = rec.Time.UnixNano()
			}
			if at <= end {
				continue // no record after its end yet: its position may still move
			}
		}
		delete(st.Expiries, id)
		delete(st.ExpiryEnds, id)
	}
}

func (w *Webhooks) size() int64 {
	if cp := w.o.Log.Checkpoint(); cp != nil {
		return cp.Size
	}
	return 0
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
