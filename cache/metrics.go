package cache

import "github.com/prometheus/client_golang/prometheus"

var (
	lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "berth", Subsystem: "cache", Name: "lookups_total",
		Help: "Cache lookups by tier (memory, redis), key kind and result (hit, miss, error, stale: a stale entry served while its source was unavailable).",
	}, []string{"tier", "kind", "result"})
	loaderWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "berth", Subsystem: "cache", Name: "loader_wait_seconds",
		Help:    "Time a caller waited for a value that the in-process tier did not have (Redis or loader, shared loads included).",
		Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
	}, []string{"kind"})
	generationBumps = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "berth", Subsystem: "cache", Name: "access_generation_bumps_total",
		Help: "Times this replica forgot its access decisions after a permission change.",
	})
)

var streamGaps = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "berth", Subsystem: "cache", Name: "stream_gaps_total",
	Help: "Times this replica may have missed invalidations (event or access listener lost or regained, an event dropped because the cache fell behind) and made its in-process entries stale.",
}, []string{"reason"})

// Collectors are this package's metrics, for the composition root to register. stream_gaps_total
// counts the cache's resyncs: each makes every in-process entry stale, to be loaded again.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{lookups, loaderWait, generationBumps, streamGaps}
}
