package bridge_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// advisories records what arrives on <prefix>.advisory.>.
type advisories struct {
	h    *harness
	mu   sync.Mutex
	got  []bridge.Advisory
	used map[int]bool // consumed by expect, by position in got
}

// watchAdvisories subscribes on the harness's connection, the one the
// bridge publishes on, so that advisories published while NATS is away
// (buffered by the client) are seen too. Every advisory is validated
// against the contract.
func (h *harness) watchAdvisories() *advisories {
	h.t.Helper()
	a := &advisories{h: h, used: map[int]bool{}}
	sub, err := h.nc.Subscribe(h.names.Prefix+".advisory.>", func(m *nats.Msg) {
		if err := h.schemas.ValidateAdvisory(m.Data); err != nil {
			h.t.Errorf("advisory breaks the contract: %v\n%s", err, m.Data)
		}
		var adv bridge.Advisory
		if err := json.Unmarshal(m.Data, &adv); err != nil {
			h.t.Errorf("advisory: %v", err)
			return
		}
		if m.Subject != h.names.AdvisorySubject(adv.Kind) {
			h.t.Errorf("advisory %s on %s", adv.Kind, m.Subject)
		}
		a.mu.Lock()
		a.got = append(a.got, adv)
		a.mu.Unlock()
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	return a
}

// expect waits for the next advisory of kind and checks its state.
func (a *advisories) expect(kind bridge.AdvisoryKind, state string) bridge.Advisory {
	a.h.t.Helper()
	var found bridge.Advisory
	a.h.waitFor("advisory "+string(kind)+" "+state, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for i, adv := range a.got {
			if a.used[i] || adv.Kind != kind {
				continue
			}
			a.used[i] = true
			found = adv
			return true
		}
		return false
	})
	if found.State != state {
		a.h.t.Errorf("advisory %s: %s (%s), want %s", kind, found.State, found.Message, state)
	}
	return found
}

// none checks that every advisory received was expected.
func (a *advisories) none() {
	a.h.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, adv := range a.got {
		if !a.used[i] {
			a.h.t.Errorf("unexpected advisory %s %s: %s %v", adv.Kind, adv.State, adv.Message, adv.Details)
		}
	}
}

// TestAdvisories drives the real stack into each API-side condition and out
// of it, and checks that each is announced once when it starts and once when
// it ends. (outbox_backlog: TestReadyzFollowsNATS.)
func TestAdvisories(t *testing.T) {
	newestFirst := func(_ *harness, sc *salesapitest.Config) { sc.Order = salesapitest.NewestFirst }
	h := newHarness(t, withMetrics, newestFirst)
	// More NEW orders than a page, on a server that answers newest first:
	// the planner cannot page them.
	now := h.sb.Now()
	ids := h.sb.LoadOrders(salesapi.MaxLimit+1, now.Add(-48*time.Hour), now)
	advs := h.watchAdvisories()
	h.start()

	t.Run("coverage_lost", func(t *testing.T) {
		adv := advs.expect(bridge.AdvisoryCoverageLost, bridge.AdvisoryStarted)
		if adv.Details["status"] != "NEW" {
			t.Errorf("details %v, want the NEW pass", adv.Details)
		}
		for _, id := range ids[:5] {
			must(t, h.sb.SetStatus(id, salesapi.StatusProgress))
		}
		advs.expect(bridge.AdvisoryCoverageLost, bridge.AdvisoryEnded)
	})
	t.Run("api_unavailable", func(t *testing.T) {
		// Two list calls, each with its four retries, answered 500.
		h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 500, Path: salesapitest.PathOrders, Count: 10})
		advs.expect(bridge.AdvisoryAPIUnavailable, bridge.AdvisoryStarted)
		advs.expect(bridge.AdvisoryAPIUnavailable, bridge.AdvisoryEnded)
	})
	t.Run("rate_limited", func(t *testing.T) {
		h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 429, Path: salesapitest.PathOrders, Count: 1})
		adv := advs.expect(bridge.AdvisoryRateLimited, bridge.AdvisoryStarted)
		start, err := time.Parse(time.RFC3339, adv.At)
		must(t, err)
		end := advs.expect(bridge.AdvisoryRateLimited, bridge.AdvisoryEnded)
		stop, err := time.Parse(time.RFC3339, end.At)
		must(t, err)
		if gap := stop.Sub(start); gap < salesapi.RateWindow {
			t.Errorf("ended %s after it started, before the pause was over", gap)
		}
	})
	t.Run("auth_failing", func(t *testing.T) {
		// The API forgets the token and the token endpoint refuses once.
		h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 401, Path: salesapitest.PathToken, Count: 1})
		h.sb.RevokeTokens()
		adv := advs.expect(bridge.AdvisoryAuthFailing, bridge.AdvisoryStarted)
		if adv.Details["error"] == nil {
			t.Errorf("details %v: want the error", adv.Details)
		}
		advs.expect(bridge.AdvisoryAuthFailing, bridge.AdvisoryEnded)
	})
	h.stop()
	advs.none()
}
