package freshness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/state"
)

// One run: the sandbox, the client, the state and the poller on one manual
// clock, moved one call slot at a time.

// stallAfter is how long, in real time, a step may take before the
// simulation concludes that it waits on the clock (a retry's backoff, the
// budget) and moves the clock on by a second.
const stallAfter = 2 * time.Second

// sim is one run.
type sim struct {
	clk    *clock.Manual
	sb     *salesapitest.Server
	st     *bridge.Stepper
	store  *state.Store
	gap    time.Duration
	next   time.Time            // the next call slot
	seen   map[string]time.Time // event id → when the outbox got it
	synced time.Time            // when the first sync completed
	failed int                  // steps that failed
}

func runOne(ctx context.Context, cfg Config, seed int64, w Workload, ordering salesapitest.Ordering, planner Planner) (Result, error) {
	started := time.Now()
	if w.History <= 0 {
		w.History = bridge.DefaultLookback
	}
	res := Result{Workload: w.Name, Ordering: ordering, Planner: planner, Measured: w.Measure, History: w.History, Seeds: 1}
	clk := clock.NewManual(epoch())
	perDay := w.OrdersPerDay
	if perDay <= 0 {
		perDay = float64(w.Orders) / (w.History.Hours() / 24)
	}
	sb := salesapitest.NewServer(salesapitest.Config{
		Clock: clk, Seed: seed, Order: ordering, Logger: cfg.Logger.Named("sandbox"),
		Traffic: &salesapitest.Traffic{
			Orders: w.Orders, History: w.History, OrdersPerDay: perDay,
			OfficeReaction: w.OfficeReaction, OfficeStep: w.OfficeStep,
		},
	})
	defer sb.Close()
	path := filepath.Join(cfg.Dir, fmt.Sprintf("%s-%s-%s-%d.db", w.Name, ordering, planner, seed))
	_ = os.Remove(path)
	store, err := state.Open(path, &state.Options{NoSync: true, Clock: clk})
	if err != nil {
		return res, err
	}
	defer func() {
		_ = store.Close()
		_ = os.Remove(path)
	}()
	client, err := salesapi.New(salesapi.Config{
		APIURL: sb.URL, AuthURL: sb.AuthURL, ClientID: sb.ClientID(), ClientSecret: sb.ClientSecret(),
		Clock: clk, Logger: cfg.Logger.Named("api"),
	})
	if err != nil {
		return res, err
	}
	defer client.Close()
	st, err := bridge.NewStepper(bridge.StepperConfig{
		ClientID: sb.ClientID(), Lookback: w.History, Initial: diff.FirstCreated, Rate: client.Budget().Rate(),
		Naive: planner == PlannerNaive, Clock: clk, Logger: cfg.Logger.Named("poller"),
	}, client, store)
	if err != nil {
		return res, err
	}
	bud := client.Budget()
	s := &sim{clk: clk, sb: sb, st: st, store: store, gap: bud.Window() / time.Duration(bud.Rate()), next: epoch(), seen: map[string]time.Time{}}
	res.CallGap = s.gap

	// The first sync.
	for s.synced.IsZero() {
		info, err := s.step(ctx)
		if err != nil {
			return res, err
		}
		if info.SweepDone {
			s.synced = clk.Now()
		}
		if clk.Now().Sub(epoch()) > 7*24*time.Hour {
			return res, errors.New("the first sync did not complete in a week of simulated time")
		}
	}
	res.FirstSync = s.synced.Sub(epoch())

	// Warm up, then measure.
	measureStart := s.synced.Add(cfg.Warmup)
	if err := s.runUntil(ctx, measureStart); err != nil {
		return res, err
	}
	orders, active := census(sb)
	res.Orders = orders
	measureEnd := measureStart.Add(w.Measure)
	if err := s.runUntil(ctx, measureEnd); err != nil {
		return res, err
	}
	_, activeEnd := census(sb)
	res.Active = float64(active+activeEnd) / 2
	res.View = st.View()

	// Drain: run until a sweep that started after the window completed, so
	// that everything that can be read has been.
	limit := measureEnd.Add(48 * time.Hour)
	drained := measureEnd.Add(cfg.Drain)
	for (st.LastSync().Before(measureEnd) || clk.Now().Before(drained)) && clk.Now().Before(limit) {
		if _, err := s.step(ctx); err != nil {
			return res, err
		}
	}

	for _, r := range sb.Requests() {
		if r.Status == 429 {
			res.RateLimited++
		}
		if strings.HasSuffix(r.Path, "external/orders") && !r.At.Before(measureStart) && r.At.Before(measureEnd) {
			res.Calls++
		}
	}
	res.CallsPerMinute = float64(res.Calls) / w.Measure.Minutes()
	res.IdealSweep = time.Duration(math.Ceil(res.Active/float64(salesapi.MaxLimit))) * s.gap
	var newL, trL, prL []time.Duration
	reach := readable(sb.Orders(), ordering)
	for _, c := range sb.Changes() {
		if c.At.Before(measureStart) || !c.At.Before(measureEnd) {
			continue
		}
		var id string
		var l *Latency
		var ds *[]time.Duration
		switch c.Kind {
		case salesapitest.KindCreated:
			id, l, ds = fmt.Sprintf("order/%d/created", c.OrderID), &res.New, &newL
		case salesapitest.KindStatus:
			id, l, ds = fmt.Sprintf("order/%d/status/%d", c.OrderID, c.EntryID), &res.Transitions, &trL
			if !reach[c.OrderID] {
				l, ds = &res.Unreachable, nil
			}
		case salesapitest.KindPrice:
			id, l, ds = fmt.Sprintf("order/%d/price/%d", c.OrderID, c.EntryID), &res.Prices, &prL
		default:
			continue
		}
		l.Happened++
		if t, ok := s.seen[id]; ok {
			l.Published++
			if ds != nil {
				*ds = append(*ds, t.Sub(c.At))
			}
		}
	}
	summarise(&res.New, newL)
	summarise(&res.Transitions, trL)
	summarise(&res.Prices, prL)
	res.Failed = s.failed
	res.Wall = time.Since(started)
	return res, nil
}

