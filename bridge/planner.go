package bridge

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// The sync planner decides which list call to spend next so that changes
// at the API are seen as soon as the budget allows (DESIGN.md §4).
//
// A list call returns at most 100 orders created at or after
// beginCreatedAt, optionally of one status, in an order the spec does not
// state. Two facts make that enough to plan with:
//
//   - An answer with fewer orders than the limit holds every order the
//     query selects, whatever the server's ordering: it proves the state of
//     a whole "tail" (one status, or all, from beginCreatedAt on), including
//     which orders are no longer in it.
//   - When the server answers oldest first, a full answer proves the range
//     from beginCreatedAt to its newest createdAt, so keyset paging on
//     createdAt (ties remembered by id) reads any range.
//
// The planner keeps a book of the tracked orders (planner_book.go) and a
// model of how often orders change by status and age (planner_model.go),
// and chooses each call by one of four rules, in this order:
//
//  1. Until the first complete sweep, sweep: read the whole tracked window
//     (keyset paging when oldest first, one tail per status otherwise).
//  2. Head: at least every headEvery-th call re-reads the unfiltered tail of
//     the headSize newest known orders. The answer holds every order created
//     since, so a new order is seen within headEvery call gaps, and the
//     newest orders — the ones the office is working — are refreshed with it.
//  3. Background sweep: one call in sweepEvery continues a sweep of the
//     whole window. It is what refreshes terminal orders (a CANCEL or
//     REFUSED order may still get a comment or a price, rarely: the planner
//     spends nothing else on them), and it bounds how stale any order can
//     get: the whole window every sweepEvery × ⌈N/100⌉ calls — 30 calls (3
//     minutes) for 200 orders, 5 hours for 30 000. Its completion is the
//     "last sync" the bridge reports: every change made before it started
//     has been read.
//  4. Otherwise the call with the greatest expected benefit: for each list
//     (all orders, or one status) and each window of 100 orders the call can
//     read, the sum over its orders of rate × staleness² (the expected delay
//     that refreshing it now saves for a Poisson-changing order; it gives
//     rarely changing orders less attention, as Cho and Garcia-Molina's
//     optimal schedules do), plus the orders known to have left their
//     status (weighted by where they probably went) and, for tails, the new
//     orders expected since the head was last read. A window that leaves
//     the head unread must also be expected to find a fair share of the
//     changes the head would, else the head is read (planner_choose.go).
//
// Each answer is read for what it proves: the orders it holds are current;
// an order of the book inside the range the answer covers but missing from
// it has left that list — for a status list it changed status (it is
// "moved", and looked for from its createdAt on in the statuses it most
// likely went to, or in the unfiltered list), for the unfiltered list it is
// gone. A NEW order older than three days is treated as moved too: the
// system has made it UNPROCESSED. The ordering is learnt from the answers
// (planner_order.go); until it is established beyond doubt only complete
// tails are trusted, and what cannot be read in an ordering is reported as
// a coverage gap (health, metrics), never assumed.

// Tunables of the planner.
const (
	// headEvery is the longest run of calls, counting the next, without a
	// call that reads the head (every new order): 2 sees a new order within
	// two call gaps.
	headEvery = 2
	// sweepEvery: one call in sweepEvery continues the background sweep.
	sweepEvery = 10
	// headSize is how many of the newest known orders the head re-reads,
	// leaving room in a page for the orders created between two head calls.
	headSize = 90
	// tailSize is the largest tail the planner expects a call to read
	// completely (the rest of a page is room for orders moving in).
	tailSize = 90
	// estimateEvery is how often, in clock time, the change model is
	// re-estimated.
	estimateEvery = 10 * time.Minute
	// movedWeight is the benefit of finding an order known to have changed
	// (in the units of rate × staleness², hours): more than any refresh of
	// unchanged orders is worth.
	movedWeight = 1.0
	// freshTarget is the staleness, in clock time, the planner means to
	// keep active orders under; when the active orders need more calls per
	// sweep than the budget leaves within it, coverage is lost.
	freshTarget = 15 * time.Minute
)

