package salesapi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/clock"
)

var epoch = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// grant is what a test waiter reports when Wait returns.
type grant struct {
	name string
	at   time.Time
	err  error
}

// budgetRig drives a Budget on a manual clock: it starts named waiters and
// advances time only when every goroutine has settled, so that each run
// grants the same slots at the same instants.
type budgetRig struct {
	t       *testing.T
	mu      sync.Mutex
	order   []uint64 // arrival numbers in grant order, recorded by the budget
	byseq   []string
	clk     *clock.Manual
	b       *Budget
	results chan grant
	started int
	got     []grant
}

func newRig(t *testing.T, rate int, window time.Duration) *budgetRig {
	clk := clock.NewManual(epoch)
	b := NewBudget(rate, window, clk)
	b.SetPollSpacing(0)
	r := &budgetRig{t: t, clk: clk, b: b, results: make(chan grant, 100)}
	b.onGrant = func(_ time.Time, _ Priority, seq uint64) {
		r.mu.Lock()
		r.order = append(r.order, seq)
		r.mu.Unlock()
	}
	return r
}

// wait starts a waiter and returns once it is queued or granted.
func (r *budgetRig) wait(ctx context.Context, name string, p Priority) {
	r.t.Helper()
	r.started++
	r.byseq = append(r.byseq, name)
	go func() {
		err := r.b.Wait(ctx, p)
		r.results <- grant{name: name, at: r.clk.Now(), err: err}
	}()
	r.until(func() bool { return r.queued()+len(r.got)+len(r.results) >= r.started })
	r.settle()
}

func (r *budgetRig) queued() int {
	n := 0
	for _, v := range r.b.Waiting() {
		n += v
	}
	return n
}

// settle waits until every waiter either reported or is blocked, the head
// holding a timer unless it was just granted.
func (r *budgetRig) settle() {
	r.t.Helper()
	r.until(func() bool {
		for {
			select {
			case g := <-r.results:
				r.got = append(r.got, g)
				continue
			default:
			}
			break
		}
		q := r.queued()
		return len(r.got)+q == r.started && (q == 0 || r.clk.Waiters() == 1)
	})
}

func (r *budgetRig) until(cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("budget did not settle: queued %d, reported %d of %d, timers %d", r.queued(), len(r.got), r.started, r.clk.Waiters())
		}
		runtime.Gosched()
	}
}

// advance moves the clock in steps of one second, settling after each.
func (r *budgetRig) advance(d time.Duration) {
	r.t.Helper()
	for step := time.Duration(0); step < d; step += time.Second {
		r.clk.Advance(time.Second)
		r.settle()
	}
}

// names returns the names of the granted waiters in the order the budget
// granted them.
func (r *budgetRig) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, seq := range r.order {
		out = append(out, r.byseq[seq])
	}
	return out
}

