package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// Cursor names in the state file.
const (
	cursorPlan    = "plan"    // the planner's state
	cursorInitial = "initial" // present once the first sync is complete
)

// OrderLister is the part of the API client the poller uses.
type OrderLister interface {
	ListOrders(ctx context.Context, q salesapi.Query) ([]salesapi.Order, error)
}

// poller spends list calls as the planner says and applies every answer.
type poller struct {
	api      OrderLister
	store    *state.Store
	apply    *applier
	clk      clock.Clock
	log      *zap.Logger
	lookback time.Duration
	ogrn     []string
	initial  diff.First
	health   *health
	rate     int        // calls per minute of the account's budget; 0: salesapi.DefaultRate
	stats    *syncStats // receives the planner's view after every answer; nil: none
	naive    bool       // the baseline planner (benchmarks only)

	pl          syncPlanner
	initialDone bool
	warned      map[string]time.Time // when each kind of coverage gap was last logged as a warning
}

// gapWarnEvery is how often, in clock time, a coverage gap that persists is
// logged as a warning (it is reported to the health at every sweep).
const gapWarnEvery = time.Hour

// maxPollBackoff caps the wait after failed list calls (the client has
// already retried each call within the budget).
const maxPollBackoff = 2 * time.Minute

// Log keys of the poller.
const (
	logCall    = "call"
	logOrders  = "orders"
	logEvents  = "events"
	logFull    = "full"
	logRetryIn = "retry_in"
)

func (p *poller) run(ctx context.Context) error {
	if err := p.load(); err != nil {
		return err
	}
	failures := 0
	for ctx.Err() == nil {
		if _, err := p.step(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			// Nothing of a failed step was kept: the planner plans again.
			failures++
			wait := pollBackoff(failures)
			p.log.Warn("poll failed", zap.Error(err), zap.Duration(logRetryIn, wait), zap.Int("failures", failures))
			if err := clock.Sleep(ctx, p.clk, wait); err != nil {
				break
			}
			continue
		}
		failures = 0
	}
	return nil
}

// stepResult describes one step, for simulations and logs.
type stepResult struct {
	call      call
	orders    int  // orders in the answer
	full      bool // the answer was a full page
	events    int  // events queued
	sweepDone bool // a sweep of the whole window completed
}

// step spends one list call and applies its answer, with the planner's
// new state, in one state transaction.
func (p *poller) step(ctx context.Context) (stepResult, error) {
	now := p.clk.Now()
	c := p.pl.next(now)
	res := stepResult{call: c}
	page, err := p.api.ListOrders(ctx, c.query)
	done := p.clk.Now()
	p.health.pollDone(done, done.Sub(now), err)
	if err != nil {
		return res, err // the client's error names the call
	}
	res.orders, res.full = len(page), len(page) >= c.query.Limit
	out, err := p.pl.read(c, page, done)
	if err != nil {
		return res, err
	}
	first := diff.FirstCreated
	if !p.initialDone {
		first = p.initial
	}
	cursors := map[string][]byte{}
	if cursors[cursorPlan], err = json.Marshal(&out.plan); err != nil {
		return res, fmt.Errorf("encode plan: %w", err)
	}
	if out.sweepDone && !p.initialDone {
		cursors[cursorInitial] = []byte(salesapi.FormatTime(done))
	}
	n, err := p.apply.apply(observation{orders: page, first: first, cursors: cursors})
	if err != nil {
		return res, fmt.Errorf("apply answer: %w", err)
	}
	p.pl.commit(c, page, out, now)
	res.events, res.sweepDone = n, out.sweepDone
	if out.sweepDone {
		p.initialDone = true
		p.health.setLastSync(p.pl.lastSync())
		p.log.Info("sync complete", zap.Time("started", p.pl.lastSync()))
	}
	for _, g := range out.gaps {
		p.health.coverageGap(g)
		key := g.reason
		if g.status != nil {
			key += g.status.String()
		}
		lvl := zap.DebugLevel
		if last, ok := p.warned[key]; !ok || done.Sub(last) >= gapWarnEvery {
			lvl = zap.WarnLevel
			p.warned[key] = done
		}
		if ce := p.log.Check(lvl, "coverage lost"); ce != nil {
			ce.Write(gapFields(g)...)
		}
	}
	if p.stats != nil {
		p.stats.set(p.pl.report(done))
	}
	if ce := p.log.Check(zap.DebugLevel, "page applied"); ce != nil {
		ce.Write(zap.Stringer(logCall, c), zap.Int(logOrders, len(page)), zap.Bool(logFull, res.full), zap.Int(logEvents, n))
	}
	return res, nil
}

