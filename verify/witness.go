package verify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santong-cn/santong/ledger"
)

// cosigned is cp's signed note with the witnesses' cosignatures of exactly cp appended (C2SP
// tlog-cosignature lines after the log's signature), or cp's note alone without witnesses.
func (s *Server) cosigned(cp *ledger.SignedCheckpoint) []byte {
	if s.cfg.Witnesses == nil {
		return cp.Note
	}
	return s.cfg.Witnesses.Cosigned(cp)
}

// witnessCollector exports the witness client's counters and the checkpoint lock's refusals.
type witnessCollector struct{ s *Server }

var (
	witnessCosigned = prometheus.NewDesc("santong_witness_cosignatures_total",
		"Checkpoints cosigned by each witness.", []string{"witness"}, nil)
	witnessConflicts = prometheus.NewDesc("santong_witness_conflicts_total",
		"409 Conflict answers from each witness (its size hint followed).", []string{"witness"}, nil)
	witnessFailures = prometheus.NewDesc("santong_witness_failures_total",
		"Failed add-checkpoint submissions to each witness (retried with backoff).", []string{"witness"}, nil)
	witnessSize = prometheus.NewDesc("santong_witness_cosigned_size",
		"Size of the latest checkpoint each witness cosigned.", []string{"witness"}, nil)
	witnessLast = prometheus.NewDesc("santong_witness_last_cosignature_timestamp_seconds",
		"When each witness last cosigned (unix seconds; 0: never).", []string{"witness"}, nil)
	lockRefusals = prometheus.NewDesc("santong_checkpoint_lock_refusals_total",
		"Times the checkpoint lock made the log refuse to sign (a fork or a restored backup: the log stopped signing).", nil, nil)
)

func (witnessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{witnessCosigned, witnessConflicts, witnessFailures, witnessSize, witnessLast, lockRefusals} {
		ch <- d
	}
}

func (w witnessCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range w.s.cfg.Witnesses.Stats() {
		ch <- prometheus.MustNewConstMetric(witnessCosigned, prometheus.CounterValue, float64(st.Cosigned), st.Name)
		ch <- prometheus.MustNewConstMetric(witnessConflicts, prometheus.CounterValue, float64(st.Conflicts), st.Name)
		ch <- prometheus.MustNewConstMetric(witnessFailures, prometheus.CounterValue, float64(st.Failures), st.Name)
		ch <- prometheus.MustNewConstMetric(witnessSize, prometheus.GaugeValue, float64(st.CosignedSize), st.Name)
		var last float64
		if !st.LastCosignature.IsZero() {
			last = float64(st.LastCosignature.Unix())
		}
		ch <- prometheus.MustNewConstMetric(witnessLast, prometheus.GaugeValue, last, st.Name)
	}
	var n int64
	if l, ok := w.s.log.(interface{ LockRefusals() int64 }); ok {
		n = l.LockRefusals()
	}
	ch <- prometheus.MustNewConstMetric(lockRefusals, prometheus.CounterValue, float64(n))
}
