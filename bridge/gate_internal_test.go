package bridge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// heldLister answers a list call with page once the test lets it (the
// sandbox cannot serve an answer that goes stale in transit, which is the
// case the gate exists for).
type heldLister struct {
	entered chan struct{}
	answer  chan []salesapi.Order
}

func newHeldLister() *heldLister {
	return &heldLister{entered: make(chan struct{}, 1), answer: make(chan []salesapi.Order)}
}

func (l *heldLister) ListOrders(ctx context.Context, _ salesapi.Query) ([]salesapi.Order, error) {
	l.entered <- struct{}{}
	select {
	case p := <-l.answer:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func gateOrder(id int64, status salesapi.Status) salesapi.Order {
	raw, _ := json.Marshal(map[string]any{"id": id, "status": status})
	return salesapi.Order{ID: id, Status: status, Raw: raw}
}

// listAsync runs one list call of the poller through g.
func listAsync(g *pollGate) <-chan []salesapi.Order {
	out := make(chan []salesapi.Order, 1)
	go func() {
		p, _ := g.ListOrders(context.Background(), salesapi.Query{})
		out <- p
	}()
	return out
}

func TestPollGate(t *testing.T) {
	stale, patched := gateOrder(7, salesapi.StatusNew), gateOrder(7, salesapi.StatusProgress)
	other := gateOrder(8, salesapi.StatusNew)

	t.Run("a write during a call replaces the order in its answer", func(t *testing.T) {
		l := newHeldLister()
		g := newPollGate(l)
		got := listAsync(g)
		<-l.entered
		wrote := false
		if err := g.commandWrite(patched, func() error { wrote = true; return nil }); err != nil || !wrote {
			t.Fatalf("write: %v, ran %v", err, wrote)
		}
		l.answer <- []salesapi.Order{stale, other}
		page := <-got
		if page[0].Status != salesapi.StatusProgress || page[1].ID != 8 || len(page) != 2 {
			t.Errorf("page %+v: want the written order in place of the stale one", page)
		}
		g.release()
	})

	t.Run("a write waits until the answer in hand is applied", func(t *testing.T) {
		l := newHeldLister()
		g := newPollGate(l)
		got := listAsync(g)
		<-l.entered
		l.answer <- []salesapi.Order{stale}
		<-got // in hand, not applied yet
		done := make(chan struct{})
		go func() {
			_ = g.commandWrite(patched, func() error { return nil })
			close(done)
		}()
		select {
		case <-done:
			t.Fatal("the write did not wait for the answer in hand")
		case <-time.After(20 * time.Millisecond):
		}
		next := listAsync(g) // the poller applied its answer and calls again
		<-l.entered
		<-done
		l.answer <- []salesapi.Order{stale}
		if page := <-next; page[0].Status != salesapi.StatusProgress {
			t.Errorf("the call in flight during the write kept the stale order")
		}
		g.release()
	})

	t.Run("a write before the call does not touch its answer", func(t *testing.T) {
		l := newHeldLister()
		g := newPollGate(l)
		_ = g.commandWrite(patched, func() error { return nil })
		got := listAsync(g)
		<-l.entered
		l.answer <- []salesapi.Order{stale}
		if page := <-got; page[0].Status != salesapi.StatusNew {
			t.Errorf("an answer requested after the write was changed")
		}
		g.release()
	})

	t.Run("release lets a waiting write go", func(t *testing.T) {
		l := newHeldLister()
		g := newPollGate(l)
		got := listAsync(g)
		<-l.entered
		l.answer <- nil
		<-got
		done := make(chan struct{})
		go func() {
			_ = g.commandWrite(patched, func() error { return nil })
			close(done)
		}()
		g.release() // the poller stopped
		<-done
	})
}