// readable returns the orders at the API that a list call can be sure to
// return in the server's ordering: every order when answers are oldest
// first (keyset paging reaches any range); otherwise the newest page of
// each status — an order with a page of newer orders of its status is in
// no answer of a newest-first server, whatever the query, and in a
// shuffled server's answers only by chance.
func readable(orders []salesapi.Order, o salesapitest.Ordering) map[int64]bool {
	out := make(map[int64]bool, len(orders))
	if o == salesapitest.OldestFirst {
		for _, ord := range orders {
			out[ord.ID] = true
		}
		return out
	}
	byStatus := map[salesapi.Status][]salesapi.Order{}
	for _, ord := range orders {
		byStatus[ord.Status] = append(byStatus[ord.Status], ord)
	}
	for _, list := range byStatus {
		slices.SortFunc(list, func(a, b salesapi.Order) int { return b.CreatedAt.Compare(a.CreatedAt) })
		for _, ord := range list[:min(len(list), salesapi.MaxLimit)] {
			out[ord.ID] = true
		}
	}
	return out
}

// census counts the orders at the API and those in an active status.
func census(sb *salesapitest.Server) (all, active int) {
	for _, o := range sb.Orders() {
		all++
		if o.Status.Active() {
			active++
		}
	}
	return all, active
}

func summarise(l *Latency, ds []time.Duration) {
	l.samples = ds
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(math.Ceil(p*float64(len(ds))))-1] }
	l.P50, l.P95, l.Max = q(0.5), q(0.95), ds[len(ds)-1]
}

// runUntil steps until the next call slot is at or after t.
func (s *sim) runUntil(ctx context.Context, t time.Time) error {
	for s.next.Before(t) {
		if _, err := s.step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// step moves the clock to the next call slot, makes one planner step and
// records the events it queued.
func (s *sim) step(ctx context.Context) (bridge.StepInfo, error) {
	if err := ctx.Err(); err != nil {
		return bridge.StepInfo{}, err
	}
	if s.next.After(s.clk.Now()) {
		s.clk.Set(s.next)
	}
	type result struct {
		info bridge.StepInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := s.st.Step(ctx)
		done <- result{info, err}
	}()
	var r result
	for waiting := true; waiting; {
		select {
		case r = <-done:
			waiting = false
		case <-time.After(stallAfter):
			s.clk.Advance(time.Second)
		}
	}
	// The call took its slot when it was sent; the next may go one gap
	// later (a failed step spent its slot too).
	s.next = s.clk.Now().Add(s.gap)
	if err := s.collect(); err != nil {
		return r.info, err
	}
	if r.err != nil && ctx.Err() == nil {
		// A failed call is part of the workload's story (the poller backs
		// off in production); here the next slot simply tries again.
		s.failed++
		return r.info, nil
	}
	return r.info, r.err
}

// collect records and acknowledges what the outbox holds.
func (s *sim) collect() error {
	for {
		msgs, err := s.store.Pending(0, 4096)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		seqs := make([]uint64, 0, len(msgs))
		for _, m := range msgs {
			seqs = append(seqs, m.Seq)
			if strings.HasPrefix(m.Subject, "$KV.") {
				continue
			}
			id := m.Header["Nats-Msg-Id"]
			if _, ok := s.seen[id]; !ok {
				s.seen[id] = m.Added
			}
		}
		if err := s.store.Ack(seqs...); err != nil {
			return err
		}
	}
}
