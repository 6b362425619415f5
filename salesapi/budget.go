package salesapi

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/salesbridge/salesbridge/clock"
)

// Priority orders callers waiting for the budget: a higher priority is
// served first, callers of equal priority in the order they arrived.
type Priority int

// The priorities the Client uses. PatchOrder waits as PriorityCommand and
// ListOrders as PriorityPoll, unless the context says otherwise (see
// WithPriority).
const (
	PriorityPoll    Priority = 0  // background polling: may wait
	PriorityCommand Priority = 10 // a change someone is waiting for
)

func (p Priority) String() string {
	switch p {
	case PriorityPoll:
		return "poll"
	case PriorityCommand:
		return "command"
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}

type priorityKey struct{}

// WithPriority returns a context under which the Client's calls wait for
// the budget with priority p instead of their default.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFrom returns the priority set by WithPriority, if any.
func PriorityFrom(ctx context.Context) (Priority, bool) {
	p, ok := ctx.Value(priorityKey{}).(Priority)
	return p, ok
}

// Budget is the call budget of one API account: at most rate calls in any
// rolling window of the clock. It is shared by every call of the account,
// GET and PATCH alike (token requests go to another service and are not
// counted).
//
// A call takes its slot when Wait returns, right before the request is
// sent; the slot is counted for a whole window from then. Waiting callers
// are granted slots by priority, then first come first served. Pause stops
// all grants until a time (the server's Retry-After).
//
// The Client builds its Budget with a window of RateWindow + WindowMargin
// (+ TransitMargin on an accelerated clock): the extra second absorbs the
// skew between our clock and the server's and the time a request spends on
// the way, so that the server never counts more than rate calls in its own
// 60 s window.
//
// All waiting is done with timers of the clock, so tests drive it with
// clock.Manual; only the first waiter in line holds a timer.
type Budget struct {
	rate   int
	window time.Duration
	clk    clock.Clock

	mu      sync.Mutex
	spacing time.Duration // least time between a grant and the next poll grant
	grants  []time.Time   // the last rate grants, oldest first
	paused  time.Time     // no grant before this
	queue   []*waiter     // sorted: higher priority first, then by seq
	seq     uint64
	changed chan struct{} // closed and replaced whenever the queue or state changes

	onGrant func(at time.Time, p Priority, seq uint64) // tests: called under mu at each grant, seq = arrival order
}

type waiter struct {
	prio Priority
	seq  uint64
}

// NewBudget returns a budget of rate calls (at least 1) in any window of
// the given length (at least 1 ns) on clk. Its poll spacing is window/rate
// (see SetPollSpacing).
func NewBudget(rate int, window time.Duration, clk clock.Clock) *Budget {
	if rate < 1 {
		rate = 1
	}
	if window <= 0 {
		window = 1
	}
	return &Budget{rate: rate, window: window, clk: clk, spacing: window / time.Duration(rate), changed: make(chan struct{})}
}

// SetPollSpacing sets the least time between any grant and the next grant
// to a caller below PriorityCommand; zero lets polls take every free slot
// at once. The default, window/rate, spreads polls evenly: pollers that
// call as fast as they may would otherwise fill the window in one burst
// every window, and a command arriving after the burst would wait for the
// next one (30 s on average at 10 calls a minute). Evenly spread, a slot
// frees every window/rate and a waiting command gets it, so a command
// waits at most about window/rate. Commands are never spaced.
func (b *Budget) SetPollSpacing(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spacing = max(d, 0)
	b.broadcastLocked()
}

// Rate returns the number of calls allowed in a window.
func (b *Budget) Rate() int { return b.rate }

// Window returns the length of the rolling window, in clock time.
func (b *Budget) Window() time.Duration { return b.window }

// Wait blocks until a slot is granted to the caller, or ctx ends (it then
// returns ctx.Err() and takes no slot). Waiting callers with a higher
// priority are served first; callers of equal priority in arrival order.
// The slot counts from the moment Wait returns.
func (b *Budget) Wait(ctx context.Context, p Priority) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	w := &waiter{prio: p, seq: b.seq}
	b.seq++
	b.insertLocked(w)
	b.broadcastLocked()
	for {
		now := b.clk.Now()
		var t clock.Timer
		var fire <-chan time.Time
		if b.queue[0] == w {
			next := b.nextLocked(now, p)
			if !next.After(now) {
				b.grants = append(b.grants, now)
				if b.onGrant != nil {
					b.onGrant(now, p, w.seq)
				}
				if len(b.grants) > b.rate {
					b.grants = append(b.grants[:0], b.grants[len(b.grants)-b.rate:]...)
				}
				b.removeLocked(w)
				b.broadcastLocked()
				b.mu.Unlock()
				return nil
			}
			t = b.clk.NewTimer(next.Sub(now))
			fire = t.C()
		}
		changed := b.changed
		b.mu.Unlock()
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-fire:
		case <-changed:
		}
		if t != nil {
			t.Stop()
		}
		b.mu.Lock()
		if err != nil {
			b.removeLocked(w)
			b.broadcastLocked()
			b.mu.Unlock()
			return err
		}
	}
}

