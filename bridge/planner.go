package bridge

import (
	"slices"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// The API has no cursor: a list call returns at most 100 orders created at
// or after beginCreatedAt, in an order the spec does not state. The planner
// decides which call to spend next and reads what each answer proves.
//
// When the server answers oldest first, keyset paging on createdAt walks any
// range: the next call begins at the newest createdAt of the page, and the
// orders at exactly that instant already seen are remembered so that ties
// are neither lost nor doubled. A sweep walks the whole tracked window; once
// the first sweep is done, head calls (from the newest order known) alternate
// with sweep calls, so a new order is seen within two call gaps however long
// the sweep is.
//
// When a full page is not oldest first, keyset paging would skip orders, so
// the sweep falls back to one pass per status (active statuses first). A
// status with more orders in the window than one page holds cannot be walked
// under that ordering: the planner says so (coverage lost) instead of
// pretending.

// serverOrder is what the planner has learnt about the order of results.
type serverOrder int

const (
	orderUnknown serverOrder = iota
	orderOldestFirst
	orderOther // newest first or no order: keyset paging is not safe
)

// keyset is a position in createdAt order: orders created after Begin, and
// those at Begin whose ids are not in Seen, are still to come.
type keyset struct {
	Begin time.Time `json:"begin"`
	Seen  []int64   `json:"seen,omitempty"`
}

// advance moves k past a page that the server answered oldest first. It
// reports whether the page held any order not already behind k; a full page
// without one means more than a page of orders share one instant.
func (k keyset) advance(page []salesapi.Order) (keyset, bool) {
	newest := k.Begin
	progress := false
	for i := range page {
		o := &page[i]
		if o.CreatedAt.After(newest) {
			newest = o.CreatedAt
		}
		if o.CreatedAt.After(k.Begin) || (o.CreatedAt.Equal(k.Begin) && !slices.Contains(k.Seen, o.ID)) {
			progress = true
		}
	}
	next := keyset{Begin: newest}
	if newest.Equal(k.Begin) {
		next.Seen = slices.Clone(k.Seen)
	}
	for i := range page {
		if page[i].CreatedAt.Equal(newest) && !slices.Contains(next.Seen, page[i].ID) {
			next.Seen = append(next.Seen, page[i].ID)
		}
	}
	slices.Sort(next.Seen)
	return next, progress
}

// oldestFirst reports whether a page is in nondecreasing createdAt order.
func oldestFirst(page []salesapi.Order) bool {
	for i := 1; i < len(page); i++ {
		if page[i].CreatedAt.Before(page[i-1].CreatedAt) {
			return false
		}
	}
	return true
}

// splitOrder is the order of per-status passes: the statuses most likely to
// change first.
var splitOrder = []salesapi.Status{
	salesapi.StatusNew, salesapi.StatusUnprocessed, salesapi.StatusProgress, salesapi.StatusConfirmed,
	salesapi.StatusComplete, salesapi.StatusRefused, salesapi.StatusTerminated, salesapi.StatusCancel,
}

// plan is the planner's persistent state, saved as a cursor with every page
// it applies, so a restart resumes where it stopped.
type plan struct {
	Sweep        keyset    `json:"sweep"`
	SweepStarted time.Time `json:"sweepStarted"`
	// Split is the index in splitOrder of the per-status pass in progress,
	// or -1 while the sweep is not split.
	Split    int       `json:"split"`
	Head     *keyset   `json:"head,omitempty"` // nil until the first sweep is done
	LastSync time.Time `json:"lastSync"`       // when the last complete sweep started
	Sweeps   int       `json:"sweeps"`         // complete sweeps so far
	Newest   time.Time `json:"newest"`         // the newest createdAt seen

	order    serverOrder // learnt anew after each start
	nextHead bool        // alternate head and sweep calls
}

// callKind tells a sweep call from a head call.
type callKind int

const (
	callSweep callKind = iota
	callHead
)

// call is one planned list call.
type call struct {
	kind  callKind
	query salesapi.Query
}

// outcome is what an answer proved.
type outcome struct {
	sweepDone bool             // a sweep just completed
	gap       bool             // some orders of the queried range could not be read
	gapStatus *salesapi.Status // the status pass that lost coverage, if any
}

func newPlan() *plan { return &plan{Split: -1} }

// next returns the call to spend next.
func (p *plan) next(now time.Time, lookback time.Duration, ogrn []string) call {
	if p.SweepStarted.IsZero() {
		p.startSweep(now, lookback)
	}
	q := salesapi.Query{Limit: salesapi.MaxLimit, OGRN: ogrn}
	if p.Head != nil && p.nextHead {
		q.BeginCreatedAt = p.Head.Begin
		return call{kind: callHead, query: q}
	}
	q.BeginCreatedAt = p.Sweep.Begin
	if p.Split >= 0 {
		st := splitOrder[p.Split]
		q.Status = &st
	}
	return call{kind: callSweep, query: q}
}

func (p *plan) startSweep(now time.Time, lookback time.Duration) {
	p.Sweep = keyset{Begin: now.Add(-lookback).Truncate(time.Millisecond)}
	p.SweepStarted = now
	p.Split = -1
}

// done reads the answer to c. full says whether the answer was a full page.
func (p *plan) done(c call, page []salesapi.Order, full bool, now time.Time, lookback time.Duration) outcome {
	var out outcome
	for i := range page {
		if page[i].CreatedAt.After(p.Newest) {
			p.Newest = page[i].CreatedAt
		}
	}
	asc := oldestFirst(page)
	if full && len(page) > 1 {
		if asc && p.order == orderUnknown {
			p.order = orderOldestFirst
		}
		if !asc {
			p.order = orderOther
		}
	}
	p.nextHead = !p.nextHead
	if c.kind == callHead {
		if !full || asc && p.order == orderOldestFirst {
			next, _ := p.Head.advance(page)
			p.Head = &next
		}
		// A full head page that is not oldest first proves nothing about
		// what lies beyond it: ask again from the same place.
		return out
	}
	switch {
	case p.Split >= 0:
		// A per-status pass is one call: the whole status fits in a page, or
		// the ordering lets us page it, or coverage is lost for it.
		if full && asc && p.order == orderOldestFirst {
			next, progress := p.Sweep.advance(page)
			if progress {
				p.Sweep = next
				return out
			}
		}
		if full {
			out.gap = true
			st := splitOrder[p.Split]
			out.gapStatus = &st
		}
		p.Split++
		p.Sweep = keyset{Begin: p.SweepStarted.Add(-lookback).Truncate(time.Millisecond)}
		if p.Split == len(splitOrder) {
			p.finishSweep(now, lookback)
			out.sweepDone = true
		}
	case !full:
		p.Sweep, _ = p.Sweep.advance(page)
		p.finishSweep(now, lookback)
		out.sweepDone = true
	case p.order == orderOldestFirst && asc:
		next, progress := p.Sweep.advance(page)
		if !progress {
			// More than a page of orders created at one instant: the API
			// cannot page past them. Step over the instant and say so.
			out.gap = true
			next = keyset{Begin: p.Sweep.Begin.Add(time.Millisecond)}
		}
		p.Sweep = next
	default:
		// A full page in an order keyset paging cannot trust: split by status.
		p.Split = 0
		p.Sweep = keyset{Begin: p.SweepStarted.Add(-lookback).Truncate(time.Millisecond)}
	}
	return out
}

func (p *plan) finishSweep(now time.Time, lookback time.Duration) {
	p.LastSync = p.SweepStarted
	p.Sweeps++
	if p.Head == nil {
		p.Head = &keyset{Begin: p.Newest}
	}
	p.startSweep(now, lookback)
}
