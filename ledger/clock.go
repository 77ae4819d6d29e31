package ledger

import (
	"sync/atomic"
	"time"

	"github.com/santong-cn/santong/internal/fault"
)

// Record times never go back: each record's time is at or after the one before it, across
// restarts too (the writer starts from the last record's time). When the wall clock is behind
// the last record by more than clockSlack (a clock corrected backwards, a restored machine), the
// log refuses appends with ErrClockBehind until the clock has passed that time again, rather
// than write a time that goes back or quietly stamp every record with the same old time. A lag
// within clockSlack (a slewing clock) is absorbed: such records take the last record's time.

// clockSlack is the lag of the wall clock behind the last record's time that the log absorbs.
const clockSlack = time.Second

// ErrClockBehind: the system clock is behind the time of the last record. Nothing was appended.
var ErrClockBehind = &fault.Error{Code: fault.Unavailable, Field: "time",
	Message: "the server's clock is behind the log's last record: appends resume when it has caught up"}

// clockState is the log's view of its clock, for the writer and for metrics.
type clockState struct {
	behind atomic.Int64 // how far the clock is behind the last record, in ns (0 when not)
}

// recordTime returns the time for the next group's records, or ErrClockBehind.
func (l *Log) recordTime(last time.Time) (time.Time, error) {
	now := l.now().UTC()
	if !now.Before(last) {
		if l.clock.behind.Swap(0) != 0 {
			l.log.Warn("clock caught up with the log's last record: appends resume", "last_record", last)
		}
		return now, nil
	}
	lag := last.Sub(now)
	if lag <= clockSlack {
		return last, nil
	}
	if l.clock.behind.Swap(int64(lag)) == 0 {
		l.log.Error("the system clock is behind the log's last record: appends are refused until it catches up",
			"last_record", last, "clock", now, "behind", lag)
	}
	return time.Time{}, ErrClockBehind
}

// ClockBehind reports how far the system clock is behind the log's last record (0 when it is
// not): while it is more than a second, appends are refused with ErrClockBehind.
func (l *Log) ClockBehind() time.Duration { return time.Duration(l.clock.behind.Load()) }

func (l *Log) now() time.Time {
	if l.opts.Clock != nil {
		return l.opts.Clock()
	}
	return time.Now()
}

// lastRecordTime is the time of the last record (zero for an empty log).
func (l *Log) lastRecordTime() time.Time {
	n := l.Size()
	if n == 0 {
		return time.Time{}
	}
	r, err := l.Record(n - 1)
	if err != nil {
		return time.Time{}
	}
	return r.Time
}
