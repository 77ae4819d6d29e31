package verify

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
)

// The recorder turns queued reports into complaint.received events (report_queue.go): for each
// report, oldest first, it keeps the attachments (a request signed by the report key, as any
// client's), signs the complaint with the same key and submits it, then marks the report
// recorded. A crash anywhere in between repeats the same steps with the same attachments and
// the same complaint id: an attachment kept twice is one file, and a complaint already in the
// log (its id taken) is found and marked recorded. A report the ledger refuses for what it
// says (fault.Invalid, fault.NotFound: its batch is gone from the registry, say) is held with
// the reason; any other failure (the log unavailable, the disk full, the key not enrolled) is
// retried every ReportOptions.Retry, logged.

// startRecorder runs RecordReports until ctx is done; the channel closes when it has stopped.
func (s *Server) startRecorder(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if s.reports == nil || s.targets == nil || s.events == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		s.RecordReports(ctx)
	}()
	return done
}

// RecordReports records queued reports as they come, until ctx is done. Run starts it.
func (s *Server) RecordReports(ctx context.Context) {
	for {
		wait := s.reports.every
		if _, err := s.recordPending(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("verify: reports not recorded yet; retrying", "err", err)
			wait = s.reports.retry
		}
		if wait <= 0 {
			wait = s.reports.retry // and at once when kicked
		}
		select {
		case <-ctx.Done():
			return
		case <-s.reports.kick:
		case <-time.After(wait):
		}
	}
}

// recordPending records every queued report it can, oldest first, and stops at the first
// failure that is worth a retry; n counts the reports recorded or held.
func (s *Server) recordPending(ctx context.Context) (n int, err error) {
	refs, err := s.reports.q.pending()
	if err != nil {
		return 0, err
	}
	for _, ref := range refs {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		r, err := s.reports.q.get(ref)
		if err != nil {
			return n, err
		}
		st, err := s.recordReport(ctx, r)
		if err != nil {
			s.reports.counter.WithLabelValues("failed").Inc()
			return n, err
		}
		if err := s.reports.q.finish(r, *st); err != nil {
			return n, err
		}
		s.reports.counter.WithLabelValues(st.State).Inc()
		n++
	}
	return n, nil
}

// recordReport records one report; the answer is its final state (recorded or held), or an
// error to retry.
func (s *Server) recordReport(ctx context.Context, r *queuedReport) (*reportState, error) {
	now := s.now().UTC()
	st := &reportState{Ref: r.Ref, Complaint: r.Complaint, Received: r.Received}
	hold := func(why string) (*reportState, error) {
		st.State, st.Held, st.Recorded = reportHeld, why, now
		s.logger.Warn("verify: report held for the operator", "ref", r.Ref, "why", why)
		return st, nil
	}
	chain, err := uuid.Parse(r.Target.Enterprise)
	if r.Target.Enterprise == "" || err != nil {
		return hold("it names no enterprise (the code's batch is unknown)")
	}
	if s.attachments == nil {
		return nil, fault.New(fault.Unavailable, "this service keeps no attachments: reports cannot be recorded")
	}
	var refs []event.Attachment
	for i := range r.Attach {
		a := &r.Attach[i]
		body := a.Marshal()
		req, _ := http.NewRequest(http.MethodPost, "/api/v1/attachments", nil)
		attach.Sign(req, s.reports.key, body, now)
		signed, err := attach.ReadSigned(req.Header, http.MethodPost, "/api/v1/attachments", body, now)
		if err != nil {
			return nil, err
		}
		if _, err := s.attachments.Store(signed, a, now); err != nil {
			return nil, err
		}
		refs = append(refs, a.Ref())
	}
	body := &event.Complaint{Attachments: refs, Batch: r.Target.Batch, Serial: r.Target.Serial, Channel: event.ChannelWeb,
		Summary: reportWhatTexts[r.Input.What].ZH, Verdict: r.Target.Verdict}
	if r.Target.Batch == 0 {
		body.Serial = 0
	}
	for _, c := range r.Target.Certifiers {
		if u, err := uuid.Parse(c); err == nil {
			body.Certifiers = append(body.Certifiers, u)
		}
	}
	slices.SortFunc(body.Certifiers, func(x, y uuid.UUID) int {
		switch xs, ys := x.String(), y.String(); {
		case xs < ys:
			return -1
		case xs > ys:
			return 1
		}
		return 0
	})
	if p, err := uuid.Parse(r.Target.Product); err == nil && r.Target.Product != "" {
		body.Products = []uuid.UUID{p}
	}
	ev, err := event.New(chain, r.Complaint, body).At(now).Sign(s.reports.key)
	if err != nil {
		return hold("the complaint is not a valid event: " + err.Error())
	}
	rc, err := s.events.Submit(ctx, ev)
	if err != nil {
		switch fault.CodeOf(err) {
		case fault.Conflict:
			if i, ierr := s.targets.ComplaintIndex(r.Complaint); ierr == nil { // recorded before a crash
				st.State, st.Index, st.Recorded = reportRecorded, i, now
				return st, nil
			}
			return hold("refused by the ledger: " + err.Error())
		case fault.Invalid, fault.NotFound:
			return hold("refused by the ledger: " + err.Error())
		}
		return nil, err
	}
	st.State, st.Index, st.Recorded = reportRecorded, rc.Index, now
	s.logger.Info("verify: report recorded", "ref", r.Ref, "index", rc.Index)
	return st, nil
}