// splitOrder is the order of the per-status passes of a sweep when the
// server is not oldest first: the statuses most likely to change first.
var splitOrder = []salesapi.Status{
	salesapi.StatusNew, salesapi.StatusUnprocessed, salesapi.StatusProgress, salesapi.StatusConfirmed,
	salesapi.StatusComplete, salesapi.StatusRefused, salesapi.StatusTerminated, salesapi.StatusCancel,
}

// plan is the planner's persistent state, saved as a cursor with every page
// it applies, so a restart resumes the sweep where it stopped.
type plan struct {
	Sweep        keyset    `json:"sweep"`
	SweepStarted time.Time `json:"sweepStarted"`
	// Split is the index in splitOrder of the per-status pass in progress,
	// or -1 while the sweep is not split.
	Split int `json:"split"`
	// Probe counts the narrowing tails read in the per-status pass in
	// progress after a full answer (see readSweep).
	Probe    int           `json:"probe,omitempty"`
	LastSync time.Time     `json:"lastSync"` // when the last complete sweep started
	Sweeps   int           `json:"sweeps"`   // complete sweeps so far
	Ordering orderEvidence `json:"ordering"`
}

func newPlan() plan { return plan{Split: -1} }

func (p *plan) startSweep(now, windowStart time.Time) {
	p.Sweep = keyset{Begin: windowStart}
	p.SweepStarted = now
	p.Split = -1
	p.Probe = 0
}

// callKind says which rule chose a call.
type callKind int

const (
	callSweep  callKind = iota // the (background) sweep
	callHead                   // the head: the newest orders and every new one
	callWindow                 // the most valuable window
)

func (k callKind) String() string {
	switch k {
	case callSweep:
		return "sweep"
	case callHead:
		return "head"
	}
	return "window"
}

// call is one planned list call.
type call struct {
	kind  callKind
	list  int // the list it reads: a status, or listAll
	query salesapi.Query
	value float64 // the expected benefit that chose it (callWindow)
	found float64 // the changes it is expected to find (callWindow)
	head  bool    // it is expected to read the head (callWindow)
}

// gap is a part of the window a call or the budget could not cover.
type gap struct {
	status *salesapi.Status // nil: not one status
	reason string
	orders int // orders concerned, when known
	need   int // calls a sweep of them needs, when known
	avail  int // calls the budget leaves for them, when known
}

// outcome is what an answer proved: the plan to save with it, and what
// commit applies to the book once the answer is stored.
type outcome struct {
	plan      plan
	sweepDone bool // a sweep just completed
	gaps      []gap
	cover     cover
}

// cover is the part of a list an answer proves complete: every order of the
// list created in it is in the answer, so the book's orders of the list in
// it that are not have left the list.
type cover struct {
	ok     bool
	list   int
	lo     time.Time
	loOpen bool      // the range starts after lo (at lo only the answered orders are known)
	hi     time.Time // the range ends before hi; zero: no end
	head   bool      // the answer holds every order created since lo: the head is read
}

func (c cover) contains(t time.Time) bool {
	if t.Before(c.lo) || c.loOpen && t.Equal(c.lo) {
		return false
	}
	return c.hi.IsZero() || t.Before(c.hi)
}

// syncPlanner is what the poller asks: which call next, what its answer
// proves, and to take the answer into account once it is stored.
type syncPlanner interface {
	next(now time.Time) call
	// read judges an answer to c without changing the planner.
	read(c call, page []salesapi.Order, now time.Time) (outcome, error)
	// commit takes in an answer that was stored; at is when the call was
	// made.
	commit(c call, page []salesapi.Order, out outcome, at time.Time)
	// lastSync returns when the last complete sweep started.
	lastSync() time.Time
	// report describes the planner's view for metrics and the status.
	report(now time.Time) syncReport
}

// planner is the sync planner (see the top of this file).
type planner struct {
	plan     plan
	bk       *book
	model    changeModel
	lookback time.Duration
	ogrn     []string
	rate     int // calls per minute

	sinceHead  int       // calls since the last call that read the head
	sinceSweep int       // calls since the last sweep call
	headSeen   time.Time // when the head was last read
	headLen    int       // how many known orders the head re-reads; 0: headSize
	estimated  time.Time // when the model was last estimated
	unreach    [numStatuses]int
	volumeGap  bool // the last sweep found more active orders than the budget keeps fresh
}

