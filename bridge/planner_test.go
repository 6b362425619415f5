package bridge

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
)

// The planner's unit tests run it against fakeAPI, an in-memory list
// endpoint with the spec's semantics (createdAt ≥ begin, one status or
// all, at most limit, in a chosen order), one call per step of a simulated
// clock. The freshness package runs it against the real sandbox.

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const gapTest = 6100 * time.Millisecond

type fakeAPI struct {
	orders []salesapi.Order
	order  serverOrder // orderOldestFirst, orderNewestFirst or orderNone
	rng    *rand.Rand
	calls  int
}

func newFake(order serverOrder) *fakeAPI {
	return &fakeAPI{order: order, rng: rand.New(rand.NewPCG(1, 2))}
}

// add creates an order in status st, created at c, with a NEW entry and,
// for another status, an entry at c + 1 min.
func (f *fakeAPI) add(id int64, st salesapi.Status, c time.Time) { f.addAfter(id, st, c, time.Minute) }

// addAfter is add with the move to st d after c.
func (f *fakeAPI) addAfter(id int64, st salesapi.Status, c time.Time, d time.Duration) {
	o := salesapi.Order{ID: id, Status: salesapi.StatusNew, CreatedAt: c,
		StatusChanges: []salesapi.StatusChange{{ID: id * 100, Status: salesapi.StatusNew, CreatedAt: c}}}
	f.orders = append(f.orders, o)
	if st != salesapi.StatusNew {
		f.move(id, st, c.Add(d))
	}
}

// move changes order id's status at time at.
func (f *fakeAPI) move(id int64, st salesapi.Status, at time.Time) {
	for i := range f.orders {
		o := &f.orders[i]
		if o.ID == id {
			o.Status = st
			o.StatusChanges = append(slices.Clone(o.StatusChanges), salesapi.StatusChange{ID: id*100 + int64(len(o.StatusChanges)), Status: st, CreatedAt: at})
			return
		}
	}
}

func (f *fakeAPI) get(id int64) salesapi.Order {
	for _, o := range f.orders {
		if o.ID == id {
			return o
		}
	}
	return salesapi.Order{}
}

