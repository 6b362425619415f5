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

// suspects returns the orders known or certain to have changed without the
// book knowing their new status: the moved ones, and the NEW ones past
// unprocessedAfter. They are sorted by (createdAt, id).
func (p *planner) suspects(now time.Time) []*entry {
	out := make([]*entry, 0, len(p.bk.moved))
	for _, e := range p.bk.moved {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entry) int {
		switch {
		case a.before(b):
			return -1
		case b.before(a):
			return 1
		}
		return 0
	})
	for _, e := range p.bk.list(int(salesapi.StatusNew)) {
		if now.Sub(e.createdAt) < unprocessedAfter {
			break
		}
		out = append(out, e)
	}
	return out
}

// weight is the benefit of reading entry e, found in list l, now.
func (p *planner) weight(e *entry, l int, now time.Time) float64 {
	if e.moved {
		return movedWeight
	}
	if e.status == salesapi.StatusNew && now.Sub(e.createdAt) >= unprocessedAfter {
		if l == listAll {
			return movedWeight
		}
		return movedWeight / 4 // its old list only shows that it left
	}
	s := p.lookback.Hours()
	if !e.seen.IsZero() {
		s = now.Sub(e.seen).Hours()
	}
	return p.model.rateOf(e, now) * s * s
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
	arrivals := p.model.arrivals * since * since
	best := call{value: 0}
	found := false
	for l := range numLists {
		c, ok := p.bestIn(l, order, now, sus, arrivals)
		if ok && (!found || c.value > best.value) {
			best, found = c, true
		}
	}
	if !found || best.value <= 0 {
		return p.headCall(now)
	}
	return best
}

// bestIn returns the best window of list l.
func (p *planner) bestIn(l int, order serverOrder, now time.Time, sus []*entry, arrivals float64) (call, bool) {
	start := p.windowStart(now)
	lst := p.bk.list(l)
	n := len(lst)
	st := listStatus(l)
	bonus := 0.0
	tail := tailSize
	switch l {
	case listAll:
		bonus, tail = arrivals, headSize
	case int(salesapi.StatusNew):
		bonus = 0.9 * arrivals
	}
	if n == 0 {
		if l == listAll {
			return call{}, false
		}
		v := bonus
		for _, m := range sus {
			v += p.model.destination(m, salesapi.Status(l), now) * movedWeight
		}
		return call{kind: callWindow, list: l, query: p.query(start, st), value: v}, v > 0
	}
	begin := func(i int) time.Time {
		if i == 0 {
			return start
		}
		return lst[i].createdAt
	}
	sum := make([]float64, n+1)
	for i, e := range lst {
		sum[i+1] = sum[i] + p.weight(e, l, now)
	}
	tailFrom := max(0, n-tail)
	best := call{kind: callWindow, list: l}
	found := false
	consider := func(b time.Time, v float64) {
		if !found || v > best.value {
			best.value, best.query, found = v, p.query(b, st), true
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
			v := sum[n] - sum[i] + bonus
			if t.m != nil && l != listAll {
				v += p.model.destination(t.m, salesapi.Status(l), now) * movedWeight
			}
			consider(t.b, v)
		}
		if order == orderNone || order == orderUnknown {
			// A longer tail is read as a random sample of a page.
			for i := range tailFrom {
				consider(begin(i), float64(salesapi.MaxLimit)/float64(n-i)*(sum[n]-sum[i]))
			}
		}
		return best, found && best.value > 0
	}
	// Oldest first: every window of a page.
	lim := salesapi.MaxLimit
	credit := make([]float64, n+1) // a difference array over window starts
	if l != listAll {
		for _, m := range sus {
			w := p.model.destination(m, salesapi.Status(l), now) * movedWeight
			if w <= 0 {
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
			credit[lo] += w
			credit[hi+1] -= w
		}
	}
	acc := 0.0
	for i := range n {
		acc += credit[i]
		v := sum[min(i+lim, n)] - sum[i] + acc
		if i >= tailFrom {
			v += bonus
		}
		consider(begin(i), v)
	}
	return best, found && best.value > 0
}