func newPlanner(pl plan, bk *book, lookback time.Duration, ogrn []string, rate int) *planner {
	if rate <= 0 {
		rate = salesapi.DefaultRate
	}
	return &planner{plan: pl, bk: bk, lookback: lookback, ogrn: ogrn, rate: rate}
}

func (p *planner) lastSync() time.Time { return p.plan.LastSync }

// windowStart is the oldest createdAt tracked at now.
func (p *planner) windowStart(now time.Time) time.Time {
	return now.Add(-p.lookback).Truncate(time.Millisecond)
}

func (p *planner) query(begin time.Time, st *salesapi.Status) salesapi.Query {
	return salesapi.Query{BeginCreatedAt: begin, Limit: salesapi.MaxLimit, OGRN: p.ogrn, Status: st}
}

func listStatus(l int) *salesapi.Status {
	if l == listAll {
		return nil
	}
	st := salesapi.Status(l)
	return &st
}

func (p *planner) next(now time.Time) call {
	p.bk.prune(p.windowStart(now))
	if p.estimated.IsZero() || now.Sub(p.estimated) >= estimateEvery {
		p.model.estimate(p.bk, now)
		p.estimated = now
	}
	switch {
	case p.plan.Sweeps == 0:
		return p.sweepCall(now)
	case p.sinceHead >= headEvery-1:
		return p.headCall(now)
	case p.sinceSweep >= sweepEvery-1:
		return p.sweepCall(now)
	}
	return p.bestCall(now)
}

func (p *planner) sweepCall(now time.Time) call {
	if p.plan.SweepStarted.IsZero() {
		p.plan.startSweep(now, p.windowStart(now))
	}
	if o := p.plan.Ordering.order(); p.plan.Split < 0 && p.plan.Sweep.Seen == nil && (o == orderNewestFirst || o == orderNone) &&
		!p.plan.Sweep.Begin.After(p.windowStart(p.plan.SweepStarted)) {
		p.plan.Split = 0 // not oldest first: a sweep is one tail per status
	}
	if start := p.windowStart(now); p.plan.Sweep.Begin.Before(start) {
		p.plan.Sweep = keyset{Begin: start} // the window moved on while the sweep went
	}
	if p.plan.Split >= 0 {
		st := splitOrder[p.plan.Split]
		return call{kind: callSweep, list: int(st), query: p.query(p.plan.Sweep.Begin, &st)}
	}
	return call{kind: callSweep, list: listAll, query: p.query(p.plan.Sweep.Begin, nil)}
}

// headCall re-reads the newest known orders and every newer one: headSize
// of them, fewer after a head answer came back full (the book did not know
// every recent order, or many arrived at once).
func (p *planner) headCall(now time.Time) call {
	all := p.bk.list(listAll)
	begin := p.windowStart(now)
	if i := len(all) - p.headN(); i > 0 {
		begin = all[i].createdAt
	}
	return call{kind: callHead, list: listAll, query: p.query(begin, nil)}
}

func (p *planner) headN() int {
	if p.headLen <= 0 {
		return headSize
	}
	return p.headLen
}

// read judges an answer; it changes nothing.
func (p *planner) read(c call, page []salesapi.Order, now time.Time) (outcome, error) {
	out := outcome{plan: p.plan}
	out.plan.Ordering.observe(page)
	order := out.plan.Ordering.order()
	full := len(page) >= c.query.Limit
	asc := sortedAsc(page)
	cv := cover{ok: true, list: c.list, lo: c.query.BeginCreatedAt}
	switch {
	case !full:
		cv.head = true
	case order == orderOldestFirst && asc:
		cv.hi = page[len(page)-1].CreatedAt
	case order == orderNewestFirst && sortedDesc(page):
		cv.lo, cv.loOpen = page[len(page)-1].CreatedAt, true
	default:
		cv.ok = false
	}
	out.cover = cv
	if c.kind == callSweep {
		p.readSweep(&out, c, page, full, asc && order == orderOldestFirst, order == orderNewestFirst && sortedDesc(page), now)
	}
	return out, nil
}

// maxProbes bounds the narrowing tails a per-status pass reads after a
// full answer that proves nothing (see readSweep).
const maxProbes = 4