// maxInWindow returns the most grants that fall in any half-open window
// [t, t+window).
func maxInWindow(times []time.Time, window time.Duration) int {
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	best := 0
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < window {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

func TestBudgetRules(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, r *budgetRig)
	}{
		{"never more than rate grants in any window", func(t *testing.T, r *budgetRig) {
			for i := range 12 {
				r.wait(ctx, fmt.Sprint("poll", i), PriorityPoll)
			}
			if len(r.got) != 3 {
				t.Fatalf("granted %d at once, want 3", len(r.got))
			}
			r.advance(5 * time.Minute)
			if len(r.got) != 12 {
				t.Fatalf("granted %d after 5 minutes, want 12", len(r.got))
			}
			var times []time.Time
			for _, g := range r.got {
				times = append(times, g.at)
			}
			if n := maxInWindow(times, time.Minute); n > 3 {
				t.Errorf("%d grants within one window, want at most 3", n)
			}
			// FIFO within a priority.
			for i, name := range r.names() {
				if name != fmt.Sprint("poll", i) {
					t.Fatalf("grant order %v, want arrival order", r.names())
				}
			}
		}},
		{"commands before polls, FIFO within each", func(t *testing.T, r *budgetRig) {
			for i := range 3 {
				r.wait(ctx, fmt.Sprint("fill", i), PriorityPoll)
			}
			r.wait(ctx, "poll1", PriorityPoll)
			r.wait(ctx, "poll2", PriorityPoll)
			r.wait(ctx, "cmd1", PriorityCommand)
			r.wait(ctx, "poll3", PriorityPoll)
			r.wait(ctx, "cmd2", PriorityCommand)
			r.advance(3 * time.Minute)
			want := []string{"fill0", "fill1", "fill2", "cmd1", "cmd2", "poll1", "poll2", "poll3"}
			if got := r.names(); !slices.Equal(got, want) {
				t.Errorf("grant order %v, want %v", got, want)
			}
		}},
		{"a slot frees exactly one window after its grant", func(t *testing.T, r *budgetRig) {
			for i := range 4 {
				r.wait(ctx, fmt.Sprint("w", i), PriorityPoll)
			}
			r.advance(59 * time.Second)
			if len(r.got) != 3 {
				t.Fatalf("granted %d before the window ended, want 3", len(r.got))
			}
			r.advance(time.Second)
			if len(r.got) != 4 || !r.got[3].at.Equal(epoch.Add(time.Minute)) {
				t.Fatalf("fourth grant %v, want at %v", r.got, epoch.Add(time.Minute))
			}
		}},
		{"pause holds every grant until its end", func(t *testing.T, r *budgetRig) {
			r.b.Pause(epoch.Add(30 * time.Second))
			if r.b.Free() != 0 || !r.b.PausedUntil().Equal(epoch.Add(30*time.Second)) {
				t.Fatalf("paused: free %d, until %v", r.b.Free(), r.b.PausedUntil())
			}
			r.wait(ctx, "cmd", PriorityCommand)
			r.advance(29 * time.Second)
			if len(r.got) != 0 {
				t.Fatalf("granted during the pause: %v", r.got)
			}
			r.b.Pause(epoch.Add(10 * time.Second)) // a shorter pause changes nothing
			r.advance(time.Second)
			if len(r.got) != 1 || !r.got[0].at.Equal(epoch.Add(30*time.Second)) {
				t.Fatalf("got %v, want one grant at the end of the pause", r.got)
			}
			if !r.b.PausedUntil().IsZero() {
				t.Errorf("PausedUntil %v after the pause", r.b.PausedUntil())
			}
		}},
		{"a pause while waiting delays the head", func(t *testing.T, r *budgetRig) {
			for i := range 4 {
				r.wait(ctx, fmt.Sprint("w", i), PriorityPoll)
			}
			r.b.Pause(epoch.Add(90 * time.Second))
			r.settle()
			r.advance(89 * time.Second)
			if len(r.got) != 3 {
				t.Fatalf("granted %d before the pause ended, want 3", len(r.got))
			}
			r.advance(time.Second)
			if len(r.got) != 4 {
				t.Fatalf("granted %d after the pause, want 4", len(r.got))
			}
		}},
		{"a cancelled waiter takes no slot and leaves the line", func(t *testing.T, r *budgetRig) {
			for i := range 3 {
				r.wait(ctx, fmt.Sprint("fill", i), PriorityPoll)
			}
			cctx, cancel := context.WithCancel(ctx)
			r.wait(cctx, "cancelled", PriorityCommand)
			r.wait(ctx, "poll", PriorityPoll)
			cancel()
			r.until(func() bool { return len(r.got)+len(r.results) >= 4 })
			r.settle()
			if len(r.got) != 4 || !errors.Is(r.got[3].err, context.Canceled) {
				t.Fatalf("got %v, want the cancelled waiter to report context.Canceled", r.got)
			}
			r.advance(time.Minute)
			if len(r.got) != 5 || r.got[4].name != "poll" || r.got[4].err != nil {
				t.Fatalf("got %v, want poll granted", r.got)
			}
			if r.b.Used() != 1 {
				t.Errorf("used %d, want 1", r.b.Used())
			}
		}},
		{"polls are spaced, commands are not", func(t *testing.T, r *budgetRig) {
			r.b.SetPollSpacing(20 * time.Second)
			r.wait(ctx, "poll1", PriorityPoll)
			r.wait(ctx, "poll2", PriorityPoll)
			r.wait(ctx, "cmd1", PriorityCommand)
			if got := r.names(); !slices.Equal(got, []string{"poll1", "cmd1"}) {
				t.Fatalf("at once: %v, want poll1 and cmd1", got)
			}
			r.advance(19 * time.Second)
			if len(r.got) != 2 {
				t.Fatalf("poll2 granted before the spacing: %v", r.names())
			}
			r.advance(time.Second)
			if len(r.got) != 3 || !r.got[2].at.Equal(epoch.Add(20*time.Second)) {
				t.Fatalf("got %v, want poll2 at 20 s", r.got)
			}
		}},
		{"free, used and next", func(t *testing.T, r *budgetRig) {
			if r.b.Free() != 3 || r.b.Used() != 0 || !r.b.Next().Equal(epoch) {
				t.Fatalf("fresh budget: free %d used %d next %v", r.b.Free(), r.b.Used(), r.b.Next())
			}
			r.wait(ctx, "a", PriorityPoll)
			r.advance(10 * time.Second)
			r.wait(ctx, "b", PriorityPoll)
			r.wait(ctx, "c", PriorityPoll)
			if r.b.Free() != 0 || r.b.Used() != 3 || !r.b.Next().Equal(epoch.Add(time.Minute)) {
				t.Fatalf("full budget: free %d used %d next %v", r.b.Free(), r.b.Used(), r.b.Next())
			}
			r.advance(50 * time.Second)
			if r.b.Free() != 1 || r.b.Used() != 2 || !r.b.Next().Equal(r.clk.Now()) {
				t.Fatalf("after a minute: free %d used %d next %v", r.b.Free(), r.b.Used(), r.b.Next())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newRig(t, 3, time.Minute))
		})
	}
}

