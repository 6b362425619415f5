package state

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/salesbridge/salesbridge/salesapi"
)

func TestApplyRevisions(t *testing.T) {
	t0 := epoch
	stored := order(7, 3, salesapi.StatusProgress, t0) // rev 3 in the store
	changed := order(7, 4, salesapi.StatusConfirmed, t0)
	tests := []struct {
		name    string
		orders  []Order
		wantErr error
		wantRev uint64 // of order 7 afterwards
	}{
		{"next rev", []Order{changed}, nil, 4},
		{"touch: same rev, same raw", []Order{withSeen(stored, t0.Add(time.Hour))}, nil, 3},
		{"same rev, other raw", []Order{withRev(changed, 3)}, ErrConflict, 3},
		{"rev skipped", []Order{withRev(changed, 5)}, ErrConflict, 3},
		{"rev behind", []Order{withRev(changed, 2)}, ErrConflict, 3},
		{"rev 1 for a stored order", []Order{withRev(changed, 1)}, ErrConflict, 3},
		{"twice in one batch", []Order{changed, order(7, 5, salesapi.StatusComplete, t0)}, nil, 5},
		{"twice with the same rev", []Order{changed, order(7, 4, salesapi.StatusComplete, t0)}, ErrConflict, 3},
		{"new order rev 1", []Order{order(8, 1, salesapi.StatusNew, t0)}, nil, 3},
		{"new order rev 2", []Order{order(8, 2, salesapi.StatusNew, t0)}, ErrConflict, 3},
		{"new order rev 0", []Order{order(8, 0, salesapi.StatusNew, t0)}, ErrConflict, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := openTest(t)
			ts.apply(t, Batch{Orders: []Order{order(7, 1, salesapi.StatusNew, t0)}})
			ts.apply(t, Batch{Orders: []Order{order(7, 2, salesapi.StatusNew, t0)}})
			ts.apply(t, Batch{Orders: []Order{stored}})

			err := ts.Apply(Batch{Orders: tt.orders})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			got, _, err := ts.Order(7)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rev != tt.wantRev {
				t.Errorf("rev %d, want %d", got.Rev, tt.wantRev)
			}
		})
	}
}

func withRev(o Order, rev uint64) Order { o.Rev = rev; return o }

func withSeen(o Order, at time.Time) Order { o.SeenAt = at; return o }

