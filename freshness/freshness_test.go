package freshness_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/freshness"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// quick is a small, busy account: 30 orders over half a day, 2 000 new
// ones a day, an office that works an order within minutes. Everything
// fits in a page, so every change must be published in every ordering.
var quick = freshness.Workload{
	Name: "quick", Orders: 30, History: 12 * time.Hour, OrdersPerDay: 2000, Measure: 6 * time.Minute,
	OfficeReaction: 2 * time.Minute, OfficeStep: 3 * time.Minute,
}

// TestPlannerFreshness runs the sync planner against the sandbox in every
// server ordering, on a simulated clock, and checks what users feel: no
// call refused with 429, every new order and every status and price change
// of the measured window published, new orders within two call gaps.
func TestPlannerFreshness(t *testing.T) {
	orderings := []salesapitest.Ordering{salesapitest.OldestFirst, salesapitest.NewestFirst, salesapitest.Shuffled}
	results, err := freshness.Run(context.Background(), freshness.Config{
		Workloads: []freshness.Workload{quick},
		Orderings: orderings,
		Planners:  []freshness.Planner{freshness.PlannerSync},
		Warmup:    time.Minute,
		Drain:     time.Minute,
		Parallel:  len(orderings),
		Dir:       t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := freshness.WriteTable(&table, results); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	for _, r := range results {
		if r.RateLimited != 0 {
			t.Errorf("%s: %d answers 429", r.Ordering, r.RateLimited)
		}
		for name, l := range map[string]freshness.Latency{"new orders": r.New, "transitions": r.Transitions, "transitions of unreachable orders": r.Unreachable, "prices": r.Prices} {
			if l.Published != l.Happened {
				t.Errorf("%s: %s: %d of %d published", r.Ordering, name, l.Published, l.Happened)
			}
		}
		if r.New.Happened == 0 || r.Transitions.Happened < 5 {
			t.Errorf("%s: a quiet workload (%d new orders, %d transitions): the test proves nothing", r.Ordering, r.New.Happened, r.Transitions.Happened)
		}
		if r.New.Max > 2*r.CallGap {
			t.Errorf("%s: a new order seen after %s, more than two call gaps (%s)", r.Ordering, r.New.Max, 2*r.CallGap)
		}
		// Every order is in the head here: a change is seen within two gaps.
		if r.Transitions.Max > 2*r.CallGap {
			t.Errorf("%s: a transition seen after %s, more than two call gaps (%s)", r.Ordering, r.Transitions.Max, 2*r.CallGap)
		}
		if r.CallsPerMinute > 10 {
			t.Errorf("%s: %.2f calls a minute", r.Ordering, r.CallsPerMinute)
		}
	}
}

// BenchmarkFreshness runs the freshness benchmark (the same engine as
// `salesbridge bench freshness`) on the standard workloads and reports the
// ratios to the lower bounds. It takes minutes:
//
//	go test -run '^$' -bench Freshness -benchtime 1x ./freshness/
func BenchmarkFreshness(b *testing.B) {
	for _, w := range freshness.Workloads() {
		for _, o := range []salesapitest.Ordering{salesapitest.OldestFirst, salesapitest.NewestFirst, salesapitest.Shuffled} {
			b.Run(w.Name+"/"+o.String(), func(b *testing.B) {
				for range b.N {
					res, err := freshness.Run(context.Background(), freshness.Config{
						Workloads: []freshness.Workload{w}, Orderings: []salesapitest.Ordering{o},
						Planners: []freshness.Planner{freshness.PlannerSync}, Dir: b.TempDir(),
					})
					if err != nil {
						b.Fatal(err)
					}
					r := res[0]
					b.ReportMetric(r.CallsPerMinute, "calls/min")
					b.ReportMetric(float64(r.RateLimited), "429s")
					b.ReportMetric(r.New.P95.Seconds(), "new-p95-s")
					b.ReportMetric(r.NewRatio(), "new-p95/gap")
					b.ReportMetric(r.Transitions.P95.Seconds(), "transition-p95-s")
					b.ReportMetric(r.TransitionRatio(), "transition-p95/ideal")
					b.ReportMetric(100*r.Transitions.Share(), "published-%")
				}
			})
		}
	}
}

// TestSeedsPooled: a run over two seeds adds up the two runs it pools.
func TestSeedsPooled(t *testing.T) {
	run := func(seed int64, seeds int) freshness.Result {
		t.Helper()
		res, err := freshness.Run(context.Background(), freshness.Config{
			Workloads: []freshness.Workload{quick}, Orderings: []salesapitest.Ordering{salesapitest.OldestFirst},
			Planners: []freshness.Planner{freshness.PlannerSync}, Seed: seed, Seeds: seeds,
			Warmup: time.Minute, Drain: time.Minute, Dir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 {
			t.Fatalf("%d results, want 1", len(res))
		}
		return res[0]
	}
	a, b, both := run(1, 1), run(2, 1), run(1, 2)
	if both.Seeds != 2 || both.Measured != a.Measured+b.Measured || both.Calls != a.Calls+b.Calls {
		t.Errorf("pooled: seeds %d, measured %s, calls %d; want 2, %s, %d", both.Seeds, both.Measured, both.Calls, a.Measured+b.Measured, a.Calls+b.Calls)
	}
	for name, l := range map[string][3]freshness.Latency{"new": {a.New, b.New, both.New}, "transitions": {a.Transitions, b.Transitions, both.Transitions}} {
		if l[2].Happened != l[0].Happened+l[1].Happened || l[2].Published != l[0].Published+l[1].Published || l[2].Max != max(l[0].Max, l[1].Max) {
			t.Errorf("%s: pooled %+v from %+v and %+v", name, l[2], l[0], l[1])
		}
	}
	if a.New.Happened == b.New.Happened && a.Transitions.Happened == b.Transitions.Happened && a.New.Max == b.New.Max {
		t.Error("seeds 1 and 2 ran the same workload")
	}
}
