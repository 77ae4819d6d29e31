package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/attach"
)

// A verification replica (santong serve --follow) is this service over a replica log
// (ledger.Options.Follow) that a ledger.Follower keeps up with the primary. It serves scans, the
// registry, tiles and the primary's checkpoint (the same signed bytes) from its own state; what
// it needs beside the usual Deps is here: its writes refused with the primary's address, its
// readiness rule and its metrics.

// ReplicaStatus is what the replica's metrics and readiness read (ledger.Follower.Status).
type ReplicaStatus interface {
	Status() ledger.FollowStatus
}

// ReplicaWrites is the Submitter of a replica: every write is answered 503 unavailable with the
// primary's address, where the client should send it (a replica never forwards: it holds no key
// and is not the sequencer).
type ReplicaWrites struct{ Primary string }

// Submit implements Submitter.
func (w ReplicaWrites) Submit(context.Context, []byte) (ledger.Receipt, error) {
	return ledger.Receipt{}, &fault.Error{Code: fault.Unavailable,
		Message: fmt.Sprintf("this is a verification replica: it takes no writes; send them to the primary, %s", w.Primary)}
}

// ReplicaAttachments is the Attachments of a replica: confidential attachments are kept by the
// primary only (the log holds their commitments, not their contents), so storing or reading one
// is answered 503 unavailable with the primary's address, as writes are.
type ReplicaAttachments struct{ Primary string }

func (a ReplicaAttachments) unavailable() error {
	return &fault.Error{Code: fault.Unavailable,
		Message: fmt.Sprintf("this is a verification replica: it keeps no attachments; send the request to the primary, %s", a.Primary)}
}

// Store implements Attachments.
func (a ReplicaAttachments) Store(*attach.Signed, *attach.Attachment, time.Time) (string, error) {
	return "", a.unavailable()
}

// Read implements Attachments.
func (a ReplicaAttachments) Read(*attach.Signed, string, time.Time) (*attach.Attachment, error) {
	return nil, a.unavailable()
}

// ReplicaReady is the readiness rule of a replica (for Deps.Ready): ready while it holds a
// verified checkpoint, its last step verified (no refusal since), and it held the primary's
// latest checkpoint within maxLag (so not while a catch-up goes on for longer than that, and not
// once the primary has been unreachable for longer than that).
func ReplicaReady(r ReplicaStatus, maxLag time.Duration, now func() time.Time) func(context.Context) error {
	if now == nil {
		now = time.Now
	}
	return func(context.Context) error {
		st := r.Status()
		switch {
		case st.LastRefusal != "":
			return errors.New("replica: the primary's latest data was refused: " + st.LastRefusal)
		case st.Size == 0:
			return errors.New("replica: no verified checkpoint yet")
		case st.LagSeconds(now()) > maxLag.Seconds():
			return fmt.Errorf("replica: %d records behind; last held the primary's checkpoint %.0fs ago (bound %s)",
				st.LagRecords(), st.LagSeconds(now()), maxLag)
		}
		return nil
	}
}

// ReplicaCollector exports a replica's lag, refusals and progress (for Deps.Collectors).
func ReplicaCollector(r ReplicaStatus, now func() time.Time) prometheus.Collector {
	if now == nil {
		now = time.Now
	}
	return replicaCollector{r: r, now: now}
}

type replicaCollector struct {
	r   ReplicaStatus
	now func() time.Time
}

var (
	replicaLagRecords = prometheus.NewDesc("santong_replica_lag_records",
		"Records of the primary's latest verified checkpoint that the replica has not applied.", nil, nil)
	replicaLagSeconds = prometheus.NewDesc("santong_replica_lag_seconds",
		"Seconds since the replica last held the primary's latest checkpoint (about the poll interval when it keeps up; grows while it is behind or the primary is unreachable).", nil, nil)
	replicaSize = prometheus.NewDesc("santong_replica_size",
		"Size of the replica's verified checkpoint.", nil, nil)
	replicaPrimarySize = prometheus.NewDesc("santong_replica_primary_size",
		"Size of the primary's latest checkpoint that verified.", nil, nil)
	replicaRefused = prometheus.NewDesc("santong_replica_refused",
		"1 while the primary's latest data is refused (a fork, a tampered tile or entry, a bad signature): the replica serves its last verified state; alert on it.", nil, nil)
	replicaRefusals = prometheus.NewDesc("santong_replica_refusals_total",
		"Steps at which the primary's data did not verify and was refused.", nil, nil)
	replicaFetchErrors = prometheus.NewDesc("santong_replica_fetch_errors_total",
		"Failed fetches from the primary (unreachable, 5xx, timeouts).", nil, nil)
	replicaApplied = prometheus.NewDesc("santong_replica_applied_records_total",
		"Records verified and applied since the replica started.", nil, nil)
)

func (replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replicaLagRecords, replicaLagSeconds, replicaSize, replicaPrimarySize,
		replicaRefused, replicaRefusals, replicaFetchErrors, replicaApplied} {
		ch <- d
	}
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Status()
	refused := 0.0
	if st.LastRefusal != "" {
		refused = 1
	}
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v float64
	}{
		{replicaLagRecords, prometheus.GaugeValue, float64(st.LagRecords())},
		{replicaLagSeconds, prometheus.GaugeValue, st.LagSeconds(c.now())},
		{replicaSize, prometheus.GaugeValue, float64(st.Size)},
		{replicaPrimarySize, prometheus.GaugeValue, float64(st.PrimarySize)},
		{replicaRefused, prometheus.GaugeValue, refused},
		{replicaRefusals, prometheus.CounterValue, float64(st.Refusals)},
		{replicaFetchErrors, prometheus.CounterValue, float64(st.FetchErrors)},
		{replicaApplied, prometheus.CounterValue, float64(st.Applied)},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, m.t, m.v)
	}
}