func TestWaitCancelledBeforeStart(t *testing.T) {
	b := NewBudget(1, time.Minute, clock.NewManual(epoch))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx, PriorityCommand); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if b.Used() != 0 {
		t.Errorf("used %d, want 0", b.Used())
	}
}

// loadFigures is what a load run measured.
type loadFigures struct {
	grants                 int
	maxInWindow            int
	cmdMean, cmdP95        time.Duration
	pollMean, pollP95      time.Duration
	cmdCount, pollCount    int
	simulated, realElapsed time.Duration
}

// runBudgetLoad runs pollers that call as fast as the budget lets them and
// commanders that arrive at random (exponential think times, mean 40 s),
// for the given clock time on a manual clock advanced in steps of step,
// each once every goroutine has settled: the grants never depend on how
// busy the machine is (only the order of two commands arriving in the same
// step may vary).
func runBudgetLoad(tb testing.TB, rate, pollers, commanders int, simulated, step time.Duration, seed uint64, spaced bool) loadFigures {
	clk := clock.NewManual(epoch)
	b := NewBudget(rate, time.Minute, clk)
	if !spaced {
		b.SetPollSpacing(0)
	}
	var (
		mu       sync.Mutex
		grants   []time.Time
		waits    = map[Priority][]time.Duration{}
		sleeping atomic.Int64
	)
	b.onGrant = func(at time.Time, _ Priority, _ uint64) { grants = append(grants, at) } // under b.mu
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	worker := func(p Priority, think func() time.Duration) {
		defer wg.Done()
		for {
			if d := think(); d > 0 {
				sleeping.Add(1)
				err := clock.Sleep(ctx, clk, d)
				sleeping.Add(-1)
				if err != nil {
					return
				}
			}
			start := clk.Now()
			if err := b.Wait(ctx, p); err != nil {
				return
			}
			mu.Lock()
			waits[p] = append(waits[p], clk.Now().Sub(start))
			mu.Unlock()
		}
	}
	think := func(i int) func() time.Duration {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		return func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(40*time.Second)) }
	}
	for range pollers {
		wg.Add(1)
		go worker(PriorityPoll, func() time.Duration { return 0 })
	}
	for i := range commanders {
		wg.Add(1)
		go worker(PriorityCommand, think(i))
	}
	total := int64(pollers + commanders)
	settled := func() bool {
		var q int64
		for _, n := range b.Waiting() {
			q += int64(n)
		}
		s := sleeping.Load()
		return q+s == total && int64(clk.Waiters()) == s+min(q, 1)
	}
	began := time.Now()
	for elapsed := time.Duration(0); elapsed < simulated; elapsed += step {
		deadline := time.Now().Add(10 * time.Second)
		for !settled() {
			if time.Now().After(deadline) {
				tb.Fatalf("load did not settle at %s", elapsed)
			}
			runtime.Gosched()
		}
		clk.Advance(step)
	}
	cancel()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	f := loadFigures{grants: len(grants), maxInWindow: maxInWindow(slices.Clone(grants), time.Minute),
		simulated: simulated, realElapsed: time.Since(began)}
	f.cmdCount, f.cmdMean, f.cmdP95 = stats(waits[PriorityCommand])
	f.pollCount, f.pollMean, f.pollP95 = stats(waits[PriorityPoll])
	return f
}

