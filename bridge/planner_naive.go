package bridge

import (
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// naivePlanner is the baseline the sync planner is measured against: every
// call continues one sweep of the whole window, unfiltered, paging by
// createdAt as if the server answered oldest first; when a page is not
// full the sweep starts again from the window's start. No head calls, no
// status filters, no ordering detection. It is what a first poller for this
// API looks like, and it is here for the freshness benchmark only.
type naivePlanner struct {
	plan     plan
	lookback time.Duration
	ogrn     []string
}

func (p *naivePlanner) lastSync() time.Time { return p.plan.LastSync }

func (p *naivePlanner) next(now time.Time) call {
	if p.plan.SweepStarted.IsZero() {
		p.plan.startSweep(now, now.Add(-p.lookback).Truncate(time.Millisecond))
	}
	q := salesapi.Query{BeginCreatedAt: p.plan.Sweep.Begin, Limit: salesapi.MaxLimit, OGRN: p.ogrn}
	return call{kind: callSweep, list: listAll, query: q}
}

func (p *naivePlanner) read(c call, page []salesapi.Order, now time.Time) (outcome, error) {
	out := outcome{plan: p.plan}
	pl := &out.plan
	next, progress := pl.Sweep.advance(page)
	switch {
	case len(page) < c.query.Limit:
		out.sweepDone = true
		pl.LastSync = pl.SweepStarted
		pl.Sweeps++
		pl.startSweep(now, now.Add(-p.lookback).Truncate(time.Millisecond))
	case !progress:
		pl.Sweep = keyset{Begin: pl.Sweep.Begin.Add(time.Millisecond)}
	default:
		pl.Sweep = next
	}
	return out, nil
}

func (p *naivePlanner) commit(_ call, _ []salesapi.Order, out outcome, _ time.Time) {
	p.plan = out.plan
}

func (p *naivePlanner) report(time.Time) syncReport { return syncReport{} }
