package state

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestCommandLedger(t *testing.T) {
	ts := openTest(t)
	started := Command{ID: "c-1", OrderID: 481516, State: CommandStarted}
	ts.apply(t, Batch{Commands: []Command{started}})
	got, found, err := ts.Command("c-1")
	if err != nil || !found || got.State != CommandStarted || got.OrderID != 481516 || !got.At.Equal(epoch) || len(got.Outcome) != 0 {
		t.Fatalf("got %+v found %v err %v", got, found, err)
	}

	ts.clock.Advance(time.Second)
	done := Command{ID: "c-1", OrderID: 481516, State: CommandDone, Outcome: []byte(`{"ok":true}`)}
	ts.apply(t, Batch{Commands: []Command{done}})
	got, _, _ = ts.Command("c-1")
	if got.State != CommandDone || string(got.Outcome) != `{"ok":true}` || !got.At.Equal(epoch.Add(time.Second)) {
		t.Errorf("after replace: %+v", got)
	}
	if n, _ := ts.CommandCount(); n != 1 {
		t.Errorf("count %d after replacing, want 1", n)
	}
	if _, found, err := ts.Command("nope"); found || err != nil {
		t.Errorf("unknown command: found %v err %v", found, err)
	}
	got.Outcome[0] = 'X'
	again, _, _ := ts.Command("c-1")
	if again.Outcome[0] != '{' {
		t.Error("returned outcome aliases the store")
	}
}

func TestPruneCommands(t *testing.T) {
	tests := []struct {
		name     string
		before   time.Duration // after epoch
		want     int
		wantLeft []string
	}{
		{"none old enough", 0, 0, []string{"a", "b", "c", "d"}},
		{"the oldest", time.Minute, 1, []string{"b", "c", "d"}},
		{"boundary is exclusive", 2 * time.Minute, 2, []string{"c", "d"}},
		{"all", time.Hour, 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := openTest(t)
			// a at 0, b at 1m, c and d at 2m (b was first recorded at 3m,
			// then replaced at 1m: the index must follow).
			ts.apply(t, Batch{Commands: []Command{
				{ID: "a", At: epoch},
				{ID: "b", At: epoch.Add(3 * time.Minute)},
				{ID: "c", At: epoch.Add(2 * time.Minute)},
				{ID: "d", At: epoch.Add(2 * time.Minute)},
			}})
			ts.apply(t, Batch{Commands: []Command{{ID: "b", At: epoch.Add(time.Minute)}}})

			n, err := ts.PruneCommands(epoch.Add(tt.before))
			if err != nil || n != tt.want {
				t.Fatalf("pruned %d (err %v), want %d", n, err, tt.want)
			}
			var left []string
			for _, id := range []string{"a", "b", "c", "d"} {
				if _, found, _ := ts.Command(id); found {
					left = append(left, id)
				}
			}
			if !slices.Equal(left, tt.wantLeft) {
				t.Errorf("left %v, want %v", left, tt.wantLeft)
			}
			if c, _ := ts.CommandCount(); c != len(tt.wantLeft) {
				t.Errorf("count %d, want %d", c, len(tt.wantLeft))
			}
		})
	}
}

func TestCursors(t *testing.T) {
	ts := openTest(t)
	ts.apply(t, Batch{Cursors: map[string][]byte{"plan/new": []byte("k1"), "empty": {}, "gone": []byte("x")}})
	ts.apply(t, Batch{Cursors: map[string][]byte{"plan/new": []byte("k2"), "gone": nil, "never": nil}})
	tests := []struct {
		name      string
		want      string
		wantFound bool
	}{
		{"plan/new", "k2", true},
		{"empty", "", true},
		{"gone", "", false},
		{"never", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, found, err := ts.Cursor(tt.name)
			if err != nil || found != tt.wantFound || string(v) != tt.want {
				t.Errorf("got %q found %v err %v, want %q %v", v, found, err, tt.want, tt.wantFound)
			}
		})
	}
}

func TestStats(t *testing.T) {
	ts := openTest(t)
	ts.apply(t, Batch{
		Orders:   []Order{order(1, 1, 0, epoch), order(2, 1, 0, epoch), order(3, 1, 2, epoch)},
		Messages: []Message{msg("a", "1"), msg("b", "2")},
		Cursors:  map[string][]byte{"z": []byte("1"), "a": []byte("2")},
		Commands: []Command{{ID: "x"}},
	})
	st, err := ts.Stats()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%v total=%d depth=%d oldest=%v cmds=%d cursors=%v schema=%d",
		st.Orders, st.Total, st.OutboxDepth, st.OutboxOldest.Format(time.RFC3339), st.Commands, st.Cursors, st.SchemaVersion)
	want := "map[NEW:2 CONFIRMED:1] total=3 depth=2 oldest=2025-03-01T09:00:00Z cmds=1 cursors=[a z] schema=1"
	if got != want {
		t.Errorf("stats\n got %s\nwant %s", got, want)
	}
	if st.ID != ts.ID() || st.FileSize <= 0 {
		t.Errorf("id %q size %d", st.ID, st.FileSize)
	}
}
