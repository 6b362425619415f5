package bridge

import (
	"slices"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Choosing the most valuable window (rule 4 of the planner).
//
// A candidate call reads one list (all orders, or one status) from a
// beginCreatedAt. What it covers depends on the server's ordering:
//
//   - oldest first: any window of 100 consecutive orders of the list, from
//     the order it begins at (a window that reaches the end of the list also
//     holds every order created after it);
//   - newest first: only the newest 100 orders of the list, whatever the
//     beginning: the tail is the one window worth a call;
//   - no order (or not known yet): the tail, read completely when it is
//     short enough, and longer ranges only as a random sample of 100 — worth
//     100/n of their orders' benefit.
//
// The benefit of reading an order now is rate × staleness² (see the model),
// an order known to have changed is worth movedWeight, and a tail of the
// unfiltered list (or of NEW) also finds the orders created since the head
// was last read: arrivals per hour × hours since².
//
// That index spends calls where a change would otherwise wait longest,
// which minimises the mean delay; but a call that leaves the head unread
// delays every change the head would have found by a call gap, which is
// what the tail of the delays (p95) is made of when the newest orders carry
// most changes. So a window that does not read the head is chosen only when
// it is also expected to find at least headGuard as many changes (rate ×
// staleness summed) as the head: orders that almost never change are left
// to the background sweep. (Measured with the freshness benchmark: without
// the guard the small account's p95 is 1.7 call gaps, with a guard of 1 the
// large account's is 1.2 ideal sweeps; 0.1 keeps both near their best.)

// suspects returns the orders known or certain to have changed without the
// book knowing their new status: the moved ones, and the NEW ones past
// unprocessedAfter. They are sorted by (createdAt, id).
func (p *planner) suspects(now time.Time) []*entry {
	out := make([]*entry, 0, len(p.bk.moved))
	for _, e := range p.bk.moved {
		out = append(out, e)
	}
	slices.SortFunc(out, compareEntries)
	for _, e := range p.bk.list(int(salesapi.StatusNew)) {
		if now.Sub(e.createdAt) < unprocessedAfter {
			break
		}
		out = append(out, e)
	}
	return out
}

// weight returns the benefit of reading entry e, found in list l, now, and
// the number of changes the read is expected to find.
func (p *planner) weight(e *entry, l int, now time.Time) (benefit, found float64) {
	if e.moved {
		return movedWeight, 1
	}
	if e.status == salesapi.StatusNew && now.Sub(e.createdAt) >= unprocessedAfter {
		if l == listAll {
			return movedWeight, 1
		}
		return movedWeight / 4, 1.0 / 4 // its old list only shows that it left
	}
	s := p.lookback.Hours()
	if !e.seen.IsZero() {
		s = now.Sub(e.seen).Hours()
	}
	r := p.model.rateOf(e, now)
	return r * s * s, r * s
}

// headFound is the number of changes a head call is expected to find now.
func (p *planner) headFound(now time.Time, since float64) float64 {
	all := p.bk.list(listAll)
	f := p.model.arrivals * since
	for _, e := range all[max(0, len(all)-p.headN()):] {
		_, x := p.weight(e, listAll, now)
		f += x
	}
	return f
}

// bestCall returns the window with the greatest expected benefit, or the
// head when nothing is worth more.
func (p *planner) bestCall(now time.Time) call {
	order := p.plan.Ordering.order()
	sus := p.suspects(now)
	since := p.lookback.Hours()
	if !p.headSeen.IsZero() {
		since = now.Sub(p.headSeen).Hours()
	}
	arr := arrivals{benefit: p.model.arrivals * since * since, found: p.model.arrivals * since}
	best := call{value: 0}
	found := false
	for l := range numLists {
		c, ok := p.bestIn(l, order, now, sus, arr)
		if ok && (!found || c.value > best.value) {
			best, found = c, true
		}
	}
	if !found || best.value <= 0 || !best.head && best.found < headGuard*p.headFound(now, since) {
		return p.headCall(now)
	}
	return best
}

// headGuard is the share of the head's expected changes that a window
// leaving the head unread must be expected to find at least.
const headGuard = 0.1

// arrivals is what reading the head is worth for the orders created since
// it was last read.
type arrivals struct{ benefit, found float64 }

// bestIn returns the best window of list l.
func (p *planner) bestIn(l int, order serverOrder, now time.Time, sus []*entry, arr arrivals) (call, bool) {
	start := p.windowStart(now)
	lst := p.bk.list(l)
	n := len(lst)
	st := listStatus(l)
	var bonus arrivals
	tail := tailSize
	switch l {
	case listAll:
		bonus, tail = arr, headSize
	case int(salesapi.StatusNew):
		bonus = arrivals{0.9 * arr.benefit, 0.9 * arr.found}
	}
	if n == 0 {
		if l == listAll {
			return call{}, false
		}
		v, f := bonus.benefit, bonus.found
		for _, m := range sus {
			d := p.model.destination(m, salesapi.Status(l), now)
			v += d * movedWeight
			f += d
		}
		return call{kind: callWindow, list: l, query: p.query(start, st), value: v, found: f}, v > 0
	}
	begin := func(i int) time.Time {
		if i == 0 {
			return start
		}
		return lst[i].createdAt
	}
	sum := make([]float64, n+1)  // benefit
	sumF := make([]float64, n+1) // changes expected
	for i, e := range lst {
		w, f := p.weight(e, l, now)
		sum[i+1], sumF[i+1] = sum[i]+w, sumF[i]+f
	}
	tailFrom := max(0, n-tail)
	best := call{kind: callWindow, list: l}
	found := false
	// consider weighs a call from b; head: it reads the unfiltered tail.
	consider := func(b time.Time, v, f float64, head bool) {
		if !found || v > best.value {
			best.value, best.found, best.head, best.query, found = v, f, head, p.query(b, st), true
		}
	}
	if order != orderOldestFirst {
		// Tails: the book's shortest one, and from each suspect on (the
		// targeted scan of where it probably went). The book may know only
		// part of a long status, so a suspect is credited to the narrowest
		// tail that holds it: its own.
		type tailAt struct {
			b time.Time
			m *entry
		}
		tails := []tailAt{{b: begin(tailFrom)}}
		for _, m := range sus {
			if l == listAll || p.model.destination(m, salesapi.Status(l), now) > 0 {
				tails = append(tails, tailAt{m.createdAt, m})
			}
		}
		for _, t := range tails {
			i := p.bk.from(l, t.b)
			if t.b.Equal(start) {
				i = 0
			}
			if n-i > tail {
				continue // not complete: a sample at best (below)
			}
			v, f := sum[n]-sum[i]+bonus.benefit, sumF[n]-sumF[i]+bonus.found
			if t.m != nil && l != listAll {
				d := p.model.destination(t.m, salesapi.Status(l), now)
				v += d * movedWeight
				f += d
			}
			consider(t.b, v, f, l == listAll)
		}
		if order == orderNone || order == orderUnknown {
			// A longer tail is read as a random sample of a page.
			for i := range tailFrom {
				share := float64(salesapi.MaxLimit) / float64(n-i)
				consider(begin(i), share*(sum[n]-sum[i]), share*(sumF[n]-sumF[i]), false)
			}
		}
		return best, found && best.value > 0
	}
	// Oldest first: every window of a page.
	lim := salesapi.MaxLimit
	credit := make([]float64, n+1)  // a difference array over window starts: benefit
	creditF := make([]float64, n+1) // and changes expected
	if l != listAll {
		for _, m := range sus {
			d := p.model.destination(m, salesapi.Status(l), now)
			if d <= 0 {
				continue
			}
			// Window i holds m when it begins at or before m and m is
			// among its page's orders — or, past the end of the list, when
			// it is a tail short enough to be read completely.
			first := p.bk.from(l, m.createdAt)                         // first entry at or after m
			last := p.bk.from(l, m.createdAt.Add(time.Nanosecond)) - 1 // last entry at or before m
			lo := n - tail
			if first < n {
				lo = first - lim + 1
			}
			lo, hi := max(lo, 0), max(last, 0)
			if lo > hi {
				continue
			}
			credit[lo] += d * movedWeight
			credit[hi+1] -= d * movedWeight
			creditF[lo] += d
			creditF[hi+1] -= d
		}
	}
	acc, accF := 0.0, 0.0
	for i := range n {
		acc += credit[i]
		accF += creditF[i]
		j := min(i+lim, n)
		v, f := sum[j]-sum[i]+acc, sumF[j]-sumF[i]+accF
		if i >= tailFrom {
			v += bonus.benefit
			f += bonus.found
		}
		consider(begin(i), v, f, l == listAll && i >= tailFrom)
	}
	return best, found && best.value > 0
}