func stats(d []time.Duration) (n int, mean, p95 time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return len(d), sum / time.Duration(len(d)), d[(len(d)*95+99)/100-1]
}

func (f loadFigures) String() string {
	return fmt.Sprintf("%d grants in %s of clock time (%s real): max %d in any 60 s window; "+
		"commands n=%d mean wait %s p95 %s; polls n=%d mean wait %s p95 %s",
		f.grants, f.simulated, f.realElapsed.Round(time.Millisecond), f.maxInWindow,
		f.cmdCount, f.cmdMean.Round(10*time.Millisecond), f.cmdP95.Round(10*time.Millisecond),
		f.pollCount, f.pollMean.Round(10*time.Millisecond), f.pollP95.Round(10*time.Millisecond))
}

// TestBudgetUnderLoad: four pollers saturate the budget while two
// commanders arrive at random; the budget never grants more than its rate
// in any window and serves commands first. It prints the figures.
func TestBudgetUnderLoad(t *testing.T) {
	f := runBudgetLoad(t, DefaultRate, 4, 2, 20*time.Minute, 250*time.Millisecond, 1, true)
	t.Log("polls spaced (default):", f)
	t.Log("polls unspaced:        ", runBudgetLoad(t, DefaultRate, 4, 2, 20*time.Minute, 250*time.Millisecond, 1, false))
	if f.maxInWindow > DefaultRate {
		t.Errorf("%d grants in one window, want at most %d", f.maxInWindow, DefaultRate)
	}
	if f.grants < 20*DefaultRate-DefaultRate {
		t.Errorf("only %d grants in 20 minutes: the budget is not used", f.grants)
	}
	if f.cmdCount == 0 || f.pollCount == 0 {
		t.Fatalf("no commands or no polls served: %v", f)
	}
	if f.cmdMean >= f.pollMean {
		t.Errorf("commands waited %s on average, polls %s: commands must go first", f.cmdMean, f.pollMean)
	}
}

// BenchmarkBudget runs the load of TestBudgetUnderLoad once per iteration
// and reports the largest number of grants seen in a 60 s window and the
// waits of commands and polls, in clock seconds.
func BenchmarkBudget(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		f := runBudgetLoad(b, DefaultRate, 4, 2, 20*time.Minute, 250*time.Millisecond, uint64(i+1), true)
		if f.maxInWindow > DefaultRate {
			b.Fatalf("%d grants in one window, want at most %d", f.maxInWindow, DefaultRate)
		}
		b.ReportMetric(float64(f.maxInWindow), "max/window")
		b.ReportMetric(f.cmdMean.Seconds(), "cmd-mean-wait-s")
		b.ReportMetric(f.cmdP95.Seconds(), "cmd-p95-wait-s")
		b.ReportMetric(f.pollMean.Seconds(), "poll-mean-wait-s")
		b.ReportMetric(f.pollP95.Seconds(), "poll-p95-wait-s")
	}
}
