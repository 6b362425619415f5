package state

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

func addMessages(t *testing.T, ts *testStore, n int) []uint64 {
	t.Helper()
	b := Batch{}
	for i := range n {
		b.Messages = append(b.Messages, msg("s.order.x", fmt.Sprint(i)))
	}
	ts.apply(t, b)
	var seqs []uint64
	for _, m := range b.Messages {
		seqs = append(seqs, m.Seq)
	}
	return seqs
}

func seqsOf(ms []Message) []uint64 {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func TestPending(t *testing.T) {
	ts := openTest(t)
	addMessages(t, ts, 6)
	if err := ts.Ack(2, 4); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		after uint64
		n     int
		want  []uint64
	}{
		{"all", 0, 10, []uint64{1, 3, 5, 6}},
		{"limited", 0, 2, []uint64{1, 3}},
		{"after", 3, 10, []uint64{5, 6}},
		{"after an acked seq", 2, 1, []uint64{3}},
		{"after the last", 6, 10, nil},
		{"max seq", ^uint64(0), 10, nil},
		{"n zero", 0, 0, nil},
		{"n negative", 0, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ts.Pending(tt.after, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqsOf(got), tt.want) {
				t.Errorf("seqs %v, want %v", seqsOf(got), tt.want)
			}
		})
	}
}

func TestMessageRoundTrip(t *testing.T) {
	ts := openTest(t)
	tests := []Message{
		msg("salesbridge.order.created.481516", "order/481516/created"),
		{Subject: "bare"},
		{Subject: "empty header", Header: map[string]string{}, Data: []byte{}},
		{Subject: "binary", Header: map[string]string{"k": "", "Ünïcode": "значение"}, Data: []byte{0, 1, 2, 0xff}},
	}
	b := Batch{Messages: slices.Clone(tests)}
	ts.apply(t, b)
	got, err := ts.Pending(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(tests) {
		t.Fatalf("%d messages, want %d", len(got), len(tests))
	}
	for i, want := range tests {
		g := got[i]
		if g.Subject != want.Subject || string(g.Data) != string(want.Data) || len(g.Header) != len(want.Header) ||
			(len(want.Header) > 0 && !maps.Equal(g.Header, want.Header)) {
			t.Errorf("message %d: got %+v, want %+v", i, g, want)
		}
	}
	// Copies, not views.
	got[0].Data[0] = 'X'
	got[0].Header["Nats-Msg-Id"] = "changed"
	again, _ := ts.Pending(0, 1)
	if again[0].Data[0] == 'X' || again[0].Header["Nats-Msg-Id"] != "order/481516/created" {
		t.Error("returned message aliases the store")
	}
}

func TestAck(t *testing.T) {
	tests := []struct {
		name      string
		ack       []uint64
		wantLeft  []uint64
		wantDepth int
	}{
		{"nothing", nil, []uint64{1, 2, 3, 4}, 4},
		{"some", []uint64{1, 3}, []uint64{2, 4}, 2},
		{"unknown ignored", []uint64{9, 0, 2}, []uint64{1, 3, 4}, 3},
		{"repeated", []uint64{2, 2, 2}, []uint64{1, 3, 4}, 3},
		{"all", []uint64{4, 3, 2, 1}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := openTest(t)
			addMessages(t, ts, 4)
			if err := ts.Ack(tt.ack...); err != nil {
				t.Fatal(err)
			}
			left, _ := ts.Pending(0, 10)
			if !slices.Equal(seqsOf(left), tt.wantLeft) {
				t.Errorf("left %v, want %v", seqsOf(left), tt.wantLeft)
			}
			depth, _, err := ts.OutboxStats()
			if err != nil || depth != tt.wantDepth {
				t.Errorf("depth %d (err %v), want %d", depth, err, tt.wantDepth)
			}
		})
	}
}

func TestSeqsNeverReused(t *testing.T) {
	ts := openTest(t)
	first := addMessages(t, ts, 3)
	if err := ts.Ack(first...); err != nil {
		t.Fatal(err)
	}
	ts.reopen(t)
	again := addMessages(t, ts, 2)
	if !slices.Equal(again, []uint64{4, 5}) {
		t.Errorf("seqs after ack and reopen %v, want [4 5]", again)
	}
	// A batch without messages consumes no seq.
	ts.apply(t, Batch{Orders: []Order{order(1, 1, salesapi.StatusNew, epoch)}})
	if next := addMessages(t, ts, 1); next[0] != 6 {
		t.Errorf("seq %d, want 6", next[0])
	}
}

func TestOutboxStats(t *testing.T) {
	ts := openTest(t)
	depth, oldest, err := ts.OutboxStats()
	if err != nil || depth != 0 || !oldest.IsZero() {
		t.Errorf("empty outbox: %d %v %v", depth, oldest, err)
	}
	addMessages(t, ts, 2) // at epoch
	ts.clock.Advance(time.Minute)
	addMessages(t, ts, 1) // at epoch+1m
	depth, oldest, _ = ts.OutboxStats()
	if depth != 3 || !oldest.Equal(epoch) {
		t.Errorf("depth %d oldest %v, want 3 %v", depth, oldest, epoch)
	}
	_ = ts.Ack(1, 2)
	depth, oldest, _ = ts.OutboxStats()
	if depth != 1 || !oldest.Equal(epoch.Add(time.Minute)) {
		t.Errorf("depth %d oldest %v, want 1 %v", depth, oldest, epoch.Add(time.Minute))
	}
}

func TestNotify(t *testing.T) {
	ts := openTest(t)
	woke := func() bool {
		select {
		case <-ts.Notify():
			return true
		default:
			return false
		}
	}
	if woke() {
		t.Fatal("notified before any batch")
	}
	ts.apply(t, Batch{Orders: []Order{order(1, 1, salesapi.StatusNew, epoch)}})
	if woke() {
		t.Error("notified for a batch without messages")
	}
	addMessages(t, ts, 1)
	addMessages(t, ts, 1) // coalesces with the first
	if !woke() {
		t.Error("not notified after messages were added")
	}
	if woke() {
		t.Error("two wake-ups buffered, want one")
	}
	_ = ts.Ack(1)
	if woke() {
		t.Error("notified for an ack")
	}
}
