package bridge

import (
	"errors"
	"fmt"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// applier turns what the API answered into one state transaction: the
// orders' new snapshots, the outbox messages of their changes and the
// caller's cursors (or command record) — all or nothing.
type applier struct {
	store  *state.Store
	events events
	clk    clock.Clock
	// emitted is called after a successful transaction with the number of
	// events of each type it added to the outbox.
	emitted func(map[diff.Type]int)
}

// observation is one batch to apply.
type observation struct {
	orders   []salesapi.Order
	first    diff.First        // what never-seen orders yield
	causedBy string            // the command whose PATCH answered the orders, if any
	cursors  map[string][]byte // written in the same transaction
	commands []state.Command   // written in the same transaction
	messages []state.Message   // extra messages appended after the orders' ones
}

// maxConflictRetries bounds how often apply re-reads and retries a batch that
// raced with another writer of the same order (the poller and the commander).
const maxConflictRetries = 5

// apply diffs the observation against the stored snapshots and commits the
// result in one transaction. It returns how many events it queued.
func (a *applier) apply(obs observation) (int, error) {
	for attempt := 0; ; attempt++ {
		n, err := a.applyOnce(obs)
		if errors.Is(err, state.ErrConflict) && attempt < maxConflictRetries {
			continue
		}
		return n, err
	}
}

func (a *applier) applyOnce(obs observation) (int, error) {
	ids := make([]int64, 0, len(obs.orders))
	for i := range obs.orders {
		ids = append(ids, obs.orders[i].ID)
	}
	prevs, err := a.store.Orders(ids)
	if err != nil {
		return 0, fmt.Errorf("read snapshots: %w", err)
	}
	now := a.clk.Now()
	batch := state.Batch{Cursors: obs.cursors, Commands: obs.commands}
	counts := map[diff.Type]int{}
	seen := make(map[int64]bool, len(obs.orders))
	for i := range obs.orders {
		cur := &obs.orders[i]
		if seen[cur.ID] {
			continue // the same order twice in one answer: the first one counts
		}
		seen[cur.ID] = true
		rec, ok := prevs[cur.ID]
		var prev *salesapi.Order
		if ok {
			if string(rec.Raw) == string(cur.Raw) {
				continue
			}
			p, err := salesapi.DecodeOrder(rec.Raw)
			if err != nil {
				return 0, fmt.Errorf("stored order %d: %w", cur.ID, err)
			}
			prev = &p
		}
		changes := diff.Compare(prev, cur, diff.Options{First: obs.first, PrevRev: rec.Rev})
		rev := rec.Rev + 1
		msgs, types, err := a.events.messages(changes, cur, rev, now, obs.causedBy)
		if err != nil {
			return 0, err
		}
		for _, t := range types {
			counts[t]++
		}
		batch.Orders = append(batch.Orders, state.Order{
			ID: cur.ID, Raw: cur.Raw, Rev: rev, Status: cur.Status, CreatedAt: cur.CreatedAt, SeenAt: now,
		})
		batch.Messages = append(batch.Messages, msgs...)
	}
	batch.Messages = append(batch.Messages, obs.messages...)
	if len(batch.Orders) == 0 && len(batch.Messages) == 0 && len(batch.Cursors) == 0 && len(batch.Commands) == 0 {
		return 0, nil
	}
	if err := a.store.Apply(batch); err != nil {
		return 0, fmt.Errorf("apply batch: %w", err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if a.emitted != nil && total > 0 {
		a.emitted(counts)
	}
	return total, nil
}
