package bridge

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
)

// syncStats holds the planner's last report for the metrics, which read it
// at scrape time. Safe for concurrent use.
type syncStats struct {
	mu sync.Mutex
	r  syncReport
	ok bool
}

func (s *syncStats) set(r syncReport) {
	s.mu.Lock()
	s.r, s.ok = r, true
	s.mu.Unlock()
}

func (s *syncStats) get() (syncReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r, s.ok
}

// registerSyncMetrics adds the planner's metrics, read at scrape time:
//
//   - salesbridge_staleness_seconds{status}: how long ago the stalest order
//     of each status was last proved current — for active statuses, how
//     late a change can be seen at worst right now;
//   - salesbridge_coverage_incomplete{status}: 1 when the last sweep could
//     not read every order of the status (more than a page of them, and the
//     server not oldest first);
//   - salesbridge_active_orders and salesbridge_moved_orders: orders in an
//     active status, and orders known to have changed whose new state is
//     not read yet;
//   - salesbridge_server_ordering{ordering}: 1 for the ordering learnt from
//     the answers (oldest-first, newest-first, unordered, unknown).
func (b *Bridge) registerSyncMetrics() {
	if b.cfg.Metrics == nil {
		return
	}
	b.cfg.Metrics.register(&syncCollector{
		stats: b.sync,
		clk:   b.cfg.Clock,
		staleness: prometheus.NewDesc("salesbridge_staleness_seconds",
			"Time since the stalest tracked order of each status was last proved current by an API answer.", []string{"status"}, nil),
		incomplete: prometheus.NewDesc("salesbridge_coverage_incomplete",
			"1 when the last sweep could not read every order of the status (more than a page of them, and the server does not answer oldest first).", []string{"status"}, nil),
		active: prometheus.NewDesc("salesbridge_active_orders",
			"Tracked orders in an active status (NEW, PROGRESS, CONFIRMED, UNPROCESSED).", nil, nil),
		moved: prometheus.NewDesc("salesbridge_moved_orders",
			"Orders known to have left their status whose new state has not been read yet.", nil, nil),
		ordering: prometheus.NewDesc("salesbridge_server_ordering",
			"1 for the order of list answers learnt from the API (oldest-first, newest-first, unordered or unknown).", []string{"ordering"}, nil),
	})
}

type syncCollector struct {
	stats                                          *syncStats
	clk                                            clock.Clock
	staleness, incomplete, active, moved, ordering *prometheus.Desc
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.staleness
	ch <- c.incomplete
	ch <- c.active
	ch <- c.moved
	ch <- c.ordering
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	r, ok := c.stats.get()
	if !ok {
		return
	}
	now := c.clk.Now()
	for _, st := range salesapi.Statuses() {
		if t := r.OldestSeen[st]; !t.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.staleness, prometheus.GaugeValue, max(now.Sub(t).Seconds(), 0), st.String())
		}
		incomplete := 0.0
		if r.Unreachable[st] > 0 {
			incomplete = 1
		}
		ch <- prometheus.MustNewConstMetric(c.incomplete, prometheus.GaugeValue, incomplete, st.String())
	}
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(r.Active))
	ch <- prometheus.MustNewConstMetric(c.moved, prometheus.GaugeValue, float64(r.Moved))
	ch <- prometheus.MustNewConstMetric(c.ordering, prometheus.GaugeValue, 1, r.Ordering.String())
}

// rate returns the API account's calls per minute, for the planner's
// arithmetic.
func (b *Bridge) rate() int {
	if bb, ok := b.api.(budgeted); ok {
		return bb.Budget().Rate()
	}
	return salesapi.DefaultRate
}
