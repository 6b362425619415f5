package bridge

import (
	"context"
	"sync"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// pollGate keeps a list answer that may be older than a PATCH answer from
// being applied over it.
//
// The poller and the commander call the API concurrently. A list call in
// flight while a PATCH is executed may have been served before the PATCH;
// applied after the PATCH's answer it would move the order back (an
// order.updated "status 2 → 1"), and the next poll would move it forward
// again. The gate sits between the poller and the API and orders the two:
//
//   - the commander writes a PATCH answer only while the poller holds no
//     answer it has not applied yet (the poller applies each answer before
//     its next call, so that wait is one state transaction);
//   - an order the commander wrote while a list call was in flight is
//     replaced, in that call's answer, by what the commander wrote, so the
//     answer changes nothing about it (the next call reads it afresh).
//
// Replacing rather than dropping keeps the page's length and createdAt
// values, which the planner reads.
type pollGate struct {
	inner OrderLister

	mu      sync.Mutex
	seq     uint64
	written map[int64]gateWrite // orders the commander wrote, by id; cleared after each call
	inHand  chan struct{}       // open while the poller holds an answer; closed at its next call
}

type gateWrite struct {
	seq   uint64
	order salesapi.Order
}

// maxHandWait bounds how long the commander waits for the poller to apply
// an answer (wall-clock). The poller applies an answer in one state
// transaction; it holds one longer only when that transaction failed, and
// then it drops the answer anyway.
const maxHandWait = 2 * time.Second

func newPollGate(inner OrderLister) *pollGate {
	return &pollGate{inner: inner, written: map[int64]gateWrite{}}
}

// ListOrders is the poller's list call.
func (g *pollGate) ListOrders(ctx context.Context, q salesapi.Query) ([]salesapi.Order, error) {
	g.mu.Lock()
	g.releaseLocked()
	g.seq++
	start := g.seq
	g.mu.Unlock()

	page, err := g.inner.ListOrders(ctx, q)

	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range page {
		if w, ok := g.written[page[i].ID]; ok && w.seq > start {
			page[i] = w.order
		}
	}
	clear(g.written)
	if err == nil {
		g.inHand = make(chan struct{})
	}
	return page, err
}

// release says the poller holds no answer any more (it stopped).
func (g *pollGate) release() {
	g.mu.Lock()
	g.releaseLocked()
	g.mu.Unlock()
}

func (g *pollGate) releaseLocked() {
	if g.inHand != nil {
		close(g.inHand)
		g.inHand = nil
	}
}

// commandWrite runs write, which commits order as the commander got it
// from the API, once no list answer is waiting to be applied, and marks
// order as written for the list call in flight.
func (g *pollGate) commandWrite(order salesapi.Order, write func() error) error {
	g.mu.Lock()
	if g.inHand != nil {
		t := time.NewTimer(maxHandWait)
		for g.inHand != nil {
			ch := g.inHand
			g.mu.Unlock()
			timedOut := false
			select {
			case <-ch:
			case <-t.C:
				timedOut = true
			}
			g.mu.Lock()
			if timedOut {
				break
			}
		}
		t.Stop()
	}
	defer g.mu.Unlock()
	g.seq++
	g.written[order.ID] = gateWrite{seq: g.seq, order: order}
	return write()
}
