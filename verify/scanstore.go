package verify

import (
	"context"
	"errors"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/verify/scanstore"
)

// Scans are counted in a scanstore.Store (verify/scanstore: a Badger database of its own under
// the data directory, never the ledger's; PostgreSQL later), outside the Merkle log.

// DiskSpace says whether the data directory's disk is low (*diskspace.Watcher implements it).
// Below the watermark, scans are answered but not recorded and ledger writes are refused.
type DiskSpace interface {
	Low() bool
	Free() int64      // bytes free at the last poll
	Watermark() int64 // bytes
}

// Why a scan was answered without being recorded (ScanView.NotRecorded).
const (
	notRecordedNotCounted = "not_counted" // a check that is not a consumer's scan (JSON not asking, HEAD)
	notRecordedBusy       = "busy"        // the scan store's queue was full or it did not answer in time
	notRecordedError      = "error"       // the scan store failed
	notRecordedDiskFull   = "disk_full"   // free disk space is below the watermark
)

// scanHistory records a scan when count is set and the store can (else it only reads the
// unit's counts), fills sv, and returns the counts the clone rule reads, valid when ok. When
// the store can be neither written nor read, ok is false and sv says the history could not
// be checked: never a plain verdict for a code whose counts are unknown.
func (s *Server) scanHistory(ctx context.Context, sc scanstore.Scan, count bool, sv *ScanView) (st scanstore.Stats, ok bool) {
	switch {
	case !count:
		sv.NotRecorded = notRecordedNotCounted
	case s.space.Low():
		s.metrics.scansDropped.WithLabelValues(notRecordedDiskFull).Inc()
		sv.NotRecorded = notRecordedDiskFull
	default:
		var err error
		st, err = s.scans.Record(ctx, sc)
		switch {
		case err == nil:
			sv.Recorded = true
			fillScans(sv, st)
			return st, true
		case fault.CodeOf(err) == fault.Pushback || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			sv.NotRecorded = notRecordedBusy
		default:
			s.logger.Warn("verify: scan store: record", "err", err)
			sv.NotRecorded = notRecordedError
		}
		s.metrics.scansDropped.WithLabelValues(sv.NotRecorded).Inc()
	}
	st, err := s.scans.Stats(ctx, sc.Batch, sc.Serial)
	if err != nil {
		if count {
			s.logger.Warn("verify: scan store: read", "err", err)
		}
		sv.HistoryUnchecked = true
		return scanstore.Stats{}, false
	}
	fillScans(sv, st)
	return st, true
}

func fillScans(sv *ScanView, st scanstore.Stats) {
	sv.Count, sv.Counted, sv.Clients, sv.First, sv.Regions = st.Count, st.Counted, st.Clients, st.First, len(st.Regions)
}