func (f *fakeAPI) list(q salesapi.Query) []salesapi.Order {
	f.calls++
	var out []salesapi.Order
	for _, o := range f.orders {
		if !o.CreatedAt.Before(q.BeginCreatedAt) && (q.Status == nil || o.Status == *q.Status) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b salesapi.Order) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	switch f.order {
	case orderNewestFirst:
		slices.Reverse(out)
	case orderNone:
		f.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// planStep runs one call of p against f at now.
func planStep(t *testing.T, p syncPlanner, f *fakeAPI, now time.Time) (call, outcome) {
	t.Helper()
	c := p.next(now)
	page := f.list(c.query)
	out, err := p.read(c, page, now)
	if err != nil {
		t.Fatal(err)
	}
	p.commit(c, page, out, now)
	return c, out
}

// syncFirst runs p until its first sweep completes and returns the time.
func syncFirst(t *testing.T, p syncPlanner, f *fakeAPI, now time.Time) time.Time {
	t.Helper()
	for range 1000 {
		_, out := planStep(t, p, f, now)
		now = now.Add(gapTest)
		if out.sweepDone {
			return now
		}
	}
	t.Fatal("the first sweep never completed")
	return now
}

func testPlanner() *planner {
	return newPlanner(newPlan(), newBook(), 90*24*time.Hour, nil, 10)
}

// spread adds n orders of status st, one every step, ending before end.
func (f *fakeAPI) spread(first int64, n int, st salesapi.Status, end time.Time, every time.Duration) {
	for i := range n {
		f.add(first+int64(i), st, end.Add(-time.Duration(n-i)*every))
	}
}

func pageOf(times ...time.Time) []salesapi.Order {
	var out []salesapi.Order
	for i, c := range times {
		out = append(out, salesapi.Order{ID: int64(i + 1), CreatedAt: c})
	}
	return out
}

func TestOrderEvidence(t *testing.T) {
	asc := func(n int) []salesapi.Order {
		var ts []time.Time
		for i := range n {
			ts = append(ts, t0.Add(time.Duration(i)*time.Second))
		}
		return pageOf(ts...)
	}
	desc := func(n int) []salesapi.Order {
		p := asc(n)
		slices.Reverse(p)
		return p
	}
	mixed := pageOf(t0.Add(2*time.Second), t0, t0.Add(time.Second))
	ties := pageOf(t0, t0, t0, t0)
	tests := []struct {
		name  string
		pages [][]salesapi.Order
		want  serverOrder
	}{
		{"a page of 20 oldest first", [][]salesapi.Order{asc(20)}, orderOldestFirst},
		{"a page of 20 newest first", [][]salesapi.Order{desc(20)}, orderNewestFirst},
		{"three sorted orders prove nothing", [][]salesapi.Order{asc(3)}, orderUnknown},
		{"many short sorted pages add up", slices.Repeat([][]salesapi.Order{asc(4)}, 7), orderOldestFirst},
		{"ties only", [][]salesapi.Order{ties, ties}, orderUnknown},
		{"one unsorted page settles it", [][]salesapi.Order{asc(20), mixed}, orderNone},
		{"both directions: no order", [][]salesapi.Order{asc(20), desc(20)}, orderNone},
		{"empty and single pages", [][]salesapi.Order{nil, asc(1)}, orderUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev orderEvidence
			for _, p := range tt.pages {
				ev.observe(p)
			}
			if got := ev.order(); got != tt.want {
				t.Errorf("order %s, want %s (evidence %+v)", got, tt.want, ev)
			}
		})
	}
}

func TestKeysetAdvance(t *testing.T) {
	a, b := t0, t0.Add(time.Second)
	k := keyset{Begin: a}
	page := []salesapi.Order{{ID: 1, CreatedAt: a}, {ID: 2, CreatedAt: b}, {ID: 3, CreatedAt: b}}
	k, progress := k.advance(page)
	if !progress || !k.Begin.Equal(b) || !slices.Equal(k.Seen, []int64{2, 3}) {
		t.Fatalf("after a page: %+v progress %v", k, progress)
	}
	// The next page starts at b again: 2 and 3 are behind, 4 is new.
	k, progress = k.advance([]salesapi.Order{{ID: 2, CreatedAt: b}, {ID: 3, CreatedAt: b}, {ID: 4, CreatedAt: b}})
	if !progress || !slices.Equal(k.Seen, []int64{2, 3, 4}) {
		t.Fatalf("ties across pages: %+v progress %v", k, progress)
	}
	if _, progress = k.advance([]salesapi.Order{{ID: 3, CreatedAt: b}, {ID: 4, CreatedAt: b}}); progress {
		t.Error("a page of orders already behind the keyset made progress")
	}
}

// TestPlannerRules checks the call rules over a long run in every
// ordering: the head read at least every headEvery calls, the background
// sweep at least every sweepEvery+1 calls, no call beginning before the
// window.
func TestPlannerRules(t *testing.T) {
	for _, order := range []serverOrder{orderOldestFirst, orderNewestFirst, orderNone} {
		t.Run(order.String(), func(t *testing.T) {
			f := newFake(order)
			f.spread(1, 400, salesapi.StatusComplete, t0, time.Hour)
			f.spread(1000, 50, salesapi.StatusProgress, t0, 2*time.Hour)
			p := testPlanner()
			now := syncFirst(t, p, f, t0)
			// Unordered, the first sweep could only sample the long
			// statuses: the head needs a few calls to know the newest.
			for range 5 {
				planStep(t, p, f, now)
				now = now.Add(gapTest)
			}
			if p.plan.Sweeps != 1 || p.plan.LastSync.IsZero() || !p.lastSync().Equal(p.plan.LastSync) {
				t.Fatalf("after the first sweep: %+v", p.plan)
			}
			if got := p.plan.Ordering.order(); got != order {
				t.Errorf("ordering learnt %s, want %s", got, order)
			}
			sinceHead, sinceSweep := 0, 0
			for i := range 300 {
				c, out := planStep(t, p, f, now)
				if c.query.BeginCreatedAt.Before(p.windowStart(now)) {
					t.Fatalf("call %d begins before the window: %s", i, c)
				}
				if c.list == listAll && out.cover.ok && out.cover.head {
					sinceHead = 0
				} else if sinceHead++; sinceHead >= headEvery {
					t.Fatalf("call %d: %d calls without the head", i, sinceHead)
				}
				if c.kind == callSweep {
					sinceSweep = 0
				} else if sinceSweep++; sinceSweep > sweepEvery {
					t.Fatalf("call %d: %d calls without the sweep", i, sinceSweep)
				}
				now = now.Add(gapTest)
			}
			if p.plan.Sweeps < 2 {
				t.Errorf("%d sweeps in 300 calls", p.plan.Sweeps)
			}
		})
	}
}

// TestNewOrdersSeenWithinTwoGaps: an order created between two calls is in
// the book within headEvery calls, in every ordering.
func TestNewOrdersSeenWithinTwoGaps(t *testing.T) {
	for _, order := range []serverOrder{orderOldestFirst, orderNewestFirst, orderNone} {
		t.Run(order.String(), func(t *testing.T) {
			f := newFake(order)
			f.spread(1, 500, salesapi.StatusRefused, t0, 30*time.Minute)
			p := testPlanner()
			now := syncFirst(t, p, f, t0)
			for range 5 {
				planStep(t, p, f, now)
				now = now.Add(gapTest)
			}
			for i := range 40 {
				id := int64(10_000 + i)
				f.add(id, salesapi.StatusNew, now.Add(-time.Second))
				seen := false
				for range headEvery {
					planStep(t, p, f, now)
					now = now.Add(gapTest)
					if _, ok := p.bk.ids[id]; ok {
						seen = true
						break
					}
				}
				if !seen {
					t.Fatalf("new order %d not seen within %d calls", id, headEvery)
				}
			}
		})
	}
}

// TestMovedOrderFound: an order that leaves its status is noticed by a read
// of that status and then found in the status it went to, in every
// ordering, within a few calls (here the office never moved an order out of
// PROGRESS before, so the planner has no reason to look there often); the
// book ends up right.
func TestMovedOrderFound(t *testing.T) {
	for _, order := range []serverOrder{orderOldestFirst, orderNewestFirst, orderNone} {
		t.Run(order.String(), func(t *testing.T) {
			f := newFake(order)
			f.spread(1, 300, salesapi.StatusComplete, t0.Add(-24*time.Hour), time.Hour)
			f.spread(1000, 150, salesapi.StatusRefused, t0.Add(-24*time.Hour), time.Hour)
			f.spread(2000, 60, salesapi.StatusProgress, t0.Add(-6*time.Hour), 10*time.Minute) // not in the head
			f.spread(3000, 200, salesapi.StatusComplete, t0, time.Minute)                     // the head: recent, all closed
			p := testPlanner()
			now := syncFirst(t, p, f, t0)
			const id = 2005
			f.move(id, salesapi.StatusRefused, now)
			for i := range 15 {
				planStep(t, p, f, now)
				now = now.Add(gapTest)
				if e := p.bk.ids[id]; e != nil && e.status == salesapi.StatusRefused && !e.moved {
					t.Logf("found in REFUSED after %d calls", i+1)
					return
				}
			}
			e := p.bk.ids[id]
			t.Fatalf("order %d not found in its new status after 15 calls: %+v", id, e)
		})
	}
}

// TestQuietOrdersLeftToTheSweep: in a small account whose changes are in
// the newest orders, the planner reads the head at nearly every call and
// leaves old orders that never change (UNPROCESSED for weeks, closed ones)
// to the background sweep.
func TestQuietOrdersLeftToTheSweep(t *testing.T) {
	f := newFake(orderOldestFirst)
	for i := range 200 { // 90 days: most closed within hours, some left UNPROCESSED for good
		c := t0.Add(-time.Duration(200-i) * 10 * time.Hour)
		switch {
		case i%12 == 0:
			f.addAfter(int64(i+1), salesapi.StatusUnprocessed, c, unprocessedAfter)
		case c.After(t0.Add(-12 * time.Hour)):
			f.add(int64(i+1), salesapi.StatusNew, c)
		default:
			f.addAfter(int64(i+1), salesapi.StatusRefused, c, 3*time.Hour)
		}
	}
	p := testPlanner()
	now := syncFirst(t, p, f, t0)
	other, sweeps := 0, 0
	const calls = 300
	for i := range calls {
		c, out := planStep(t, p, f, now)
		switch {
		case c.kind == callSweep:
			sweeps++
		case !(c.list == listAll && out.cover.ok && out.cover.head):
			other++
		}
		if i%20 == 0 { // a new order now and then
			f.add(int64(1000+i), salesapi.StatusNew, now.Add(-time.Second))
		}
		now = now.Add(gapTest)
	}
	t.Logf("sweeps %d other %d", sweeps, other)
	if sweeps > calls/sweepEvery+1 || other > calls/20 {
		t.Errorf("of %d calls: %d sweep, %d neither sweep nor head; want at most %d and %d", calls, sweeps, other, calls/sweepEvery+1, calls/20)
	}
}

// TestSweepReadsNewestOfLongStatus: on a server that answers in no order,
// a status of more than a page cannot be read whole, but a sweep still
// reads its newest orders whole — where orders that moved into it lately
// are — and reports the rest as a gap once.
func TestSweepReadsNewestOfLongStatus(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { sweepNewestOfLongStatus(t, seed) })
	}
}