// readSweep advances the sweep in out.plan past the answer to c. keysetOK:
// the answer is oldest first; newestOK: it is newest first, so a full one
// holds the newest page of its list.
func (p *planner) readSweep(out *outcome, c call, page []salesapi.Order, full, keysetOK, newestOK bool, now time.Time) {
	pl := &out.plan
	start := pl.SweepStarted.Add(-p.lookback).Truncate(time.Millisecond)
	switch {
	case pl.Split >= 0:
		// A per-status pass: the whole status fits in a page, or the
		// ordering lets us page it, or coverage is lost for it.
		if full && keysetOK {
			if next, progress := pl.Sweep.advance(page); progress {
				pl.Sweep = next
				return
			}
		}
		if full {
			st := splitOrder[pl.Split]
			if pl.Probe == 0 {
				out.gaps = append(out.gaps, gap{status: &st, reason: "more orders of one status than a page holds, and the server is not oldest first",
					orders: max(len(p.bk.list(int(st))), len(page))})
			}
			// A full answer in no order is a sample. Read at least the
			// status's newest orders whole — where orders that moved into
			// it lately are: a tail from the tailSize-th newest order
			// known, again with what each full answer taught, until an
			// answer is short (the book knows most of a status after the
			// first sweep, so it is usually one call).
			if !keysetOK && !newestOK && pl.Probe < maxProbes {
				if b, ok := p.newestTail(int(st), page, tailSize); ok && b.After(c.query.BeginCreatedAt) {
					pl.Probe++
					pl.Sweep = keyset{Begin: b}
					return
				}
			}
		}
		pl.Split++
		pl.Probe = 0
		pl.Sweep = keyset{Begin: start}
		if pl.Split == len(splitOrder) {
			p.finishSweep(out, now)
		}
	case !full:
		pl.Sweep, _ = pl.Sweep.advance(page)
		p.finishSweep(out, now)
	case keysetOK:
		next, progress := pl.Sweep.advance(page)
		if !progress {
			// More than a page of orders created at one instant: the API
			// cannot page past them. Step over the instant and say so.
			out.gaps = append(out.gaps, gap{reason: "more orders created at one instant than a page holds", orders: len(page)})
			next = keyset{Begin: pl.Sweep.Begin.Add(time.Millisecond)}
		}
		pl.Sweep = next
	default:
		// A full page in an order keyset paging cannot trust: split by status.
		pl.Split = 0
		pl.Sweep = keyset{Begin: start}
	}
}

// newestTail returns the createdAt of the rank-th newest order of list l
// known from the book and the answer page.
func (p *planner) newestTail(l int, page []salesapi.Order, rank int) (time.Time, bool) {
	known := make(map[int64]time.Time, len(page)+rank)
	lst := p.bk.list(l)
	for _, e := range lst[max(0, len(lst)-rank):] {
		known[e.id] = e.createdAt
	}
	for i := range page {
		known[page[i].ID] = page[i].CreatedAt
	}
	if rank < 1 || len(known) < rank {
		return time.Time{}, false
	}
	times := slices.Collect(maps.Values(known))
	slices.SortFunc(times, func(a, b time.Time) int { return b.Compare(a) })
	return times[rank-1], true
}

func (p *planner) finishSweep(out *outcome, now time.Time) {
	pl := &out.plan
	out.sweepDone = true
	pl.LastSync = pl.SweepStarted
	pl.Sweeps++
	pl.startSweep(now, p.windowStart(now))
	if g, ok := p.volume(); ok {
		out.gaps = append(out.gaps, g)
	}
}

// volume reports coverage lost when the active orders need more calls per
// sweep than the budget leaves for them within freshTarget.
func (p *planner) volume() (gap, bool) {
	active := 0
	for s := range numStatuses {
		if salesapi.Status(s).Active() {
			active += len(p.bk.list(s))
		}
	}
	need := (active + salesapi.MaxLimit - 1) / salesapi.MaxLimit
	share := 1 - 1.0/headEvery - 1.0/sweepEvery
	avail := int(float64(p.rate) * freshTarget.Minutes() * share)
	if need <= avail {
		return gap{}, false
	}
	return gap{reason: "more active orders than the budget keeps fresh", orders: active, need: need, avail: avail}, true
}

