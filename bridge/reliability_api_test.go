package bridge_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/state"
)

// states lists the states published for kind, in order.
func (a *advisories) states(kind bridge.AdvisoryKind) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, adv := range a.got {
		if adv.Kind == kind {
			out = append(out, adv.State)
		}
	}
	return out
}

// kinds lists the kinds that were published at all.
func (a *advisories) kinds() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, adv := range a.got {
		if !slices.Contains(out, string(adv.Kind)) {
			out = append(out, string(adv.Kind))
		}
	}
	slices.Sort(out)
	return out
}

// apiFault is one row of the API fault table.
type apiFault struct {
	name    string
	tries   int                             // how many times the fault is met (for the report)
	sandbox func(*salesapitest.Config)      // before the sandbox starts
	inject  func(h *harness, now time.Time) // starts the fault (sandbox time now)
	// lasts is how long the fault lasts on the sandbox clock; the test
	// keeps the office working meanwhile and then waits for the bridge to
	// recover.
	lasts time.Duration
	// warn is part of a warning the bridge must log; metric and labels a
	// counter that must have grown.
	warn     string
	metric   string
	labels   []string
	advisory bridge.AdvisoryKind // must start and end; "" for none
	timeout  time.Duration       // the API client's Timeout, wall-clock (default its own)
	speed    float64             // sandbox time per real time (default the harness's)
	orders   int                 // orders before the fault (default 20, -1 none)
	heavy    bool                // check once the outbox is empty, without another sync
}

