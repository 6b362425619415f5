package freshness

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// Workload is one simulated account.
type Workload struct {
	Name string
	// Orders is how many orders the account has over History; visitors
	// keep creating them at the same pace (Orders per History) while the
	// benchmark runs.
	Orders  int
	History time.Duration // how far back the seeded orders go; default 90 days (the bridge's lookback)
	Measure time.Duration // simulated time measured after the first sync and the warm-up
	// OrdersPerDay is how many orders visitors create per day while the
	// benchmark runs; default Orders per History.
	OrdersPerDay float64
	// OfficeReaction and OfficeStep override the sandbox's traffic
	// defaults (3 h and 12 h): the mean time before the office first works
	// a new order and between two of its steps. Zero keeps the default.
	OfficeReaction, OfficeStep time.Duration
}

// Workloads returns the standard workloads: 90 days of orders at three
// sizes — S, 200 orders, and M, 3 000, each measured over a simulated day;
// L, 30 000, over four hours.
func Workloads() []Workload {
	return []Workload{
		{Name: "S", Orders: 200, Measure: 24 * time.Hour},
		{Name: "M", Orders: 3000, Measure: 24 * time.Hour},
		{Name: "L", Orders: 30000, Measure: 4 * time.Hour},
	}
}

// WorkloadNamed returns the standard workload of that name (S, M or L, in
// any case).
func WorkloadNamed(name string) (Workload, error) {
	for _, w := range Workloads() {
		if strings.EqualFold(w.Name, strings.TrimSpace(name)) {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q (want S, M or L)", name)
}

// Planner names the poller under test.
type Planner string

// The pollers.
const (
	PlannerSync  Planner = "planner" // the bridge's sync planner
	PlannerNaive Planner = "naive"   // every call continues one unfiltered oldest-first sweep of the window
)

// Config configures a run. Zero fields take the defaults.
type Config struct {
	Workloads []Workload              // default Workloads()
	Orderings []salesapitest.Ordering // default all three
	Planners  []Planner               // default both
	Seed      int64                   // seeds the sandbox's data and traffic; default 1
	// Seeds is how many seeds (Seed, Seed+1, …) each run is repeated
	// with; their samples are pooled into one result. Default 1.
	Seeds int
	// Warmup is simulated time after the first sync before measuring
	// (the planner's model and head settle); default 15 min.
	Warmup time.Duration
	// Dir holds the state files; default a temporary directory, removed
	// at the end.
	Dir    string
	Logger *zap.Logger // default zap.NewNop()
	// Progress, if set, is told when each run starts and ends (from the
	// goroutine of the run).
	Progress func(msg string)
	// Parallel is how many runs go at once, each with its own sandbox,
	// clock and state; default GOMAXPROCS.
	Parallel int
	// Drain is the least simulated time the poller keeps running after the
	// measured window (and until a sweep that started after it completed),
	// so that changes read late still count as published; default 1 h.
	Drain time.Duration
}

// Latency summarises detection latencies.
type Latency struct {
	Happened  int // changes that happened in the measured window
	Published int // of them, published by the end of the run
	P50, P95  time.Duration
	Max       time.Duration

	samples []time.Duration // the latencies summarised, kept to pool seeds
}

// Share returns Published / Happened (1 when nothing happened).
func (l Latency) Share() float64 {
	if l.Happened == 0 {
		return 1
	}
	return float64(l.Published) / float64(l.Happened)
}

// Result is one workload in one server ordering with one poller.
type Result struct {
	Workload string
	Ordering salesapitest.Ordering
	Planner  Planner

	History   time.Duration // the workload's history, and the bridge's lookback
	Orders    int           // orders at the API when the measurement started
	Active    float64       // orders in an active status, mean of start and end of the measurement
	Measured  time.Duration // simulated time measured, over all seeds
	FirstSync time.Duration // simulated time the first sync took (the longest of the seeds)
	Seeds     int           // runs pooled, each with its own seed

	Calls          int     // list calls in the measured window
	CallsPerMinute float64 // of the measured window
	RateLimited    int     // 429 answers in the whole run (must be 0)
	Failed         int     // steps whose call or apply failed, in the whole run

	CallGap    time.Duration // the budget's spacing of calls: window ÷ rate
	IdealSweep time.Duration // ⌈Active/100⌉ call gaps: the shortest period in which every active order can be read

	New Latency // order.created, from the order's createdAt
	// Transitions are the order.status_changed events of orders the
	// ordering lets a call read (all when oldest first; see readable),
	// from the history entry's time; Unreachable counts those of the
	// others.
	Transitions, Unreachable Latency
	Prices                   Latency // order.price_changed, from the history entry's time

	View bridge.SyncView // the planner's view at the end
	Wall time.Duration   // real time the run took
}

// NewRatio is the new orders' p95 in call gaps (the lower bound of the
// worst case is one gap: a new order cannot be seen before the next call).
func (r Result) NewRatio() float64 { return ratio(r.New.P95, r.CallGap) }

// TransitionRatio is the transitions' p95 in ideal sweep periods.
func (r Result) TransitionRatio() float64 { return ratio(r.Transitions.P95, r.IdealSweep) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// epoch is when every simulation starts (any fixed time will do).
func epoch() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }

// Run runs every workload in every ordering with every poller, one after
// another, and returns the results in that order.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if len(cfg.Workloads) == 0 {
		cfg.Workloads = Workloads()
	}
	if len(cfg.Orderings) == 0 {
		cfg.Orderings = []salesapitest.Ordering{salesapitest.OldestFirst, salesapitest.NewestFirst, salesapitest.Shuffled}
	}
	if len(cfg.Planners) == 0 {
		cfg.Planners = []Planner{PlannerSync, PlannerNaive}
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Seeds <= 0 {
		cfg.Seeds = 1
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = 15 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "salesbridge-freshness-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = runtime.GOMAXPROCS(0)
	}
	if cfg.Drain <= 0 {
		cfg.Drain = time.Hour
	}
	type job struct {
		w    Workload
		o    salesapitest.Ordering
		p    Planner
		seed int64
	}
	var jobs []job
	for _, w := range cfg.Workloads {
		for _, o := range cfg.Orderings {
			for _, p := range cfg.Planners {
				for k := range cfg.Seeds {
					jobs = append(jobs, job{w, o, p, cfg.Seed + int64(k)})
				}
			}
		}
	}
	runs := make([]Result, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Parallel)
	for i, j := range jobs {
		g.Go(func() error {
			name := fmt.Sprintf("%s %s %s", j.w.Name, j.o, j.p)
			if cfg.Seeds > 1 {
				name += fmt.Sprintf(" seed %d", j.seed)
			}
			if cfg.Progress != nil {
				cfg.Progress(name + ": running")
			}
			r, err := runOne(gctx, cfg, j.seed, j.w, j.o, j.p)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if cfg.Progress != nil {
				cfg.Progress(fmt.Sprintf("%s: done in %s", name, r.Wall.Round(time.Millisecond)))
			}
			runs[i] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(runs)/cfg.Seeds)
	for i := 0; i < len(runs); i += cfg.Seeds {
		out = append(out, pool(runs[i:i+cfg.Seeds]))
	}
	return out, nil
}

// pool merges the runs of one workload, ordering and poller over several
// seeds: counts add up, latencies are summarised over every sample, sizes
// are averaged, and the planner's view is the first run's.
func pool(runs []Result) Result {
	r := runs[0]
	if len(runs) == 1 {
		return r
	}
	n := float64(len(runs))
	orders, active, firstSync := 0, 0.0, time.Duration(0)
	for i, x := range runs {
		orders += x.Orders
		active += x.Active
		firstSync = max(firstSync, x.FirstSync)
		if i == 0 {
			continue
		}
		r.Measured += x.Measured
		r.Calls += x.Calls
		r.RateLimited += x.RateLimited
		r.Failed += x.Failed
		r.Wall += x.Wall
		for _, l := range []struct{ into, from *Latency }{
			{&r.New, &x.New}, {&r.Transitions, &x.Transitions}, {&r.Unreachable, &x.Unreachable}, {&r.Prices, &x.Prices},
		} {
			l.into.Happened += l.from.Happened
			l.into.Published += l.from.Published
			l.into.samples = append(slices.Clone(l.into.samples), l.from.samples...)
		}
	}
	r.Seeds = len(runs)
	r.Orders = int(math.Round(float64(orders) / n))
	r.Active = active / n
	r.FirstSync = firstSync
	r.CallsPerMinute = float64(r.Calls) / r.Measured.Minutes()
	r.IdealSweep = time.Duration(math.Ceil(r.Active/float64(salesapi.MaxLimit))) * r.CallGap
	for _, l := range []*Latency{&r.New, &r.Transitions, &r.Unreachable, &r.Prices} {
		summarise(l, l.samples)
	}
	return r
}
