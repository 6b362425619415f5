package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
)

// Advisories are small plain-JSON messages on <prefix>.advisory.<kind>, sent
// with core NATS when a condition starts and again when it ends, so that
// NATS-side tooling can alert without scraping Prometheus. They are
// edge-triggered: one "started" per episode, one "ended" when it is over,
// nothing in between. The state lives in the process: after a restart a
// condition that still holds is announced again.

// AdvisoryKind names a condition; it is the last token of the subject.
type AdvisoryKind string

// The advisory kinds (schemas/advisory.json).
const (
	// AdvisoryAuthFailing: the token endpoint refuses or fails, or list
	// calls are answered 401/403. Ends at the next successful list call.
	AdvisoryAuthFailing AdvisoryKind = "auth_failing"
	// AdvisoryRateLimited: the API answered 429. Ends when the pause it
	// caused is over and a call succeeds.
	AdvisoryRateLimited AdvisoryKind = "rate_limited"
	// AdvisoryAPIUnavailable: AdvisoryUnavailablePolls list calls in a row
	// failed with 5xx, timeouts or unreadable answers (after the client's
	// retries). Ends at the next successful list call.
	AdvisoryAPIUnavailable AdvisoryKind = "api_unavailable"
	// AdvisoryCoverageLost: the planner could not read every tracked order
	// (more orders than the API can page). Ends after a complete sync
	// without a gap.
	AdvisoryCoverageLost AdvisoryKind = "coverage_lost"
	// AdvisoryOutboxBacklog: more than AdvisoryBacklogDepth events wait in
	// the outbox, or the oldest has waited longer than AdvisoryBacklogAge.
	// Ends when neither holds.
	AdvisoryOutboxBacklog AdvisoryKind = "outbox_backlog"
)

// AdvisoryKinds lists every kind.
func AdvisoryKinds() []AdvisoryKind {
	return []AdvisoryKind{AdvisoryAuthFailing, AdvisoryRateLimited, AdvisoryAPIUnavailable, AdvisoryCoverageLost, AdvisoryOutboxBacklog}
}

// Thresholds of the advisories.
const (
	AdvisoryUnavailablePolls = 2                // consecutive failed list calls before api_unavailable
	AdvisoryBacklogDepth     = 10_000           // outbox messages above which outbox_backlog starts
	AdvisoryBacklogAge       = 5 * time.Minute  // clock time the oldest outbox message may wait
	AdvisoryCheckEvery       = 15 * time.Second // clock time between two outbox checks
)

// Advisory states.
const (
	AdvisoryStarted = "started"
	AdvisoryEnded   = "ended"
)

// Advisory is the message published on <prefix>.advisory.<kind>.
type Advisory struct {
	Kind    AdvisoryKind   `json:"kind"`
	State   string         `json:"state"`   // AdvisoryStarted or AdvisoryEnded
	At      string         `json:"at"`      // when, RFC 3339 UTC with milliseconds
	Message string         `json:"message"` // for humans; never personal data or secrets
	Details map[string]any `json:"details"` // kind-specific figures, informational
}

// AdvisorySubject returns the subject of kind's advisories.
func (n Names) AdvisorySubject(kind AdvisoryKind) string {
	return n.Prefix + ".advisory." + string(kind)
}

// Log keys of the advisor.
const (
	logAdvisory = "advisory"
	logReason   = "reason"
	logDetails  = "details"
)

// advisor turns what the running parts report (through health) into
// advisories. Safe for concurrent use; transitions are published under its
// lock, so a kind's "started" and "ended" leave in order.
type advisor struct {
	publish func(subject string, data []byte) error // core NATS publish
	names   Names
	clk     clock.Clock
	log     *zap.Logger
	outbox  func() (depth int, oldest time.Time, err error)

	mu          sync.Mutex
	active      map[AdvisoryKind]bool
	unavailable int       // list calls failed as unavailable in a row
	pausedUntil time.Time // end of the last 429 pause (clock time)
	polled      bool      // a list call has been reported
	lastSync    time.Time // as last reported by setLastSync
	sweepEnded  bool      // a sweep completed since the last list call
	sweepGap    bool      // a gap was reported in the sweep being judged
}

func newAdvisor(names Names, clk clock.Clock, log *zap.Logger, publish func(string, []byte) error, outbox func() (int, time.Time, error)) *advisor {
	return &advisor{publish: publish, names: names, clk: clk, log: log, outbox: outbox, active: map[AdvisoryKind]bool{}}
}

// isActive reports whether kind's condition holds.
func (a *advisor) isActive(kind AdvisoryKind) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active[kind]
}

// setLocked moves kind to on, publishing and logging the transition if it is
// one. a.mu is held.
func (a *advisor) setLocked(kind AdvisoryKind, on bool, message string, details map[string]any) {
	if a.active[kind] == on {
		return
	}
	a.active[kind] = on
	if details == nil {
		details = map[string]any{}
	}
	adv := Advisory{Kind: kind, State: AdvisoryEnded, At: salesapi.FormatTime(a.clk.Now()), Message: message, Details: details}
	if on {
		adv.State = AdvisoryStarted
	}
	fields := []zap.Field{zap.String(logAdvisory, string(kind)), zap.String(logReason, message), zap.Any(logDetails, details)}
	if on {
		a.log.Warn("advisory started", fields...)
	} else {
		a.log.Info("advisory ended", fields...)
	}
	data, err := json.Marshal(adv)
	if err == nil {
		err = a.publish(a.names.AdvisorySubject(kind), data)
	}
	if err != nil {
		a.log.Warn("publish advisory", zap.String(logAdvisory, string(kind)), zap.Error(err))
	}
}