func sweepNewestOfLongStatus(t *testing.T, seed uint64) {
	f := newFake(orderNone)
	f.rng = rand.New(rand.NewPCG(seed, 2))
	f.spread(1, 300, salesapi.StatusCancel, t0, 7*time.Hour)
	f.spread(1000, 20, salesapi.StatusProgress, t0, time.Hour)
	p := testPlanner()
	now := t0
	var gaps []gap
	calls := 0
	for !slices.ContainsFunc(gaps, func(g gap) bool { return g.reason == "sweep done" }) {
		_, out := planStep(t, p, f, now)
		now = now.Add(gapTest)
		calls++
		gaps = append(gaps, out.gaps...)
		if out.sweepDone {
			gaps = append(gaps, gap{reason: "sweep done"})
		}
		if calls > 100 {
			t.Fatal("the first sweep never completed")
		}
	}
	if len(gaps) != 2 || gaps[0].status == nil || *gaps[0].status != salesapi.StatusCancel {
		t.Errorf("gaps %+v, want one for CANCEL", gaps)
	}
	cancels := p.bk.list(int(salesapi.StatusCancel))
	known := map[int64]bool{}
	for _, e := range cancels {
		known[e.id] = true
	}
	for id := int64(300 - tailSize + 1); id <= 300; id++ {
		if !known[id] {
			t.Errorf("CANCEL order %d, among the newest %d, not read by the sweep (%d CANCEL orders known, %d calls)", id, tailSize, len(cancels), calls)
			break
		}
	}
	if r := p.report(now); r.Unreachable[salesapi.StatusCancel] < salesapi.MaxLimit {
		t.Errorf("CANCEL reported readable whole (%d), though only its newest orders were", r.Unreachable[salesapi.StatusCancel])
	}
	t.Logf("first sweep: %d calls, %d CANCEL orders known", calls, len(cancels))
}