// commit takes in an answer that was stored.
func (p *planner) commit(c call, page []salesapi.Order, out outcome, at time.Time) {
	p.plan = out.plan
	if out.cover.ok {
		p.absent(out.cover, page, at)
	}
	for i := range page {
		o := &page[i]
		e, _ := p.bk.observe(o, at)
		if e.hist < len(o.StatusChanges) {
			e.hist = p.model.account(o.CreatedAt, o.StatusChanges, e.hist)
		}
	}
	if c.list == listAll && out.cover.ok && out.cover.head {
		p.headSeen = at
		p.sinceHead = 0
	} else {
		p.sinceHead++
	}
	if c.kind == callHead {
		if len(page) >= c.query.Limit {
			p.headLen = max(p.headN()/2, 10)
		} else {
			p.headLen = min(p.headN()+10, headSize)
		}
	}
	if c.kind == callSweep {
		p.sinceSweep = 0
	} else {
		p.sinceSweep++
	}
	for _, g := range out.gaps {
		if g.status != nil {
			p.unreach[*g.status] = g.orders
		}
	}
	if out.sweepDone {
		p.volumeGap = slices.ContainsFunc(out.gaps, func(g gap) bool { return g.need > 0 })
		if p.plan.Sweeps == 1 {
			p.estimated = time.Time{} // the first sweep filled the book: estimate at once
		}
	}
	if c.kind == callSweep && c.list != listAll && out.cover.ok && out.cover.head &&
		!c.query.BeginCreatedAt.After(p.windowStart(at)) {
		p.unreach[c.list] = 0 // the whole status, not only its newest orders
	}
}

// absent applies what an answer proves about the orders it does not hold:
// those of its list inside the range it covers have left the list.
func (p *planner) absent(cv cover, page []salesapi.Order, at time.Time) {
	in := make(map[int64]bool, len(page))
	for i := range page {
		in[page[i].ID] = true
	}
	lst := p.bk.list(cv.list)
	var gone []*entry
	for i := p.bk.from(cv.list, cv.lo); i < len(lst); i++ {
		e := lst[i]
		if !cv.hi.IsZero() && !e.createdAt.Before(cv.hi) {
			break
		}
		if !cv.contains(e.createdAt) {
			continue // at lo, with lo open
		}
		if !in[e.id] && !e.seen.After(at) {
			gone = append(gone, e)
		}
	}
	for _, e := range gone {
		if cv.list == listAll {
			p.bk.drop(e)
		} else {
			p.bk.markMoved(e)
		}
	}
	if cv.list != listAll {
		// Orders known to have changed that are not in this status either.
		for _, e := range p.suspects(at) {
			if cv.contains(e.createdAt) && !in[e.id] && (e.moved || int(e.status) != cv.list) {
				e.notIn |= 1 << cv.list
			}
		}
	}
}

// syncReport is the planner's view, for metrics and logs.
type syncReport struct {
	Ordering    serverOrder
	Orders      int                    // tracked
	Active      int                    // in an active status
	Moved       int                    // known to have changed, not found yet
	OldestSeen  [numStatuses]time.Time // per status, when its stalest order was last proved current
	Unreachable [numStatuses]int       // per status the last sweep could not read whole, the orders of it known (at least a page)
	VolumeGap   bool                   // more active orders than the budget keeps fresh
}

func (p *planner) report(now time.Time) syncReport {
	r := syncReport{
		Ordering:    p.plan.Ordering.order(),
		Orders:      p.bk.len(),
		OldestSeen:  p.bk.oldestSeen(),
		Unreachable: p.unreach,
		VolumeGap:   p.volumeGap,
	}
	for s := range numStatuses {
		if salesapi.Status(s).Active() {
			r.Active += len(p.bk.list(s))
		}
	}
	r.Moved = len(p.bk.moved)
	return r
}

// String describes a call for logs.
func (c call) String() string {
	st := "all"
	if c.query.Status != nil {
		st = c.query.Status.String()
	}
	return fmt.Sprintf("%s %s from %s", c.kind, st, salesapi.FormatTime(c.query.BeginCreatedAt))
}