// listDone is told the result of every list call of the poller.
func (a *advisor) listDone(err error) {
	if a == nil {
		return
	}
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return // the bridge is stopping
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.polled = true
	if a.sweepEnded {
		// Judge the sweep that ended before this call: gaps reported
		// after its end in the same step still belong to it.
		if !a.sweepGap {
			a.setLocked(AdvisoryCoverageLost, false, "a complete sync read every tracked order again", nil)
		}
		a.sweepEnded, a.sweepGap = false, false
	}
	if err == nil {
		a.unavailable = 0
		a.setLocked(AdvisoryAuthFailing, false, "list calls succeed again", nil)
		a.setLocked(AdvisoryAPIUnavailable, false, "the API answers again", nil)
		a.callOKLocked()
		return
	}
	switch {
	case errors.Is(err, salesapi.ErrAuth), errors.Is(err, salesapi.ErrUnauthorized), errors.Is(err, salesapi.ErrForbidden):
		a.setLocked(AdvisoryAuthFailing, true, "the API refuses the bridge's credentials", map[string]any{"error": err.Error()})
	case errors.Is(err, salesapi.ErrUnavailable), errors.Is(err, salesapi.ErrMalformed):
		a.unavailable++
		if a.unavailable >= AdvisoryUnavailablePolls {
			a.setLocked(AdvisoryAPIUnavailable, true,
				fmt.Sprintf("the API failed %d list calls in a row (after retries)", a.unavailable),
				map[string]any{"failedPolls": a.unavailable, "error": err.Error()})
		}
	}
}

// token is told the result of every token fetch.
func (a *advisor) token(err error) {
	if a == nil || err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.setLocked(AdvisoryAuthFailing, true, "the token endpoint refuses or fails", map[string]any{"error": err.Error()})
}

// rateLimited is told of every 429 and the pause it caused.
func (a *advisor) rateLimited(pause time.Duration) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if until := a.clk.Now().Add(pause); until.After(a.pausedUntil) {
		a.pausedUntil = until
	}
	a.setLocked(AdvisoryRateLimited, true,
		fmt.Sprintf("the API answered 429; all calls paused for %s", pause.Round(time.Millisecond)),
		map[string]any{"httpStatus": 429, "retryAfterSeconds": pause.Seconds()})
}

// callOK is told of every API call answered 2xx (lists and patches).
func (a *advisor) callOK() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.callOKLocked()
}

func (a *advisor) callOKLocked() {
	if a.active[AdvisoryRateLimited] && !a.clk.Now().Before(a.pausedUntil) {
		a.setLocked(AdvisoryRateLimited, false, "calls resumed", nil)
	}
}

// coverageGap is told of every part of the window the planner could not
// cover: an answer that could not be paged completely, or more active
// orders than the budget keeps fresh. The advisory says which, with the
// numbers.
func (a *advisor) coverageGap(g gap) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepGap = true
	details := map[string]any{"reason": g.reason}
	if g.status != nil {
		details["status"] = g.status.String()
	}
	if g.orders > 0 {
		details["orders"] = g.orders
	}
	var msg string
	switch {
	case g.need > 0:
		details["callsPerSweep"], details["callsAvailable"], details["freshTarget"] = g.need, g.avail, freshTarget.String()
		msg = fmt.Sprintf("%d active orders need %d calls a sweep; the budget leaves %d every %s: active orders go staler than that",
			g.orders, g.need, g.avail, freshTarget)
	case g.status != nil:
		msg = fmt.Sprintf("more %s orders than the API can page: some of them are not being refreshed", g.status)
	default:
		msg = "more orders than the API can page: some tracked orders are not being refreshed"
	}
	a.setLocked(AdvisoryCoverageLost, true, msg, details)
}

// syncedAt is told when the last complete sweep started: once at start
// (what the state file remembers), then after every sweep.
func (a *advisor) syncedAt(t time.Time) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.polled && t.After(a.lastSync) {
		a.sweepEnded = true
	}
	if t.After(a.lastSync) {
		a.lastSync = t
	}
}

// watchOutbox checks the outbox every AdvisoryCheckEvery of clock time
// until ctx ends.
func (a *advisor) watchOutbox(ctx context.Context) error {
	for {
		if err := clock.Sleep(ctx, a.clk, AdvisoryCheckEvery); err != nil {
			return nil
		}
		a.checkOutbox()
	}
}

// checkOutbox starts or ends outbox_backlog.
func (a *advisor) checkOutbox() {
	depth, oldest, err := a.outbox()
	if err != nil {
		return // the store is closing, or failing: its own errors are logged where they happen
	}
	age := time.Duration(0)
	if depth > 0 && !oldest.IsZero() {
		age = a.clk.Now().Sub(oldest)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	details := map[string]any{"depth": depth, "oldestAgeSeconds": age.Round(time.Millisecond).Seconds()}
	if depth > AdvisoryBacklogDepth || age > AdvisoryBacklogAge {
		a.setLocked(AdvisoryOutboxBacklog, true,
			fmt.Sprintf("%d events wait in the outbox, the oldest for %s: JetStream does not take them", depth, age.Round(time.Second)), details)
		return
	}
	a.setLocked(AdvisoryOutboxBacklog, false, "the outbox drains again", details)
}
