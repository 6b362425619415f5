package bridge

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// health is what the running parts report about themselves: kept for the
// status endpoint and /readyz, and forwarded to the metrics and the
// advisories. Safe for concurrent use.
type health struct {
	mu         sync.Mutex
	lastSync   time.Time // start of the last complete sweep
	lastPollOK time.Time // clock time of the last successful list call
	setUp      bool      // streams and buckets created

	metrics *Metrics // nil when not collected
	adv     *advisor // nil: no advisories
}

// newHealth returns the health of a bridge configured by cfg (defaults
// applied): advisories go out on nc, the outbox is watched in store, and
// the API client's hooks of cfg.Metrics (Metrics.APIHooks) report here.
func newHealth(cfg Config, nc *nats.Conn, store *state.Store) *health {
	h := &health{metrics: cfg.Metrics}
	h.adv = newAdvisor(NamesFor(cfg.Prefix), cfg.Clock, cfg.Logger.Named("advisory"), nc.Publish, store.OutboxStats)
	cfg.Metrics.attach(h)
	cfg.Metrics.gaugeFunc("salesbridge_coverage_lost", "1 while the coverage_lost advisory is active: some tracked orders cannot be read within the call budget.", func() float64 {
		if h.adv.isActive(AdvisoryCoverageLost) {
			return 1
		}
		return 0
	})
	return h
}

// watch runs the periodic checks (the outbox backlog) until ctx ends.
func (h *health) watch(ctx context.Context) error {
	if h.adv == nil {
		return nil
	}
	return h.adv.watchOutbox(ctx)
}

func (h *health) setLastSync(t time.Time) {
	if t.IsZero() {
		return
	}
	h.mu.Lock()
	h.lastSync = t
	h.mu.Unlock()
	h.adv.syncedAt(t)
}

// LastSync returns when the last complete sync started (zero before the
// first one completes).
func (h *health) LastSync() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastSync
}

func (h *health) pollDone(now time.Time, d time.Duration, err error) {
	if err == nil {
		h.mu.Lock()
		h.lastPollOK = now
		h.mu.Unlock()
	}
	h.metrics.pollDone(d, err)
	h.adv.listDone(err)
}

func (h *health) lastPollSuccess() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastPollOK
}

func (h *health) markSetUp() {
	h.mu.Lock()
	h.setUp = true
	h.mu.Unlock()
}

func (h *health) isSetUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.setUp
}

func (h *health) coverageGap(g gap) {
	name := ""
	if g.status != nil {
		name = g.status.String()
	}
	h.metrics.coverageGap(name)
	h.adv.coverageGap(g)
}

func (h *health) relayFailed()                           { h.metrics.relayFailed() }
func (h *health) published(n int)                        { h.metrics.published(n) }
func (h *health) eventsEmitted(counts map[diff.Type]int) { h.metrics.eventsEmitted(counts) }

// The API client's reports, through Metrics.APIHooks. A nil *health (no
// bridge attached yet) ignores them.

func (h *health) apiCall(c salesapi.CallInfo) {
	if h != nil && c.Err == nil && c.StatusCode/100 == 2 {
		h.adv.callOK()
	}
}

func (h *health) tokenFetched(err error) {
	if h != nil {
		h.adv.token(err)
	}
}

func (h *health) rateLimited(pause time.Duration) {
	if h != nil {
		h.adv.rateLimited(pause)
	}
}
