package bridge

import (
	"sync"
	"time"

	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
)

// health is what the running parts report about themselves: kept for the
// status endpoint and /readyz, and forwarded to the metrics. Safe for
// concurrent use.
type health struct {
	mu         sync.Mutex
	lastSync   time.Time // start of the last complete sweep
	lastPollOK time.Time // clock time of the last successful list call
	setUp      bool      // streams and buckets created

	metrics *Metrics // nil when not collected
}

func (h *health) setLastSync(t time.Time) {
	if t.IsZero() {
		return
	}
	h.mu.Lock()
	h.lastSync = t
	h.mu.Unlock()
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

func (h *health) coverageGap(st *salesapi.Status) {
	name := ""
	if st != nil {
		name = st.String()
	}
	h.metrics.coverageGap(name)
}

func (h *health) relayFailed()                           { h.metrics.relayFailed() }
func (h *health) published(n int)                        { h.metrics.published(n) }
func (h *health) eventsEmitted(counts map[diff.Type]int) { h.metrics.eventsEmitted(counts) }