// TestAbsentMarksMoved: a complete answer for a status proves that the
// book's orders of that status it does not hold have left it; an
// incomplete one proves nothing beyond its range.
func TestAbsentMarksMoved(t *testing.T) {
	p := testPlanner()
	progress := salesapi.StatusProgress
	for i := range 5 {
		o := salesapi.Order{ID: int64(i + 1), Status: progress, CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
		p.bk.observe(&o, t0)
	}
	page := []salesapi.Order{p.orderAt(1), p.orderAt(3)} // 2, 4 and 5 are missing
	c := call{kind: callWindow, list: int(progress), query: p.query(t0, &progress)}
	c.query.Limit = 2 // a full page, oldest first: it covers [t0, createdAt of 3)
	p.plan.Ordering.Asc = 100
	out, _ := p.read(c, page, t0.Add(time.Hour))
	if !out.cover.ok || !out.cover.hi.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("cover %+v", out.cover)
	}
	p.commit(c, page, out, t0.Add(time.Hour))
	if !p.bk.ids[2].moved || p.bk.ids[4].moved || p.bk.ids[5].moved {
		t.Errorf("moved: 2 %v, 4 %v, 5 %v; want only 2", p.bk.ids[2].moved, p.bk.ids[4].moved, p.bk.ids[5].moved)
	}
	if got := len(p.bk.list(int(progress))); got != 4 {
		t.Errorf("%d orders left in PROGRESS, want 4", got)
	}
	// A complete tail from the start: 4 and 5 left too.
	c.query.Limit = salesapi.MaxLimit
	page = []salesapi.Order{p.orderAt(1), p.orderAt(3)}
	out, _ = p.read(c, page, t0.Add(2*time.Hour))
	p.commit(c, page, out, t0.Add(2*time.Hour))
	if !p.bk.ids[4].moved || !p.bk.ids[5].moved || len(p.bk.moved) != 3 {
		t.Errorf("after a complete answer: moved %d", len(p.bk.moved))
	}
	// The unfiltered list: an order missing from a complete answer is gone.
	all := call{kind: callHead, list: listAll, query: p.query(t0, nil)}
	page = []salesapi.Order{p.orderAt(1), p.orderAt(2), p.orderAt(3), p.orderAt(4)}
	out, _ = p.read(all, page, t0.Add(3*time.Hour))
	p.commit(all, page, out, t0.Add(3*time.Hour))
	if _, ok := p.bk.ids[5]; ok || p.bk.len() != 4 || len(p.bk.moved) != 0 {
		t.Errorf("after a complete unfiltered answer: %d tracked, %d moved, 5 tracked %v", p.bk.len(), len(p.bk.moved), ok)
	}
}

