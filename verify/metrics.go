package verify

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	reg          *prometheus.Registry
	scans        *prometheus.CounterVec
	byVerdict    map[string]prometheus.Counter // scans' counters of the known verdicts, made once
	observers    sync.Map                      // latencyKey -> prometheus.Observer
	appends      *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	scansDropped *prometheus.CounterVec
	rateLimited  prometheus.Counter
	scansShed    prometheus.Counter
	handler      http.Handler
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.scans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "santong_scans_total", Help: "Scans answered, by verdict.",
	}, []string{"verdict"})
	m.appends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "santong_appends_total", Help: "Events submitted through the API, by result (ok or an error code).",
	}, []string{"result"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "santong_http_request_duration_seconds",
		Help:    "HTTP request latency by route, method and status.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "method", "status"})
	m.scansDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "santong_scans_unrecorded_total", Help: "Scans answered without being counted, by reason: busy (queue full or timed out) or disk_full.",
	}, []string{"reason"})
	diskLow := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "santong_disk_low", Help: "1 while free disk space is below the watermark (scans not recorded, ledger writes refused), else 0.",
	}, func() float64 {
		if s.space.Low() {
			return 1
		}
		return 0
	})
	diskFree := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "santong_disk_free_bytes", Help: "Free disk space of the data directory at the last poll (-1: not watched).",
	}, func() float64 { return float64(s.space.Free()) })
	diskMark := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "santong_disk_watermark_bytes", Help: "The free-space watermark below which writes stop.",
	}, func() float64 { return float64(s.space.Watermark()) })
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "santong_rate_limited_total", Help: "Requests refused with 429 by the per-IP rate limit.",
	})
	m.scansShed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "santong_scans_shed_total", Help: "Scans refused with 503 because too many were in flight.",
	})
	clockBehind := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "santong_clock_behind_seconds",
		Help: "How far the system clock is behind the log's last record; over 1 s the log refuses appends until it catches up.",
	}, func() float64 {
		if c, ok := s.log.(interface{ ClockBehind() time.Duration }); ok {
			return c.ClockBehind().Seconds()
		}
		return 0
	})
	logSize := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "santong_log_size", Help: "Records in the log.",
	}, func() float64 {
		if s.log == nil {
			return 0
		}
		return float64(s.log.Size())
	})
	commits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "santong_log_commits_total",
		Help: "Group commits the log's writer started (one fsync each); santong_log_size over it is the mean group size.",
	}, func() float64 {
		if c, ok := s.log.(interface{ Commits() int64 }); ok {
			return float64(c.Commits())
		}
		return 0
	})
	cpSize := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "santong_checkpoint_size", Help: "Size of the latest signed checkpoint.",
	}, func() float64 {
		if s.log == nil {
			return 0
		}
		if cp := s.log.Checkpoint(); cp != nil {
			return float64(cp.Size)
		}
		return 0
	})
	m.reg.MustRegister(witnessCollector{s})
	m.reg.MustRegister(clockBehind, commits)
	m.reg.MustRegister(m.scans, m.appends, m.latency, m.scansDropped, m.rateLimited, m.scansShed, logSize, cpSize, diskLow, diskFree, diskMark,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.appends.WithLabelValues("ok")
	for _, r := range []string{notRecordedBusy, notRecordedDiskFull} {
		m.scansDropped.WithLabelValues(r)
	}
	m.byVerdict = map[string]prometheus.Counter{}
	for _, v := range Verdicts {
		m.byVerdict[v] = m.scans.WithLabelValues(v)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// latencyKey is a request's latency series: its route, method (methodLabel) and status.
type latencyKey struct {
	route, method string
	status        int
}

// observer is the latency histogram of a route, method and status, looked up in the
// histogram vector once and then kept (routes, methods and statuses are bounded): a request
// then costs no label hashing and no strconv of its status (issue 18).
func (m *metrics) observer(route, method string, status int) prometheus.Observer {
	k := latencyKey{route, method, status}
	if o, ok := m.observers.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o, _ := m.observers.LoadOrStore(k, m.latency.WithLabelValues(route, method, strconv.Itoa(status)))
	return o.(prometheus.Observer)
}

// scanned counts a scan answered with verdict v.
func (m *metrics) scanned(v string) {
	if c, ok := m.byVerdict[v]; ok {
		c.Inc()
		return
	}
	m.scans.WithLabelValues(v).Inc()
}

// Metrics is the service's Prometheus registry (served at /metrics).
func (s *Server) Metrics() *prometheus.Registry { return s.metrics.reg }
