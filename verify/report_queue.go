package verify

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/atomicfile"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
)

// # The report queue
//
// A report is acknowledged ("received", with its reference) only once it is durable: the
// queue writes it as one file, DIR/queue/REF.json, through a temporary file, fsync, rename
// and an fsync of the directory (internal/atomicfile). The recorder (report_record.go) then
// records it as a complaint.received event and replaces the file by DIR/done/REF.json, which
// keeps the reference, the complaint's id and its ledger index and nothing the consumer wrote
// (that is in the attachments store from then on). A report that names no enterprise (a code
// whose batch is unknown) cannot be a complaint on any chain: it is moved to DIR/held/ for the
// operator to pass on (docs/operations.md). Files are 0600 in 0700 directories: the queue holds
// personal data until it is recorded.
//
// The salts of a report's attachments are drawn when it is accepted and kept in its file, so
// that a recording retried after a crash makes the same commitments and the same event.

// maxQueued bounds the reports waiting to be recorded: past it the form answers 503 (the
// recorder is down or the log refuses writes), so that a flood cannot fill the disk.
const maxQueued = 10_000

// queuedReport is a report in the queue: what the consumer wrote, what it is about, and what
// the recorder needs to make the same event every time.
type queuedReport struct {
	V         int                 `json:"v"`
	Ref       string              `json:"ref"`
	Complaint uuid.UUID           `json:"complaint"` // the complaint's id (its subject)
	Received  time.Time           `json:"received"`
	Client    string              `json:"client"` // the keyed hash of the client's address (report.go)
	Lang      string              `json:"lang"`
	Input     ReportInput         `json:"input"`
	Target    ReportTarget        `json:"target"`
	Attach    []attach.Attachment `json:"attachments"` // complaint (and contact), salted
}

// reportState is what the queue knows of a reference.
type reportState struct {
	Ref       string    `json:"ref"`
	State     string    `json:"state"` // queued, recorded, held
	Complaint uuid.UUID `json:"complaint"`
	Received  time.Time `json:"received"`
	Index     int64     `json:"index,omitempty"` // the complaint's ledger index, once recorded
	Recorded  time.Time `json:"recorded,omitzero"`
	Held      string    `json:"held,omitempty"` // why it could not be recorded
}

// Report states.
const (
	reportQueued   = "queued"
	reportRecorded = "recorded"
	reportHeld     = "held"
)

// reportQueue is the durable queue of reports in a directory.
type reportQueue struct {
	dir   string
	mu    sync.Mutex
	count int                               // files in queue/
	write func(path string, b []byte) error // atomicfile.Write; a test's to break
}

// openReportQueue opens (creating) the queue in dir.
func openReportQueue(dir string) (*reportQueue, error) {
	for _, d := range []string{"queue", "done", "held"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("report queue: %w", err)
		}
	}
	q := &reportQueue{dir: dir, write: atomicfile.Write}
	refs, err := q.pending()
	if err != nil {
		return nil, err
	}
	q.count = len(refs)
	return q, nil
}

var errQueueFull = fault.New(fault.Pushback, "too many reports are waiting to be recorded: please call 12315 instead, or try again later")

// put stores r durably; only then may the report be acknowledged.
func (q *reportQueue) put(r *queuedReport) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count >= maxQueued {
		return errQueueFull
	}
	if err := q.write(q.path("queue", r.Ref), b); err != nil {
		return fmt.Errorf("store the report: %w", err)
	}
	q.count++
	return nil
}

func (q *reportQueue) path(sub, ref string) string { return filepath.Join(q.dir, sub, ref+".json") }

// pending lists the queued references, oldest first (references sort by time).
func (q *reportQueue) pending() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(q.dir, "queue"))
	if err != nil {
		return nil, fmt.Errorf("report queue: %w", err)
	}
	var refs []string
	for _, e := range ents {
		if ref, ok := strings.CutSuffix(e.Name(), ".json"); ok && validRef(ref) {
			refs = append(refs, ref)
		}
	}
	slices.Sort(refs)
	return refs, nil
}

// get reads a queued report.
func (q *reportQueue) get(ref string) (*queuedReport, error) {
	b, err := os.ReadFile(q.path("queue", ref))
	if err != nil {
		return nil, err
	}
	r := new(queuedReport)
	if err := json.Unmarshal(b, r); err != nil || r.Ref != ref {
		return nil, fmt.Errorf("report %s: damaged queue file", ref)
	}
	return r, nil
}

// finish replaces a queued report by its state (recorded or held); a held report keeps its
// content (the operator passes it on).
func (q *reportQueue) finish(r *queuedReport, st reportState) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var b []byte
	var err error
	sub := "done"
	if st.State == reportHeld {
		sub = "held"
		b, err = json.Marshal(struct {
			*queuedReport
			State reportState `json:"state"`
		}{r, st})
	} else {
		b, err = json.Marshal(st)
	}
	if err != nil {
		return err
	}
	if err := q.write(q.path(sub, r.Ref), b); err != nil {
		return err
	}
	if err := os.Remove(q.path("queue", r.Ref)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	q.count--
	return nil
}

// state reads a reference's state; fault.NotFound when the queue never acknowledged it.
func (q *reportQueue) state(ref string) (*reportState, error) {
	if !validRef(ref) {
		return nil, notFound("report")
	}
	if b, err := os.ReadFile(q.path("done", ref)); err == nil {
		st := new(reportState)
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("report %s: damaged state file", ref)
		}
		return st, nil
	}
	if b, err := os.ReadFile(q.path("held", ref)); err == nil {
		var h struct {
			State reportState `json:"state"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			return nil, fmt.Errorf("report %s: damaged held file", ref)
		}
		return &h.State, nil
	}
	r, err := q.get(ref)
	if errors.Is(err, os.ErrNotExist) {
		return nil, notFound("report")
	}
	if err != nil {
		return nil, err
	}
	return &reportState{Ref: ref, State: reportQueued, Complaint: r.Complaint, Received: r.Received}, nil
}

// A reference is R, the day (UTC, YYYYMMDD), a hyphen and 10 characters of Crockford's base32
// (50 random bits): "R20261203-7K3M9Q2XAB". People read it out on the telephone; it sorts by day.
const refAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func newRef(now time.Time) string {
	var r [10]byte
	rand.Read(r[:])
	b := make([]byte, 0, 20)
	b = append(b, 'R')
	b = now.UTC().AppendFormat(b, "20060102")
	b = append(b, '-')
	for _, x := range r {
		b = append(b, refAlphabet[x&31])
	}
	return string(b)
}

func validRef(s string) bool {
	if len(s) != 20 || s[0] != 'R' || s[9] != '-' {
		return false
	}
	if _, err := time.Parse("20060102", s[1:9]); err != nil {
		return false
	}
	for i := 10; i < 20; i++ {
		if !strings.ContainsRune(refAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}
