package bridge_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/state"
)

// jumpClock is a clock whose reading can jump, as a wall clock stepped by
// NTP or an operator does, while its timers keep running on the steady
// clock beneath (as time.Timer does on the monotonic clock).
type jumpClock struct {
	base   clock.Clock
	offset atomic.Int64 // nanoseconds added to base
}

func (j *jumpClock) Now() time.Time                       { return j.base.Now().Add(time.Duration(j.offset.Load())) }
func (j *jumpClock) NewTimer(d time.Duration) clock.Timer { return j.base.NewTimer(d) }
func (j *jumpClock) jump(d time.Duration)                 { j.offset.Add(int64(d)) }

// maxInWindow is the largest number of API calls (GET and PATCH, not
// tokens) the sandbox received in any window of its own clock.
func maxInWindow(reqs []salesapitest.Request, window time.Duration) int {
	var at []time.Time
	for _, r := range reqs {
		if strings.Contains(r.Path, salesapitest.APIPath) {
			at = append(at, r.At)
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	best := 0
	for i, j := 0, 0; j < len(at); j++ {
		for at[j].Sub(at[i]) >= window {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}

// longestGap is the longest time between two API calls the sandbox
// received, on its clock.
func longestGap(reqs []salesapitest.Request) time.Duration {
	var gap time.Duration
	var last time.Time
	for _, r := range reqs {
		if !strings.Contains(r.Path, salesapitest.APIPath) {
			continue
		}
		if !last.IsZero() {
			gap = max(gap, r.At.Sub(last))
		}
		last = r.At
	}
	return gap
}

// TestReliabilityClockJumps: the bridge's clock jumps forward and back by
// hours and days while orders change and commands arrive; the sandbox's
// (the server's) clock does not. Events still come out exactly once, and
// the server never sees more than 10 calls in any minute of its own clock.
//
// Two cases. In production the call budget measures time with the
// monotonic reading that time.Now carries, which a wall-clock step does
// not move; everything else (event times, the planner's windows, command
// deadlines, the state file's times) sees the step. "wall" reproduces
// that: the API client stays on the steady clock, the bridge jumps. "all"
// puts the API client on the jumping clock too — a clock without a
// monotonic reading — which the budget cannot see through: the test then
// reports what the server saw instead of requiring it.
func TestReliabilityClockJumps(t *testing.T) {
	for _, whole := range []bool{false, true} {
		name := map[bool]string{false: "wall", true: "all"}[whole]
		jumps := []time.Duration{2 * time.Hour, -3 * time.Hour, 24 * time.Hour, -24 * time.Hour, 10 * time.Minute, -30 * time.Minute}
		if whole {
			// A budget on a clock that goes back holds its slots until
			// the clock has caught up again: the backward jumps are kept
			// short, the stall is what the report shows.
			jumps = []time.Duration{2 * time.Hour, -5 * time.Minute, 24 * time.Hour, -10 * time.Minute, 10 * time.Minute, -time.Minute}
		}
		if testing.Short() {
			jumps = jumps[:2]
		}
		t.Run(name, func(t *testing.T) {
			var jc *jumpClock
			h := newHarness(t, func(h *harness, _ *salesapitest.Config) {
				jc = &jumpClock{base: h.clk}
				h.cfg.Clock = jc
			})
			now := h.sb.Now()
			orders := h.sb.LoadOrders(30, now.Add(-time.Hour), now)
			h.startWith(state.Options{}, func(c *salesapi.Config) {
				if whole {
					c.Clock = jc
				}
			})
			// A sync that started after now, on the bridge's clock: its
			// LastSync moved, and is after now (a sweep that started
			// before a backward jump may be "after" too: hence both).
			settle := func() {
				st, err := h.run.b.Status()
				must(t, err)
				before := st.LastSync
				since := jc.Now()
				h.waitFor("a complete sync and an empty outbox", func() bool {
					st, err := h.run.b.Status()
					return err == nil && st.LastSync != nil && (before == nil || !st.LastSync.Equal(*before)) &&
						st.LastSync.After(since) && st.Outbox.Depth == 0
				})
			}
			settle()
			rng := rand.New(rand.NewPCG(61, 62))
			for i, d := range jumps {
				jc.jump(d)
				for range 15 {
					mutate(h.sb, rng)
					time.Sleep(5 * time.Millisecond)
				}
				id := fmt.Sprintf("jump-%d", i)
				h.sendCommand(patchJSON(id, orders[i], fmt.Sprintf(`"finalPrice":%d`, 4_000_000+i)), "")
				if o := h.outcome(id); !o.CE.Data.OK {
					t.Errorf("command after the jump of %s: %s", d, o.Raw)
				}
				settle()
			}
			evs := h.relEvents()
			h.checkTruth(orderEvents(evs))
			reqs := h.sb.Requests()
			worst := maxInWindow(reqs, salesapitest.RateWindow)
			refused := 0
			for _, r := range reqs {
				if r.Status == http.StatusTooManyRequests {
					refused++
				}
			}
			note := fmt.Sprintf("jumps %v; at most %d calls in a minute of the server's clock, %d answered 429; longest silence %s", jumps, worst, refused, longestGap(reqs).Round(time.Second))
			if !whole && (worst > salesapi.DefaultRate || refused > 0) {
				t.Errorf("the server saw %d calls in one minute, %d refused", worst, refused)
			}
			fault := "bridge clock jumps (budget on the monotonic clock)"
			if whole {
				fault = "bridge and API client clock jump (no monotonic clock)"
			}
			relReport(t, fault, len(jumps), h.relTally(evs, 0), note)
		})
	}
}