// Pause stops all grants until the given time (on the budget's clock).
// A pause never shortens an earlier, longer one.
func (b *Budget) Pause(until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until.After(b.paused) {
		b.paused = until
		b.broadcastLocked()
	}
}

// PausedUntil returns the end of the current pause, or the zero time if the
// budget is not paused.
func (b *Budget) PausedUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused.After(b.clk.Now()) {
		return b.paused
	}
	return time.Time{}
}

// Used returns how many slots were granted in the last window.
func (b *Budget) Used() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.usedLocked(b.clk.Now())
}

// Free returns how many calls could be granted right now: zero while the
// budget is paused.
func (b *Budget) Free() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now()
	if b.paused.After(now) {
		return 0
	}
	return b.rate - b.usedLocked(now)
}

// Next returns when the next slot is free for a command: now if one is
// free now. Callers already waiting are served first, and a poll may have
// to wait longer (see SetPollSpacing).
func (b *Budget) Next() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nextLocked(b.clk.Now(), PriorityCommand)
}

// Waiting returns how many callers are blocked in Wait, by priority.
func (b *Budget) Waiting() map[Priority]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[Priority]int)
	for _, w := range b.queue {
		m[w.prio]++
	}
	return m
}

func (b *Budget) usedLocked(now time.Time) int {
	start := now.Add(-b.window)
	n := 0
	for _, g := range b.grants {
		if g.After(start) {
			n++
		}
	}
	return n
}

// nextLocked returns when a slot is free for a caller of priority p, at
// the earliest now.
func (b *Budget) nextLocked(now time.Time, p Priority) time.Time {
	next := now
	if len(b.grants) >= b.rate {
		if free := b.grants[0].Add(b.window); free.After(next) {
			next = free
		}
	}
	if p < PriorityCommand && b.spacing > 0 && len(b.grants) > 0 {
		if spaced := b.grants[len(b.grants)-1].Add(b.spacing); spaced.After(next) {
			next = spaced
		}
	}
	if b.paused.After(next) {
		next = b.paused
	}
	return next
}

func (b *Budget) insertLocked(w *waiter) {
	i := len(b.queue)
	for i > 0 && b.queue[i-1].prio < w.prio {
		i--
	}
	b.queue = append(b.queue, nil)
	copy(b.queue[i+1:], b.queue[i:])
	b.queue[i] = w
}

func (b *Budget) removeLocked(w *waiter) {
	for i, x := range b.queue {
		if x == w {
			copy(b.queue[i:], b.queue[i+1:])
			b.queue[len(b.queue)-1] = nil
			b.queue = b.queue[:len(b.queue)-1]
			return
		}
	}
}

// broadcastLocked wakes every waiter so that the (possibly new) head looks
// at the state again.
func (b *Budget) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}