func gapFields(g gap) []zap.Field {
	f := []zap.Field{zap.String("reason", g.reason)}
	if g.status != nil {
		f = append(f, zap.Stringer("status", *g.status))
	}
	if g.orders > 0 {
		f = append(f, zap.Int(logOrders, g.orders))
	}
	if g.need > 0 {
		f = append(f, zap.Int("calls_per_sweep", g.need), zap.Int("calls_available", g.avail), zap.Duration("fresh_target", freshTarget))
	}
	return f
}

// load resumes the planner from the state file: its cursor, and the book of
// tracked orders with the change model built from their histories.
func (p *poller) load() error {
	pl := newPlan()
	raw, ok, err := p.store.Cursor(cursorPlan)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	if ok {
		if err := json.Unmarshal(raw, &pl); err != nil {
			p.log.Warn("planner cursor unreadable; starting a new sweep", zap.Error(err))
			pl = newPlan()
		}
	}
	if _, p.initialDone, err = p.store.Cursor(cursorInitial); err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	p.health.setLastSync(pl.LastSync)
	p.warned = map[string]time.Time{}
	if p.naive {
		p.pl = &naivePlanner{plan: pl, lookback: p.lookback, ogrn: p.ogrn}
		return nil
	}
	bk := newBook()
	var model changeModel
	err = p.store.ForEachOrder(func(o state.Order) error {
		e := bk.load(o)
		hist, err := storedHistory(o.Raw)
		if err != nil {
			return nil // unreadable history: the order is planned without it
		}
		e.hist = model.account(o.CreatedAt, hist, 0)
		if n := len(hist); n > 0 {
			e.since = hist[n-1].CreatedAt
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read tracked orders: %w", err)
	}
	bk.sortAll()
	planner := newPlanner(pl, bk, p.lookback, p.ogrn, p.rate)
	planner.model = model
	p.pl = planner
	return nil
}

// pollBackoff is the wait after n consecutive failures: 5 s doubling to
// maxPollBackoff.
func pollBackoff(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < maxPollBackoff; i++ {
		d *= 2
	}
	return min(d, maxPollBackoff)
}

// storedHistory reads the status history of a stored order: quicker than
// decoding the whole order (a start reads every tracked order), and as
// tolerant, since it falls back to the full decoder.
func storedHistory(raw []byte) ([]salesapi.StatusChange, error) {
	var h struct {
		StatusChanges []struct {
			ID        int64           `json:"id"`
			Status    salesapi.Status `json:"status"`
			CreatedAt string          `json:"createdAt"`
		} `json:"statusChanges"`
	}
	if err := json.Unmarshal(raw, &h); err == nil {
		out := make([]salesapi.StatusChange, 0, len(h.StatusChanges))
		for _, c := range h.StatusChanges {
			t, err := salesapi.ParseTime(c.CreatedAt)
			if err != nil {
				out = nil
				break
			}
			out = append(out, salesapi.StatusChange{ID: c.ID, Status: c.Status, CreatedAt: t})
		}
		if out != nil {
			return out, nil
		}
	}
	o, err := salesapi.DecodeOrder(raw)
	if err != nil {
		return nil, err
	}
	return o.StatusChanges, nil
}
