package salesapitest

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
)

// The sandbox's life is a discrete-event simulation: every future change is
// an event in a priority queue ordered by sandbox time (ties: the order they
// were scheduled in). Applying an event may schedule more. Given the seed,
// the start time and the same calls, the same events happen in the same
// order with the same ids.

type eventKind int

const (
	evArrival     eventKind = iota // a visitor creates an order
	evUnprocessed                  // the system marks a NEW order UNPROCESSED
	evOffice                       // the office works an order (status, price, comment)
	evCancel                       // the visitor cancels the order
	evComment                      // the office adds a comment to a closed order
)

type event struct {
	at    time.Time
	key   int64 // at in Unix milliseconds, for ordering
	seq   uint64
	kind  eventKind
	order int64
	live  bool // evArrival: schedule the next arrival of the Poisson process
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].key != q[j].key {
		return q[i].key < q[j].key
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return e
}

// life is the generator's state; the Server's mutex guards it.
type life struct {
	q       eventQueue
	seq     uint64
	r       *rand.Rand // every decision of visitors and office
	t       Traffic    // with defaults
	seeding bool       // applying history: changes are logged at debug level
	wake    chan struct{}
}

func newLife(seed int64, t Traffic) *life {
	return &life{
		r:    rand.New(rand.NewPCG(uint64(seed), 0x11fe)),
		t:    t.withDefaults(),
		wake: make(chan struct{}, 1),
	}
}

func (l *life) schedule(e *event) {
	l.seq++
	e.seq = l.seq
	e.at = e.at.UTC().Truncate(time.Millisecond)
	e.key = e.at.UnixMilli()
	if len(l.q) == 0 || e.at.Before(l.q[0].at) {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	heap.Push(&l.q, e)
}

// after returns t plus an exponentially distributed delay of the given mean,
// at least one millisecond.
func (l *life) after(t time.Time, mean time.Duration) time.Time {
	d := time.Duration(l.r.ExpFloat64() * float64(mean))
	return t.Add(max(d, time.Millisecond))
}

// Advance applies, in time order, every event due at or before now and
// reports how many it applied. Requests and accessors call it themselves;
// tests rarely need to.
func (s *Server) Advance(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advanceLocked(now)
}

func (s *Server) advanceLocked(now time.Time) int {
	n := 0
	for len(s.life.q) > 0 && !s.life.q[0].at.After(now) {
		e := heap.Pop(&s.life.q).(*event)
		s.apply(e)
		n++
	}
	return n
}

// Pending reports how many future events are scheduled.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.life.q)
}