// TestReliabilityAPIFaults: the remote API misbehaves in every way the
// sandbox can while the office keeps working and a command arrives. The
// bridge stays up, emits no false event, recovers by itself once the fault
// is over, and says what happened (a warning, a metric, an advisory); the
// command gets exactly one outcome; afterwards the stream matches the
// sandbox's ground truth.
func TestReliabilityAPIFaults(t *testing.T) {
	// A fault lasts until the test clears it: at least its time, and
	// until the bridge has said so (its advisory started) — under load
	// the bridge makes fewer calls in a minute of sandbox time.
	window := func(kind salesapitest.FaultKind, extra func(*salesapitest.Fault)) func(*harness, time.Time) {
		return func(h *harness, now time.Time) {
			f := salesapitest.Fault{Kind: kind}
			if extra != nil {
				extra(&f)
			}
			h.sb.InjectFault(f)
		}
	}
	huge := strings.Repeat("x", 100<<10) // 100 KiB per order
	faults := []apiFault{
		{
			name: "token revoked mid-run (3 times)", tries: 3, lasts: 3 * time.Minute,
			inject: func(h *harness, _ time.Time) {
				for range 3 {
					h.sb.RevokeTokens()
					start := h.sb.Now()
					h.waitFor("a call with a new token", func() bool { return h.sb.Now().Sub(start) > time.Minute })
				}
			},
			metric: "salesbridge_api_calls_total", labels: []string{"code", "401"},
		},
		{
			name: "token endpoint down 5 min (503)", lasts: 5 * time.Minute,
			inject: func(h *harness, now time.Time) {
				h.sb.RevokeTokens()
				h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 503, Path: salesapitest.PathToken})
			},
			warn: "token", metric: "salesbridge_token_fetches_total", labels: []string{"result", "error"}, advisory: bridge.AdvisoryAuthFailing,
		},
		{
			name: "429 storm without Retry-After, 5 min", lasts: 5 * time.Minute,
			inject: window(salesapitest.FaultError, func(f *salesapitest.Fault) { f.Status = 429 }),
			warn:   "rate limited", metric: "salesbridge_api_rate_limited_total", advisory: bridge.AdvisoryRateLimited,
		},
		{
			name: "429 storm with Retry-After (server allows 3/min)", lasts: 10 * time.Minute,
			sandbox: func(c *salesapitest.Config) { c.Rate = 3 },
			inject:  func(*harness, time.Time) {},
			warn:    "rate limited", metric: "salesbridge_api_rate_limited_total", advisory: bridge.AdvisoryRateLimited,
		},
		{
			name: "maintenance window, 503 + Retry-After, 10 min", lasts: 10 * time.Minute,
			inject: func(h *harness, now time.Time) {
				h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultMaintenance, Until: now.Add(10 * time.Minute)})
			},
			// The client waits out the Retry-After (one call paused for
			// ten minutes, then answered): no list call fails, so no
			// api_unavailable advisory; the warning and the metric say it.
			warn: "retry later", metric: "salesbridge_api_calls_total", labels: []string{"code", "503"},
		},
		{
			name: "500 on every call, 5 min", lasts: 5 * time.Minute,
			inject: window(salesapitest.FaultError, nil),
			warn:   "retrying", metric: "salesbridge_api_calls_total", labels: []string{"code", "500"}, advisory: bridge.AdvisoryAPIUnavailable,
		},
		{
			// 100 ms of real time is a minute of sandbox time: five
			// attempts of a call take five minutes, two failed polls ten.
			name: "answers slower than the client timeout, 20 min", lasts: 20 * time.Minute, timeout: 100 * time.Millisecond,
			inject: func(h *harness, now time.Time) {
				h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultSlow, Delay: time.Second, RealTime: true})
			},
			warn: "no answer within", metric: "salesbridge_api_calls_total", labels: []string{"code", "0"}, advisory: bridge.AdvisoryAPIUnavailable,
		},
		{
			name: "connections dropped, 5 min", lasts: 5 * time.Minute,
			inject: window(salesapitest.FaultDrop, nil),
			warn:   "retrying", metric: "salesbridge_api_calls_total", labels: []string{"code", "0"}, advisory: bridge.AdvisoryAPIUnavailable,
		},
		{
			name: "malformed JSON with 200, 5 min", lasts: 5 * time.Minute,
			inject: window(salesapitest.FaultMalformed, nil),
			warn:   "retrying", metric: "salesbridge_api_retries_total", advisory: bridge.AdvisoryAPIUnavailable,
		},
		{
			name: "truncated answers, 5 min", lasts: 5 * time.Minute,
			inject: window(salesapitest.FaultTruncated, nil),
			warn:   "broke off", metric: "salesbridge_api_retries_total", advisory: bridge.AdvisoryAPIUnavailable,
		},
		{
			name: "empty bodies with 200, 5 min", lasts: 5 * time.Minute,
			inject: window(salesapitest.FaultEmpty, nil),
			warn:   "empty", metric: "salesbridge_api_retries_total", advisory: bridge.AdvisoryAPIUnavailable,
		},
		{
			name: "HTML error page with 200, 5 min", lasts: 5 * time.Minute,
			inject: window(salesapitest.FaultHTML, nil),
			warn:   "retrying", metric: "salesbridge_api_retries_total", advisory: bridge.AdvisoryAPIUnavailable,
		},
		{
			name: "unknown fields and nulls everywhere", lasts: 5 * time.Minute,
			sandbox: func(c *salesapitest.Config) {
				c.ExtraFields = map[string]any{
					"unknownTop": nil, "promo": map[string]any{"code": nil, "tags": []any{1, nil, "x"}},
					"flat.unknown": nil, "flat.rooms": 2, "object.unknown": nil, "object.geo": []any{55.7, 37.6},
				}
			},
			inject: func(h *harness, _ time.Time) {
				// Known fields turn null too.
				for _, o := range h.sb.Orders()[:5] {
					for _, f := range []string{"clientEmail", "clientPhone", "flat.floor", "flat.entrance"} {
						if err := h.sb.SetField(o.ID, f, nil); err != nil {
							h.t.Fatal(err)
						}
					}
				}
			},
		},
		{
			// The API starts sending a field nobody knew: every order
			// changed as the API shows it, one order.updated each, once.
			name: "a new unknown field in every order mid-run", lasts: 3 * time.Minute,
			inject: func(h *harness, _ time.Time) {
				h.sb.SetExtraFields(map[string]any{"loyalty": map[string]any{"tier": nil, "points": 0}})
			},
		},
		{
			// 100 new orders of 100 KiB each (an unknown field): the
			// first answer holding them is 10 MiB, every event 100 KiB.
			// Each such answer takes seconds to decode under -race (at
			// 60 times real time, minutes of sandbox time: not so many
			// that the bridge counts as not ready), so the test does not
			// wait for another sync: once every order is stored and the
			// outbox is empty, the bridge is stopped and the stream
			// checked.
			name: "answers of 10 MiB (100 orders of 100 KiB)", orders: -1, heavy: true, speed: 60,
			sandbox: func(c *salesapitest.Config) { c.ExtraFields = map[string]any{"attachment": huge} },
			inject: func(h *harness, now time.Time) {
				ids := h.sb.LoadOrders(100, now.Add(-time.Hour), now)
				h.waitFor("a 10 MiB answer applied", func() bool {
					stored, err := h.run.store.Orders(ids)
					return err == nil && len(stored) == len(ids)
				})
			},
		},
	}
	if testing.Short() {
		faults = slices.DeleteFunc(faults, func(f apiFault) bool {
			return !strings.HasPrefix(f.name, "429 storm without") && !strings.HasPrefix(f.name, "connections") && !strings.HasPrefix(f.name, "token revoked")
		})
	}
	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			// Each fault has its own servers and bridge, and mostly waits
			// for sandbox time to pass: side by side they take the time
			// of the longest.
			t.Parallel()
			runAPIFault(t, f, uint64(i))
		})
	}
}

