package state

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

func TestOrderRoundTrip(t *testing.T) {
	ts := openTest(t)
	created := time.Date(2024, 12, 31, 23, 59, 59, 123000000, time.FixedZone("MSK", 3*3600))
	seen := epoch.Add(17 * time.Nanosecond)
	want := withSeen(order(481516, 1, salesapi.StatusConfirmed, created), seen)
	ts.apply(t, Batch{Orders: []Order{want}})

	got, found, err := ts.Order(481516)
	if err != nil || !found {
		t.Fatalf("found %v, err %v", found, err)
	}
	if got.ID != want.ID || got.Rev != want.Rev || got.Status != want.Status ||
		!got.CreatedAt.Equal(created) || !got.SeenAt.Equal(seen) || string(got.Raw) != string(want.Raw) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("times come back in %v, want UTC", got.CreatedAt.Location())
	}
	// The returned Raw is a copy.
	got.Raw[0] = 'X'
	again, _, _ := ts.Order(481516)
	if again.Raw[0] != '{' {
		t.Error("returned Raw aliases the store")
	}

	if _, found, err := ts.Order(1); found || err != nil {
		t.Errorf("missing order: found %v, err %v", found, err)
	}
}

func TestOrders(t *testing.T) {
	ts := openTest(t)
	for _, id := range []int64{1, 2, 3, 5} {
		ts.apply(t, Batch{Orders: []Order{order(id, 1, salesapi.StatusNew, epoch)}})
	}
	tests := []struct {
		name string
		ids  []int64
		want []int64
	}{
		{"none", nil, nil},
		{"some", []int64{2, 4, 5}, []int64{2, 5}},
		{"duplicates", []int64{3, 3}, []int64{3}},
		{"unknown only", []int64{9, -9}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ts.Orders(tt.ids)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for id, o := range got {
				if o.ID != id {
					t.Errorf("map key %d holds order %d", id, o.ID)
				}
				ids = append(ids, id)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, tt.want) {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestForEachOrder(t *testing.T) {
	ts := openTest(t)
	ids := []int64{300, -2, 1, 1 << 40, 20}
	for _, id := range ids {
		ts.apply(t, Batch{Orders: []Order{order(id, 1, salesapi.StatusNew, epoch)}})
	}
	var got []int64
	if err := ts.ForEachOrder(func(o Order) error {
		got = append(got, o.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}

	stop := errors.New("stop")
	n := 0
	err := ts.ForEachOrder(func(Order) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("err %v after %d calls, want stop after 2", err, n)
	}
}

func TestOrdersByStatus(t *testing.T) {
	ts := openTest(t)
	t1, t2, t3 := epoch, epoch.Add(time.Minute), epoch.Add(2*time.Minute)
	ts.apply(t, Batch{Orders: []Order{
		order(5, 1, salesapi.StatusNew, t2),
		order(4, 1, salesapi.StatusNew, t2), // tie on createdAt: by id
		order(9, 1, salesapi.StatusNew, t1),
		order(1, 1, salesapi.StatusNew, t3),
		order(2, 1, salesapi.StatusProgress, t1),
		order(3, 1, salesapi.StatusUnprocessed, t1),
	}})
	tests := []struct {
		name     string
		st       salesapi.Status
		after    Key
		n        int
		want     []int64
		wantNext Key
	}{
		{"all", salesapi.StatusNew, Key{}, 10, []int64{9, 4, 5, 1}, Key{t3, 1}},
		{"first page", salesapi.StatusNew, Key{}, 2, []int64{9, 4}, Key{t2, 4}},
		{"second page", salesapi.StatusNew, Key{t2, 4}, 2, []int64{5, 1}, Key{t3, 1}},
		{"past the end", salesapi.StatusNew, Key{t3, 1}, 2, nil, Key{t3, 1}},
		{"from a time", salesapi.StatusNew, Key{CreatedAt: t2}, 10, []int64{4, 5, 1}, Key{t3, 1}},
		{"other status", salesapi.StatusProgress, Key{}, 10, []int64{2}, Key{t1, 2}},
		{"last status byte", salesapi.StatusUnprocessed, Key{}, 10, []int64{3}, Key{t1, 3}},
		{"empty status", salesapi.StatusComplete, Key{}, 10, nil, Key{}},
		{"n zero", salesapi.StatusNew, Key{}, 0, nil, Key{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := ts.OrdersByStatus(tt.st, tt.after, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, o := range got {
				if o.Status != tt.st {
					t.Errorf("order %d in status %v", o.ID, o.Status)
				}
				ids = append(ids, o.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("ids %v, want %v", ids, tt.want)
			}
			if !next.CreatedAt.Equal(tt.wantNext.CreatedAt) || next.ID != tt.wantNext.ID {
				t.Errorf("next %v, want %v", next, tt.wantNext)
			}
		})
	}
}

// The index follows status and createdAt changes, and the counts follow the
// statuses.
func TestIndexFollowsChanges(t *testing.T) {
	ts := openTest(t)
	t1, t2 := epoch, epoch.Add(time.Hour)
	ts.apply(t, Batch{Orders: []Order{
		order(1, 1, salesapi.StatusNew, t1),
		order(2, 1, salesapi.StatusNew, t1),
		order(3, 1, salesapi.StatusNew, t1),
	}})
	ts.apply(t, Batch{Orders: []Order{
		order(1, 2, salesapi.StatusProgress, t1), // status changed
		order(2, 2, salesapi.StatusNew, t2),      // createdAt changed (the API corrected it)
	}})
	ts.apply(t, Batch{Orders: []Order{
		order(1, 3, salesapi.StatusTerminated, t1),
		withSeen(order(3, 1, salesapi.StatusNew, t1), t2), // touch
	}})

	byStatus := func(st salesapi.Status) string {
		got, _, err := ts.OrdersByStatus(st, Key{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		for _, o := range got {
			s += fmt.Sprintf("%d@%s ", o.ID, o.CreatedAt.Format("15:04"))
		}
		return s
	}
	if got, want := byStatus(salesapi.StatusNew), "3@09:00 2@10:00 "; got != want {
		t.Errorf("NEW: %q, want %q", got, want)
	}
	if got := byStatus(salesapi.StatusProgress); got != "" {
		t.Errorf("PROGRESS: %q, want none", got)
	}
	if got, want := byStatus(salesapi.StatusTerminated), "1@09:00 "; got != want {
		t.Errorf("TERMINATED: %q, want %q", got, want)
	}
	counts, err := ts.Count()
	if err != nil {
		t.Fatal(err)
	}
	want := map[salesapi.Status]int{salesapi.StatusNew: 2, salesapi.StatusTerminated: 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
}