// run applies events as the clock reaches them, until ctx ends.
func (s *Server) run(ctx context.Context) {
	for {
		now := s.now()
		s.mu.Lock()
		s.advanceLocked(now)
		var next time.Time
		if len(s.life.q) > 0 {
			next = s.life.q[0].at
		}
		s.mu.Unlock()
		var fire <-chan time.Time
		var t clock.Timer
		if !next.IsZero() {
			t = s.clk.NewTimer(next.Sub(now))
			fire = t.C()
		}
		select {
		case <-ctx.Done():
		case <-fire:
		case <-s.life.wake:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (s *Server) apply(e *event) {
	switch e.kind {
	case evArrival:
		s.arrive(e)
	case evUnprocessed:
		if ord := s.st.orders[e.order]; ord != nil && ord.o.Status == salesapi.StatusNew {
			_, _ = s.st.setStatus(ord, salesapi.StatusUnprocessed, e.at, System)
		}
	case evOffice:
		if ord := s.st.orders[e.order]; ord != nil {
			s.officeStep(ord, e.at)
		}
	case evCancel:
		if ord := s.st.orders[e.order]; ord != nil && CanTransition(ord.o.Status, salesapi.StatusCancel) {
			_, _ = s.st.setStatus(ord, salesapi.StatusCancel, e.at, Visitor)
		}
	case evComment:
		if ord := s.st.orders[e.order]; ord != nil {
			s.st.setComment(ord, officeComment(s.life.r), e.at, Office)
		}
	}
}

// arrive creates an order from a visitor and plans its life.
func (s *Server) arrive(e *event) {
	l := s.life
	h := s.houses[l.r.IntN(len(s.houses))]
	flat, price := h.flat(l.r)
	v := newVisitor(l.r)
	ord := s.st.create(salesapi.Order{
		ClientName: v.name, ClientEmail: v.email, ClientPhone: v.phone, ClientComment: v.comment,
		Price: price, CreatedAt: e.at, Object: h.object(), Flat: flat,
	}, h.ogrn, Visitor)
	s.scheduleUnprocessed(ord)
	t := l.t
	id := ord.o.ID
	switch {
	case l.r.Float64() < t.Neglect:
		// Left alone past the three days; half of these are never worked.
		if l.r.IntN(2) == 0 {
			l.schedule(&event{at: l.after(e.at.Add(UnprocessedAfter), t.OfficeStep), kind: evOffice, order: id})
		}
	default:
		l.schedule(&event{at: l.after(e.at, t.OfficeReaction), kind: evOffice, order: id})
	}
	if l.r.Float64() < t.Cancel {
		l.schedule(&event{at: l.after(e.at, 36*time.Hour), kind: evCancel, order: id})
	}
	if e.live && t.OrdersPerDay > 0 {
		mean := time.Duration(float64(24*time.Hour) / t.OrdersPerDay)
		l.schedule(&event{at: l.after(e.at, mean), kind: evArrival, live: true})
	}
}

func (s *Server) scheduleUnprocessed(ord *order) {
	s.life.schedule(&event{at: ord.o.CreatedAt.Add(UnprocessedAfter), kind: evUnprocessed, order: ord.o.ID})
}

// pick returns one of the statuses with the given weights (summing to 1).
func pick(r *rand.Rand, choices []salesapi.Status, weights []float64) salesapi.Status {
	x := r.Float64()
	for i, w := range weights {
		if x < w {
			return choices[i]
		}
		x -= w
	}
	return choices[len(choices)-1]
}

// officeStep is one visit of the sales office to an order: a status move
// along the machine, maybe a final price, maybe a comment, and the next visit.
func (s *Server) officeStep(ord *order, at time.Time) {
	l := s.life
	var to salesapi.Status
	switch ord.o.Status {
	case salesapi.StatusNew, salesapi.StatusUnprocessed:
		to = pick(l.r, []salesapi.Status{salesapi.StatusProgress, salesapi.StatusConfirmed, salesapi.StatusRefused, salesapi.StatusTerminated},
			[]float64{0.70, 0.05, 0.15, 0.10})
	case salesapi.StatusProgress:
		to = pick(l.r, []salesapi.Status{salesapi.StatusConfirmed, salesapi.StatusRefused, salesapi.StatusTerminated},
			[]float64{0.55, 0.25, 0.20})
	case salesapi.StatusConfirmed:
		to = pick(l.r, []salesapi.Status{salesapi.StatusComplete, salesapi.StatusTerminated}, []float64{0.75, 0.25})
	default:
		return // final (the API or the visitor got there first)
	}
	if _, err := s.st.setStatus(ord, to, at, Office); err != nil {
		return
	}
	// A discount of 0 to 8 %, in steps of 10 000 roubles.
	discounted := func(share float64) int64 {
		base := ord.o.Price
		if ord.o.FinalPrice != nil {
			base = *ord.o.FinalPrice
		}
		return int64(float64(base)*(1-l.r.Float64()*share)) / 10000 * 10000
	}
	switch {
	case to == salesapi.StatusConfirmed && l.r.Float64() < 0.85:
		s.st.setFinalPrice(ord, discounted(0.08), at, Office)
	case to == salesapi.StatusProgress && l.r.Float64() < 0.15:
		s.st.setFinalPrice(ord, discounted(0.03), at, Office)
	case to == salesapi.StatusComplete && ord.o.FinalPrice != nil && l.r.Float64() < 0.3:
		s.st.setFinalPrice(ord, discounted(0.02), at, Office)
	}
	if l.r.Float64() < 0.4 {
		s.st.setComment(ord, officeComment(l.r), at, Office)
	}
	if !Final(to) {
		l.schedule(&event{at: l.after(at, l.t.OfficeStep), kind: evOffice, order: ord.o.ID})
	} else if l.r.Float64() < 0.1 {
		l.schedule(&event{at: l.after(at, l.t.OfficeStep), kind: evComment, order: ord.o.ID})
	}
}

// Populate creates n orders the way visitors would, at random times over the
// span before now, and lives them up to now: the office works them, visitors
// cancel some, the system marks some UNPROCESSED. Their future steps stay
// scheduled and happen as the clock moves. It is how Traffic.Orders are
// seeded, and the quick way to load many orders (30 000 take well under a
// second).
func (s *Server) Populate(n int, span time.Duration) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.populateLocked(n, span, now)
}

func (s *Server) populateLocked(n int, span time.Duration, now time.Time) {
	s.life.seeding = true
	defer func() { s.life.seeding = false }()
	for range n {
		at := now.Add(-time.Duration(s.life.r.Float64() * float64(span)))
		s.life.schedule(&event{at: at, kind: evArrival})
	}
	s.advanceLocked(now)
}
