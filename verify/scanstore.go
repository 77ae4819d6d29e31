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
	notRecordedBusy     = "busy"      // the scan store's queue was full or it did not answer in time
	notRecordedDiskFull = "disk_full" // free disk space is below the watermark
)

// countScan records a scan, or, when the disk is low, only reads the unit's counts. It fills
// sv and returns the counts the clone rule reads, valid when ok; err is a failure of the store.
func (s *Server) countScan(ctx context.Context, sc scanstore.Scan, sv *ScanView) (st scanstore.Stats, ok bool, err error) {
	if s.space.Low() {
		s.metrics.scansDropped.WithLabelValues(notRecordedDiskFull).Inc()
		sv.NotRecorded = notRecordedDiskFull
		if st, err = s.scans.Stats(ctx, sc.Batch, sc.Serial); err != nil {
			return st, false, err
		}
		sv.Count, sv.First, sv.Regions = st.Count, st.First, len(st.Regions)
		return st, true, nil
	}
	st, err = s.scans.Record(ctx, sc)
	switch {
	case err == nil:
		sv.Recorded, sv.Count, sv.First, sv.Regions = true, st.Count, st.First, len(st.Regions)
		return st, true, nil
	case fault.CodeOf(err) == fault.Pushback || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		s.metrics.scansDropped.WithLabelValues(notRecordedBusy).Inc()
		sv.NotRecorded = notRecordedBusy
		return st, false, nil
	}
	return st, false, err
}