// orderAt returns the book's order id as an API order.
func (p *planner) orderAt(id int64) salesapi.Order {
	e := p.bk.ids[id]
	return salesapi.Order{ID: id, Status: e.status, CreatedAt: e.createdAt}
}

// TestCoverageGaps: with the server newest first, a status with more orders
// than a page is reported (and the others are not); with too many active
// orders for the budget, coverage is lost with the numbers.
func TestCoverageGaps(t *testing.T) {
	f := newFake(orderNewestFirst)
	f.spread(1, 150, salesapi.StatusCancel, t0, time.Hour)
	f.spread(1000, 40, salesapi.StatusProgress, t0, time.Hour)
	p := testPlanner()
	var gaps []gap
	now := t0
	for range 20 {
		_, out := planStep(t, p, f, now)
		now = now.Add(gapTest)
		gaps = append(gaps, out.gaps...)
		if out.sweepDone {
			break
		}
	}
	if len(gaps) != 1 || gaps[0].status == nil || *gaps[0].status != salesapi.StatusCancel || gaps[0].orders < 100 {
		t.Fatalf("gaps %+v, want one for CANCEL", gaps)
	}
	if r := p.report(now); r.Unreachable[salesapi.StatusCancel] < 100 || r.Unreachable[salesapi.StatusProgress] != 0 || r.Ordering != orderNewestFirst {
		t.Errorf("report %+v", r)
	}

	big := testPlanner()
	for i := range 7000 {
		o := salesapi.Order{ID: int64(i + 1), Status: salesapi.StatusUnprocessed, CreatedAt: t0.Add(-time.Duration(i) * time.Minute)}
		big.bk.observe(&o, t0)
	}
	g, lost := big.volume()
	if !lost || g.orders != 7000 || g.need != 70 || g.avail >= g.need {
		t.Errorf("volume: %+v lost %v", g, lost)
	}
	if _, lost := p.volume(); lost {
		t.Error("40 active orders reported as too many")
	}
}

func TestChangeModel(t *testing.T) {
	var m changeModel
	bk := newBook()
	// Ten orders that went NEW → PROGRESS after 2 h, then PROGRESS →
	// COMPLETE after 30 h.
	for i := range 10 {
		c := t0.Add(-100*time.Hour + time.Duration(i)*time.Minute)
		hist := []salesapi.StatusChange{
			{ID: 1, Status: salesapi.StatusNew, CreatedAt: c},
			{ID: 2, Status: salesapi.StatusProgress, CreatedAt: c.Add(2 * time.Hour)},
			{ID: 3, Status: salesapi.StatusComplete, CreatedAt: c.Add(30 * time.Hour)},
		}
		if n := m.account(c, hist, 0); n != 3 {
			t.Fatalf("accounted %d entries", n)
		}
		if n := m.account(c, hist, 3); n != 3 {
			t.Fatalf("accounted again: %d", n)
		}
	}
	m.estimate(bk, t0)
	// NEW orders leave at 2 h: the rate at 2–4 h is above the rate at 1–2
	// h; PROGRESS ones leave at 30 h: above at 16–32 h than at 8–16 h.
	rate := func(st salesapi.Status, age time.Duration) float64 {
		return m.rateOf(&entry{status: st, createdAt: t0.Add(-age)}, t0)
	}
	if a, b := rate(salesapi.StatusNew, 150*time.Minute), rate(salesapi.StatusNew, 90*time.Minute); a <= b {
		t.Errorf("NEW at 2.5 h: %.3g/h, at 1.5 h: %.3g/h; want the first higher", a, b)
	}
	if a, b := rate(salesapi.StatusProgress, 20*time.Hour), rate(salesapi.StatusProgress, 10*time.Hour); a <= b {
		t.Errorf("PROGRESS at 20 h: %.3g/h, at 10 h: %.3g/h; want the first higher", a, b)
	}
	if r := m.rateOf(&entry{status: salesapi.StatusComplete, createdAt: t0}, t0); r != 0 {
		t.Errorf("a terminal order has rate %v", r)
	}
	moved := &entry{status: salesapi.StatusProgress, createdAt: t0.Add(-10 * time.Hour), moved: true}
	if d := m.destination(moved, salesapi.StatusComplete, t0); d < 0.9 {
		t.Errorf("PROGRESS went to COMPLETE with probability %v, want about 1", d)
	}
	if d := m.destination(moved, salesapi.StatusProgress, t0); d != 0 {
		t.Errorf("an order that left PROGRESS is there with probability %v", d)
	}
	moved.notIn |= 1 << salesapi.StatusComplete
	if d := m.destination(moved, salesapi.StatusComplete, t0); d != 0 {
		t.Errorf("ruled out, still %v", d)
	}
	stale := &entry{status: salesapi.StatusNew, createdAt: t0.Add(-unprocessedAfter - time.Minute)}
	if d := m.destination(stale, salesapi.StatusUnprocessed, t0); d != 0.9 {
		t.Errorf("a NEW order past three days went to UNPROCESSED with probability %v", d)
	}
}

