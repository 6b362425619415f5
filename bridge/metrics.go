package bridge

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
)

// Metrics collects the bridge's Prometheus metrics in a registry of its own
// (no global registry). A nil *Metrics collects nothing.
type Metrics struct {
	reg *prometheus.Registry

	apiCalls        *prometheus.CounterVec
	apiDuration     *prometheus.HistogramVec
	apiRetries      *prometheus.CounterVec
	rateLimited     prometheus.Counter
	tokenFetches    *prometheus.CounterVec
	pollDuration    prometheus.Histogram
	pollErrors      prometheus.Counter
	events          *prometheus.CounterVec
	relayPublished  prometheus.Counter
	relayErrors     prometheus.Counter
	commands        *prometheus.CounterVec
	commandDuration prometheus.Histogram
	coverageGaps    *prometheus.CounterVec

	sink atomic.Pointer[health] // the bridge the API hooks also report to (advisories)
}

// NewMetrics returns the metrics of one bridge, with Go and process metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		reg: reg,
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesbridge_api_calls_total", Help: "API calls sent, by method and HTTP status (0: no answer).",
		}, []string{"method", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "salesbridge_api_call_duration_seconds", Help: "Time from sending an API call to the end of its answer.",
			Buckets: prometheus.ExponentialBuckets(0.025, 2, 10),
		}, []string{"method"}),
		apiRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesbridge_api_retries_total", Help: "API calls retried after a transient failure.",
		}, []string{"method"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salesbridge_api_rate_limited_total", Help: "429 answers received (the bridge should never cause one).",
		}),
		tokenFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesbridge_token_fetches_total", Help: "OAuth2 token fetches, by result.",
		}, []string{"result"}),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "salesbridge_poll_duration_seconds", Help: "Time of one list call, budget wait included.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		pollErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salesbridge_poll_errors_total", Help: "List calls that failed after their retries.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesbridge_events_emitted_total", Help: "Events added to the outbox, by type.",
		}, []string{"type"}),
		relayPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salesbridge_relay_published_total", Help: "Outbox messages acknowledged by JetStream.",
		}),
		relayErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salesbridge_relay_publish_errors_total", Help: "Relay rounds that failed and will publish again.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesbridge_commands_total", Help: "Commands executed, by outcome (ok or the error code).",
		}, []string{"outcome"}),
		commandDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "salesbridge_command_duration_seconds", Help: "Time from a command's arrival to its outcome.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
		coverageGaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salesbridge_coverage_gaps_total", Help: "List answers that could not be paged completely, by status pass (\"\" = unsplit).",
		}, []string{"status"}),
	}
	f(m.apiCalls)
	f(m.apiDuration)
	f(m.apiRetries)
	f(m.rateLimited)
	f(m.tokenFetches)
	f(m.pollDuration)
	f(m.pollErrors)
	f(m.events)
	f(m.relayPublished)
	f(m.relayErrors)
	f(m.commands)
	f(m.commandDuration)
	f(m.coverageGaps)
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry to serve on /metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// APIHooks returns the hooks that feed the API client's calls into m, and
// into the advisories (token failures, 429s) of the bridge created with m
// as its Config.Metrics.
func (m *Metrics) APIHooks() salesapi.Hooks {
	if m == nil {
		return salesapi.Hooks{}
	}
	return salesapi.Hooks{
		Call: func(c salesapi.CallInfo) {
			m.apiCalls.WithLabelValues(c.Method, strconv.Itoa(c.StatusCode)).Inc()
			m.apiDuration.WithLabelValues(c.Method).Observe(c.Duration.Seconds())
			m.sink.Load().apiCall(c)
		},
		Retry: func(method string, _ error) { m.apiRetries.WithLabelValues(method).Inc() },
		Token: func(err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			m.tokenFetches.WithLabelValues(result).Inc()
			m.sink.Load().tokenFetched(err)
		},
		RateLimited: func(d time.Duration) {
			m.rateLimited.Inc()
			m.sink.Load().rateLimited(d)
		},
	}
}

// attach makes the API hooks report to h as well.
func (m *Metrics) attach(h *health) {
	if m != nil {
		m.sink.Store(h)
	}
}

// gaugeFunc registers a gauge read at scrape time.
func (m *Metrics) gaugeFunc(name, help string, fn func() float64) {
	if m != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
	}
}

// register adds a collector read at scrape time.
func (m *Metrics) register(c prometheus.Collector) {
	if m != nil {
		m.reg.MustRegister(c)
	}
}

func (m *Metrics) pollDone(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.pollDuration.Observe(d.Seconds())
	if err != nil {
		m.pollErrors.Inc()
	}
}

func (m *Metrics) coverageGap(status string) {
	if m != nil {
		m.coverageGaps.WithLabelValues(status).Inc()
	}
}

func (m *Metrics) relayFailed() {
	if m != nil {
		m.relayErrors.Inc()
	}
}

func (m *Metrics) published(n int) {
	if m != nil {
		m.relayPublished.Add(float64(n))
	}
}

func (m *Metrics) eventsEmitted(counts map[diff.Type]int) {
	if m == nil {
		return
	}
	for t, n := range counts {
		m.events.WithLabelValues(string(t)).Add(float64(n))
	}
}

func (m *Metrics) commandDone(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(outcome).Inc()
	m.commandDuration.Observe(d.Seconds())
}