func runAPIFault(t *testing.T, f apiFault, seed uint64) {
	var logs *observer.ObservedLogs
	h := newHarness(t, relMetrics, relObserveLogs(&logs), func(h *harness, c *salesapitest.Config) {
		h.cfg.CommandDeadline = 24 * time.Hour // the command must outlive the fault
		if f.speed != 0 {
			h.clk = clock.Scaled(h.clk.Now(), f.speed)
			c.Clock, h.cfg.Clock = h.clk, h.clk
		}
		if f.sandbox != nil {
			f.sandbox(c)
		}
	})
	now := h.sb.Now()
	n := cmp.Or(f.orders, 20)
	h.sb.LoadOrders(max(n, 0), now.Add(-2*time.Hour), now)
	advs := h.watchAdvisories()
	r := h.startWith(state.Options{}, func(c *salesapi.Config) {
		c.Timeout = f.timeout
	})
	h.settle()
	rng := rand.New(rand.NewPCG(seed, 77))
	target := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID

	start := h.sb.Now()
	f.inject(h, start)
	h.sendCommand(patchJSON("during-fault", target, `"comment":"во время сбоя"`), "")
	// The office keeps working while the fault lasts: a change every
	// 12 s of sandbox time.
	for {
		elapsed := h.sb.Now().Sub(start)
		if elapsed >= f.lasts && (f.advisory == "" || len(advs.states(f.advisory)) > 0) {
			break
		}
		if elapsed > f.lasts+2*time.Hour {
			t.Fatalf("no %s advisory two hours into the fault", f.advisory)
		}
		mutate(h.sb, rng)
		time.Sleep(time.Duration(float64(12*time.Second) / clock.Speed(h.clk)))
	}
	h.sb.ClearFaults()
	if f.heavy {
		h.waitFor("the outbox drained", func() bool { return h.relOutbox() == 0 })
	} else {
		h.settle()
	}
	select {
	case err := <-r.done:
		t.Fatalf("the bridge stopped: %v", err)
	default:
	}
	if o := h.outcome("during-fault"); !o.CE.Data.OK {
		t.Errorf("command during the fault: %s", o.Raw)
	}
	// A 10 MiB answer may take longer to read under -race than /readyz
	// allows between two successful calls.
	if err := r.b.Ready(); err != nil && !f.heavy {
		t.Errorf("not ready after the fault: %v", err)
	}
	if f.heavy {
		h.waitFor("the outbox drained", func() bool { return h.relOutbox() == 0 })
		h.stop()
	}
	evs := h.relEvents()
	h.checkTruth(orderEvents(evs))
	a := h.relTally(evs, 0)

	var said []string
	if f.warn != "" {
		if relWarned(logs, f.warn) {
			said = append(said, fmt.Sprintf("warned %q", f.warn))
		} else {
			t.Errorf("no warning with %q", f.warn)
		}
	}
	if f.metric != "" {
		v := gauge(t, h.cfg.Metrics, f.metric, f.labels...)
		if v == 0 {
			t.Errorf("%s%v did not grow", f.metric, f.labels)
		}
		said = append(said, fmt.Sprintf("%s%s %v", f.metric, labelText(f.labels), v))
	}
	if f.advisory != "" {
		h.waitFor("the advisory to end", func() bool {
			s := advs.states(f.advisory)
			return len(s) > 0 && s[len(s)-1] == bridge.AdvisoryEnded
		})
		got := advs.states(f.advisory)
		if got[0] != bridge.AdvisoryStarted {
			t.Errorf("advisory %s: %v", f.advisory, got)
		}
		states := strings.Join(got, "/")
		if len(got) > 4 {
			states = fmt.Sprintf("started and ended %d times", len(got)/2)
		}
		said = append(said, fmt.Sprintf("advisory %s %s", f.advisory, states))
	} else if k := advs.kinds(); len(k) > 0 && f.name != "token revoked mid-run (3 times)" {
		said = append(said, "advisories "+strings.Join(k, ","))
	}
	largest := 0
	for _, e := range evs {
		largest = max(largest, len(e.Raw))
	}
	if largest > 64<<10 {
		said = append(said, fmt.Sprintf("largest event %d KiB", largest>>10))
	}
	if n := countTypes(evs)["order.updated"]; n > 0 {
		said = append(said, fmt.Sprintf("%d order.updated", n))
	}
	tries := f.tries
	if tries == 0 {
		tries = 1
	}
	relReport(t, "API: "+f.name, tries, a, strings.Join(said, "; "))
}

func labelText(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+kv[i+1])
	}
	return "{" + strings.Join(parts, ",") + "}"
}
