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
}

// maxPollBackoff caps the wait after failed list calls (the client has
// already retried each call within the budget).
const maxPollBackoff = 2 * time.Minute

func (p *poller) run(ctx context.Context) error {
	pl, err := p.loadPlan()
	if err != nil {
		return err
	}
	_, initialDone, err := p.store.Cursor(cursorInitial)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	p.health.setLastSync(pl.LastSync)
	failures := 0
	for ctx.Err() == nil {
		c := pl.next(p.clk.Now(), p.lookback, p.ogrn)
		start := p.clk.Now()
		page, err := p.api.ListOrders(ctx, c.query)
		p.health.pollDone(p.clk.Now(), p.clk.Now().Sub(start), err)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			wait := pollBackoff(failures)
			p.log.Warn("list orders failed", zap.Error(err), zap.Duration("retry_in", wait), zap.Int("failures", failures))
			if err := clock.Sleep(ctx, p.clk, wait); err != nil {
				break
			}
			continue
		}
		failures = 0
		full := len(page) >= c.query.Limit
		next := *pl
		out := next.done(c, page, full, p.clk.Now(), p.lookback)
		first := diff.FirstCreated
		if !initialDone {
			first = p.initial
		}
		cursors := map[string][]byte{}
		if cursors[cursorPlan], err = json.Marshal(&next); err != nil {
			return fmt.Errorf("encode plan: %w", err)
		}
		if out.sweepDone && !initialDone {
			cursors[cursorInitial] = []byte(salesapi.FormatTime(p.clk.Now()))
		}
		n, err := p.apply.apply(observation{orders: page, first: first, cursors: cursors})
		if err != nil {
			// Nothing of this answer was kept: the same call is planned again.
			failures++
			p.log.Error("apply answer", zap.Error(err))
			if err := clock.Sleep(ctx, p.clk, pollBackoff(failures)); err != nil {
				break
			}
			continue
		}
		*pl = next
		if out.sweepDone {
			initialDone = true
			p.health.setLastSync(pl.LastSync)
			p.log.Info("sync complete", zap.Int("sweep", pl.Sweeps), zap.Time("started", pl.LastSync))
		}
		if out.gap {
			p.health.coverageGap(out.gapStatus)
			p.log.Warn("coverage lost: more orders than the API can page in this ordering", gapFields(out)...)
		}
		p.log.Debug("page applied", zap.Int("orders", len(page)), zap.Bool("full", full), zap.Bool("head", c.kind == callHead), zap.Int("events", n))
	}
	return nil
}

func gapFields(out outcome) []zap.Field {
	if out.gapStatus == nil {
		return nil
	}
	return []zap.Field{zap.Stringer("status", *out.gapStatus)}
}

// loadPlan resumes the planner from the state file.
func (p *poller) loadPlan() (*plan, error) {
	pl := newPlan()
	raw, ok, err := p.store.Cursor(cursorPlan)
	if err != nil {
		return nil, fmt.Errorf("read cursor: %w", err)
	}
	if ok {
		if err := json.Unmarshal(raw, pl); err != nil {
			p.log.Warn("planner cursor unreadable; starting a new sweep", zap.Error(err))
			pl = newPlan()
		}
	}
	return pl, nil
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