func TestPlanCursor(t *testing.T) {
	pl := newPlan()
	pl.Sweep = keyset{Begin: t0, Seen: []int64{4, 7}}
	pl.Ordering.Desc = 42
	pl.Sweeps, pl.LastSync = 3, t0.Add(-time.Hour)
	raw, err := json.Marshal(&pl)
	if err != nil {
		t.Fatal(err)
	}
	var got plan
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Ordering.order() != orderNewestFirst || got.Sweeps != 3 || got.Split != -1 || !slices.Equal(got.Sweep.Seen, []int64{4, 7}) {
		t.Errorf("round trip: %+v from %s", got, raw)
	}
}

// TestNaivePlanner: the baseline pages the whole window unfiltered and
// starts again at every incomplete page.
func TestNaivePlanner(t *testing.T) {
	f := newFake(orderOldestFirst)
	f.spread(1, 250, salesapi.StatusComplete, t0, time.Minute)
	p := &naivePlanner{plan: newPlan(), lookback: 90 * 24 * time.Hour}
	now := t0
	for i := range 6 {
		c, out := planStep(t, p, f, now)
		now = now.Add(gapTest)
		if c.query.Status != nil || c.kind != callSweep {
			t.Fatalf("call %d: %s", i, c)
		}
		if out.sweepDone != (i == 2 || i == 5) {
			t.Errorf("call %d: sweep done %v", i, out.sweepDone)
		}
	}
	if p.plan.Sweeps != 2 {
		t.Errorf("%d sweeps", p.plan.Sweeps)
	}
}

// TestSyncMetrics: the planner's report reaches Prometheus as the
// staleness of each status, the incomplete statuses, the active and moved
// orders and the ordering.
func TestSyncMetrics(t *testing.T) {
	clk := clock.NewManual(t0)
	b := &Bridge{cfg: Config{Metrics: NewMetrics(), Clock: clk}, sync: &syncStats{}}
	b.registerSyncMetrics()
	r := syncReport{Ordering: orderNewestFirst, Active: 12, Moved: 2}
	r.OldestSeen[salesapi.StatusNew] = t0.Add(-90 * time.Second)
	r.OldestSeen[salesapi.StatusCancel] = t0.Add(-5 * time.Hour)
	r.Unreachable[salesapi.StatusCancel] = 150
	b.sync.set(r)
	families, err := b.cfg.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"salesbridge_staleness_seconds,NEW":        90,
		"salesbridge_staleness_seconds,CANCEL":     5 * 3600,
		"salesbridge_coverage_incomplete,CANCEL":   1,
		"salesbridge_coverage_incomplete,NEW":      0,
		"salesbridge_active_orders":                12,
		"salesbridge_moved_orders":                 2,
		"salesbridge_server_ordering,newest-first": 1,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if _, ok := got["salesbridge_staleness_seconds,PROGRESS"]; ok {
		t.Error("staleness of a status without orders")
	}
}