// A failing batch changes nothing at all: not the orders, the index, the
// counts, the outbox (nor its sequence), the cursors or the ledger.
func TestApplyAllOrNothing(t *testing.T) {
	good := func() Batch {
		return Batch{
			Orders:   []Order{order(1, 2, salesapi.StatusProgress, epoch), order(3, 1, salesapi.StatusNew, epoch)},
			Messages: []Message{msg("s.order.updated.1", "order/1/x"), msg("s.order.created.3", "order/3/created")},
			Cursors:  map[string][]byte{"a": []byte("2"), "b": nil, "c": []byte("new")},
			Commands: []Command{{ID: "cmd-2", OrderID: 1, State: CommandDone}, {ID: "cmd-1", OrderID: 1, State: CommandDone}},
		}
	}
	tests := []struct {
		name    string
		spoil   func(b *Batch)
		wantErr error
	}{
		{"conflicting rev last", func(b *Batch) { b.Orders = append(b.Orders, order(2, 5, salesapi.StatusNew, epoch)) }, ErrConflict},
		{"conflicting rev first", func(b *Batch) { b.Orders[0].Rev = 1 }, ErrConflict},
		{"order without id", func(b *Batch) { b.Orders[1].ID = 0 }, ErrInvalid},
		{"order without raw", func(b *Batch) { b.Orders[1].Raw = nil }, ErrInvalid},
		{"order without createdAt", func(b *Batch) { b.Orders[1].CreatedAt = time.Time{} }, ErrInvalid},
		{"createdAt out of range", func(b *Batch) { b.Orders[1].CreatedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrInvalid},
		{"status out of range", func(b *Batch) { b.Orders[1].Status = 300 }, ErrInvalid},
		{"message without subject", func(b *Batch) { b.Messages[1].Subject = "" }, ErrInvalid},
		{"empty header name", func(b *Batch) { b.Messages[0].Header[""] = "x" }, ErrInvalid},
		{"empty cursor name", func(b *Batch) { b.Cursors[""] = []byte("x") }, ErrInvalid},
		{"empty command id", func(b *Batch) { b.Commands[1].ID = "" }, ErrInvalid},
		{"long command id", func(b *Batch) { b.Commands[1].ID = strings.Repeat("x", maxNameLen+1) }, ErrInvalid},
		{"oversized key (bbolt refuses)", func(b *Batch) { b.Cursors[strings.Repeat("k", 40000)] = nil }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := openTest(t)
			ts.apply(t, Batch{
				Orders:   []Order{order(1, 1, salesapi.StatusNew, epoch), order(2, 1, salesapi.StatusNew, epoch)},
				Messages: []Message{msg("s.order.created.1", "order/1/created"), msg("s.order.created.2", "order/2/created")},
				Cursors:  map[string][]byte{"a": []byte("1"), "b": []byte("1")},
				Commands: []Command{{ID: "cmd-1", OrderID: 2, State: CommandStarted}},
			})
			if err := ts.Ack(2); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, ts.Store)

			b := good()
			tt.spoil(&b)
			err := ts.Apply(b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if after := snapshot(t, ts.Store); after != before {
				t.Fatalf("failed batch changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			for _, m := range b.Messages {
				if m.Seq != 0 {
					t.Errorf("failed batch reported seq %d", m.Seq)
				}
			}
			// The setup's batch notified (buffer of one); drain it, then
			// check that the failed batch did not notify again.
			select {
			case <-ts.Notify():
			default:
				t.Error("setup batch did not notify")
			}
			if err := ts.Apply(b); err == nil {
				t.Fatal("failed batch applied on retry")
			}
			select {
			case <-ts.Notify():
				t.Error("failed batch notified")
			default:
			}

			// The good batch applies on top, and gets seqs 3 and 4: the
			// failed one consumed none.
			g := good()
			ts.apply(t, g)
			if g.Messages[0].Seq != 3 || g.Messages[1].Seq != 4 {
				t.Errorf("seqs %d, %d after a failed batch, want 3, 4", g.Messages[0].Seq, g.Messages[1].Seq)
			}
		})
	}
}

func TestApplyFillsTimesAndSeqs(t *testing.T) {
	ts := openTest(t)
	seen := epoch.Add(-time.Minute)
	ts.clock.Advance(time.Hour)
	now := epoch.Add(time.Hour)
	b := Batch{
		Orders: []Order{
			order(1, 1, salesapi.StatusNew, epoch),                 // SeenAt zero: the clock
			withSeen(order(2, 1, salesapi.StatusNew, epoch), seen), // SeenAt kept
		},
		Messages: []Message{
			{Seq: 99, Subject: "a", Added: epoch}, // the caller's Seq and Added are ignored
			{Subject: "b"},
		},
		Commands: []Command{{ID: "x"}, {ID: "y", At: seen}},
	}
	ts.apply(t, b)
	for i, m := range b.Messages {
		if m.Seq != uint64(i+1) || !m.Added.Equal(now) {
			t.Errorf("message %d: seq %d added %v, want %d %v", i, m.Seq, m.Added, i+1, now)
		}
	}
	got, _ := ts.Orders([]int64{1, 2})
	if !got[1].SeenAt.Equal(now) || !got[2].SeenAt.Equal(seen) {
		t.Errorf("seenAt %v, %v; want %v, %v", got[1].SeenAt, got[2].SeenAt, now, seen)
	}
	x, _, _ := ts.Command("x")
	y, _, _ := ts.Command("y")
	if !x.At.Equal(now) || !y.At.Equal(seen) {
		t.Errorf("command times %v, %v; want %v, %v", x.At, y.At, now, seen)
	}
	pending, _ := ts.Pending(0, 10)
	if len(pending) != 2 || pending[0].Seq != 1 || pending[0].Subject != "a" || !pending[0].Added.Equal(now) {
		t.Errorf("pending %+v", pending)
	}
}

func TestApplyEmptyBatch(t *testing.T) {
	ts := openTest(t)
	before := snapshot(t, ts.Store)
	ts.apply(t, Batch{})
	if after := snapshot(t, ts.Store); after != before {
		t.Errorf("empty batch changed the store")
	}
	select {
	case <-ts.Notify():
		t.Error("empty batch notified")
	default:
	}
}

func TestApplyKeepsCallerData(t *testing.T) {
	ts := openTest(t)
	o := order(1, 1, salesapi.StatusNew, epoch)
	m := msg("s", "id")
	ts.apply(t, Batch{Orders: []Order{o}, Messages: []Message{m}})
	// Changing the caller's slices afterwards must not reach the store.
	o.Raw[0] = 'X'
	m.Data[0] = 'X'
	got, _, _ := ts.Order(1)
	if got.Raw[0] != '{' {
		t.Errorf("stored raw aliases the caller's slice")
	}
	p, _ := ts.Pending(0, 1)
	if !bytes.HasPrefix(p[0].Data, []byte("{")) {
		t.Errorf("stored data aliases the caller's slice")
	}
}

// A full disk (simulated with bbolt's MaxSize, which fails the allocation of
// new pages during commit the way ENOSPC does) makes Apply return the error
// and leaves the file as it was; the same batch applies once there is room.
func TestApplyDiskFull(t *testing.T) {
	ts := openTest(t)
	ts.apply(t, Batch{Orders: []Order{order(1, 1, salesapi.StatusNew, epoch)}, Messages: []Message{msg("a", "1")}})
	before := snapshot(t, ts.Store)
	st, err := ts.Stats()
	if err != nil {
		t.Fatal(err)
	}

	big := Batch{Cursors: map[string][]byte{"c": []byte("x")}}
	for id := int64(2); id < 200; id++ {
		o := order(id, 1, salesapi.StatusNew, epoch)
		o.Raw = append(o.Raw, strings.Repeat(" ", 8<<10)...)
		big.Orders = append(big.Orders, o)
		big.Messages = append(big.Messages, Message{Subject: "s", Data: o.Raw})
	}
	ts.db.MaxSize = int(st.FileSize)
	err = ts.Apply(big)
	if !errors.Is(err, berrors.ErrMaxSizeReached) {
		t.Fatalf("apply beyond the size limit: err %v, want bbolt's ErrMaxSizeReached", err)
	}
	if after := snapshot(t, ts.Store); after != before {
		t.Fatal("failed commit changed the store")
	}
	if err := verify(ts.Store); err != nil {
		t.Fatalf("after failed commit: %v", err)
	}

	ts.db.MaxSize = 0
	ts.apply(t, big)
	if big.Messages[0].Seq != 2 {
		t.Errorf("first seq after the failed commit %d, want 2", big.Messages[0].Seq)
	}
	ts.reopen(t)
	if n, _ := ts.Count(); n[salesapi.StatusNew] != 199 {
		t.Errorf("%d orders after reopen, want 199", n[salesapi.StatusNew])
	}
}
