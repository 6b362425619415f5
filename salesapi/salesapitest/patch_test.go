package salesapitest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func TestPatchValidation(t *testing.T) {
	s, _ := start(t, salesapitest.Config{Rate: -1})
	o := s.CreateOrder(salesapitest.OrderSpec{})
	id := itoa(o.ID)
	c := newClient(t, s)
	c.login()
	long := strings.Repeat("ж", salesapi.MaxCommentRunes) // 1000 characters, 2000 bytes
	tests := []struct {
		name string
		id   string
		body string
		want int
	}{
		{"empty body", id, "", 400},
		{"array", id, `[{"status":1}]`, 400},
		{"string", id, `"status"`, 400},
		{"not JSON", id, `{status:1}`, 400},
		{"trailing data", id, `{"status":1} {}`, 400},
		{"no field", id, `{}`, 400},
		{"only nulls", id, `{"status":null,"comment":null}`, 400},
		{"status 0", id, `{"status":0}`, 400},
		{"status 6", id, `{"status":6}`, 400},
		{"status 7", id, `{"status":7}`, 400},
		{"status 8", id, `{"status":8}`, 400},
		{"status as string", id, `{"status":"1"}`, 400},
		{"status fraction", id, `{"status":1.5}`, 400},
		{"negative price", id, `{"finalPrice":-1}`, 400},
		{"fractional price", id, `{"finalPrice":6100000.5}`, 400},
		{"price as string", id, `{"finalPrice":"6100000"}`, 400},
		{"comment too long", id, `{"comment":"` + long + `ж"}`, 400},
		{"comment not a string", id, `{"comment":5}`, 400},
		{"unknown field", id, `{"comment":"x","price":1}`, 400},
		{"id not a number", "abc", `{"comment":"x"}`, 400},
		{"unknown order", "999999999", `{"comment":"x"}`, 404},
		{"unknown order, bad body", "999999999", `{}`, 400},
		{"comment of 1000 characters", id, `{"comment":"` + long + `"}`, 200},
		{"integral float price", id, `{"finalPrice":6.1e6}`, 200},
		{"null is absent", id, `{"status":null,"finalPrice":0}`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.Order(o.ID)
			a := c.patch(tt.id, tt.body)
			if tt.want != 200 {
				wantSpringError(t, a, tt.want)
				if after, _ := s.Order(o.ID); !equalJSON(before, after) {
					t.Errorf("a refused PATCH changed the order")
				}
				return
			}
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
		})
	}
	got, _ := s.Order(o.ID)
	if got.Comment != long || got.FinalPrice == nil || *got.FinalPrice != 0 || len(got.PriceChanges) != 2 {
		t.Errorf("after the accepted patches: comment %d chars, finalPrice %v, %d price changes",
			len([]rune(got.Comment)), got.FinalPrice, len(got.PriceChanges))
	}
	// The wrong method on either path is 405.
	wantSpringError(t, c.do(http.MethodPost, s.URL+"external/order/"+id, c.authHeader(), `{"status":1}`), http.StatusMethodNotAllowed)
	wantSpringError(t, c.do(http.MethodGet, s.URL+"external/order/"+id, c.authHeader(), ""), http.StatusMethodNotAllowed)
	wantSpringError(t, c.do(http.MethodPatch, s.URL+"external/orders", c.authHeader(), `{}`), http.StatusMethodNotAllowed)
	wantSpringError(t, c.do(http.MethodGet, s.URL+"external/nothing", c.authHeader(), ""), http.StatusNotFound)
}

func equalJSON(a, b salesapi.Order) bool {
	x, _ := a.MarshalJSON()
	y, _ := b.MarshalJSON()
	return string(x) == string(y)
}

// machine is the status machine of the issue, written out independently of
// the package's CanTransition.
var machine = map[salesapi.Status][]salesapi.Status{
	salesapi.StatusNew:         {salesapi.StatusProgress, salesapi.StatusConfirmed, salesapi.StatusRefused, salesapi.StatusTerminated, salesapi.StatusCancel, salesapi.StatusUnprocessed},
	salesapi.StatusUnprocessed: {salesapi.StatusProgress, salesapi.StatusConfirmed, salesapi.StatusRefused, salesapi.StatusTerminated, salesapi.StatusCancel},
	salesapi.StatusProgress:    {salesapi.StatusConfirmed, salesapi.StatusRefused, salesapi.StatusTerminated, salesapi.StatusCancel},
	salesapi.StatusConfirmed:   {salesapi.StatusComplete, salesapi.StatusTerminated, salesapi.StatusCancel},
}

func allowed(from, to salesapi.Status) bool {
	for _, s := range machine[from] {
		if s == to {
			return true
		}
	}
	return false
}

func TestCanTransition(t *testing.T) {
	for _, from := range salesapi.Statuses() {
		for _, to := range salesapi.Statuses() {
			if got, want := salesapitest.CanTransition(from, to), allowed(from, to); got != want {
				t.Errorf("CanTransition(%v, %v) = %v, want %v", from, to, got, want)
			}
		}
		if got, want := salesapitest.Final(from), len(machine[from]) == 0; got != want {
			t.Errorf("Final(%v) = %v, want %v", from, got, want)
		}
	}
}

// orderIn creates an order and brings it to status st the way the world
// would.
func orderIn(t *testing.T, s *salesapitest.Server, st salesapi.Status) salesapi.Order {
	t.Helper()
	path := map[salesapi.Status][]salesapi.Status{
		salesapi.StatusProgress:   {salesapi.StatusProgress},
		salesapi.StatusConfirmed:  {salesapi.StatusConfirmed},
		salesapi.StatusComplete:   {salesapi.StatusConfirmed, salesapi.StatusComplete},
		salesapi.StatusRefused:    {salesapi.StatusProgress, salesapi.StatusRefused},
		salesapi.StatusTerminated: {salesapi.StatusTerminated},
		salesapi.StatusCancel:     {salesapi.StatusCancel},
	}
	createdAt := time.Time{}
	if st == salesapi.StatusUnprocessed {
		createdAt = epoch.Add(-salesapitest.UnprocessedAfter)
	}
	o := s.CreateOrder(salesapitest.OrderSpec{CreatedAt: createdAt})
	for _, step := range path[st] {
		if err := s.SetStatus(o.ID, step); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Order(o.ID)
	if got.Status != st {
		t.Fatalf("order in %v: got %v", st, got.Status)
	}
	return got
}

func TestPatchStatusMachine(t *testing.T) {
	s, _ := start(t, salesapitest.Config{Rate: -1})
	c := newClient(t, s)
	c.login()
	for _, from := range salesapi.Statuses() {
		for to := salesapi.StatusProgress; to <= salesapi.StatusTerminated; to++ {
			o := orderIn(t, s, from)
			a := c.patch(itoa(o.ID), `{"status":`+itoa(int64(to))+`}`)
			after, _ := s.Order(o.ID)
			switch {
			case from == to: // a no-op: 200 with the order, no history entry
				if a.status != 200 || len(after.StatusChanges) != len(o.StatusChanges) {
					t.Errorf("%v -> %v (same): %d, %d entries, want 200 and %d", from, to, a.status, len(after.StatusChanges), len(o.StatusChanges))
				}
			case allowed(from, to):
				if a.status != 200 || after.Status != to || len(after.StatusChanges) != len(o.StatusChanges)+1 {
					t.Errorf("%v -> %v: %d %s", from, to, a.status, a.body)
					continue
				}
				last := after.StatusChanges[len(after.StatusChanges)-1]
				if last.Status != to || !last.CreatedAt.Equal(s.Now()) || last.ID <= o.StatusChanges[len(o.StatusChanges)-1].ID {
					t.Errorf("%v -> %v: history entry %+v", from, to, last)
				}
			default:
				wantSpringError(t, a, http.StatusBadRequest)
				if after.Status != from || len(after.StatusChanges) != len(o.StatusChanges) {
					t.Errorf("%v -> %v refused but the order changed", from, to)
				}
			}
		}
	}
}

func TestPatchEffects(t *testing.T) {
	s, m := start(t, salesapitest.Config{})
	a1 := s.CreateOrder(salesapitest.OrderSpec{})
	b1 := s.CreateOrder(salesapitest.OrderSpec{})
	c := newClient(t, s)
	c.login()
	seq := len(s.Changes())
	m.Advance(time.Minute)
	steps := []struct {
		id        int64
		body      string
		wantKinds []salesapitest.ChangeKind
	}{
		{a1.ID, `{"status":1,"finalPrice":7000000,"comment":"Назначен показ"}`, []salesapitest.ChangeKind{salesapitest.KindStatus, salesapitest.KindPrice, salesapitest.KindComment}},
		{b1.ID, `{"status":2}`, []salesapitest.ChangeKind{salesapitest.KindStatus}},
		{a1.ID, `{"status":1,"finalPrice":7000000,"comment":"Назначен показ"}`, nil}, // all the same: nothing
		{a1.ID, `{"finalPrice":6900000}`, []salesapitest.ChangeKind{salesapitest.KindPrice}},
		{b1.ID, `{"finalPrice":5000000}`, []salesapitest.ChangeKind{salesapitest.KindPrice}},
		{a1.ID, `{"comment":""}`, []salesapitest.ChangeKind{salesapitest.KindComment}},
	}
	for i, st := range steps {
		a := c.patch(itoa(st.id), st.body)
		if a.status != 200 {
			t.Fatalf("step %d: %d %s", i, a.status, a.body)
		}
		// The answer is the order, written as GET writes it.
		served, err := salesapi.DecodeOrder(a.body)
		if err != nil {
			t.Fatal(err)
		}
		truth, _ := s.Order(st.id)
		if !equalJSON(served, truth) {
			t.Errorf("step %d: PATCH answered %s, the order is %+v", i, a.body, truth)
		}
		changes := s.Changes()[seq:]
		seq += len(changes)
		var kinds []salesapitest.ChangeKind
		for _, ch := range changes {
			kinds = append(kinds, ch.Kind)
			if ch.Who != salesapitest.API || ch.OrderID != st.id || !ch.At.Equal(s.Now()) {
				t.Errorf("step %d: change %+v", i, ch)
			}
		}
		if !equalKinds(kinds, st.wantKinds) {
			t.Errorf("step %d: changes %v, want %v", i, kinds, st.wantKinds)
		}
		m.Advance(time.Second)
	}
	// Entry ids are global sequences: strictly increasing across orders.
	var status, price []int64
	for _, ch := range s.Changes() {
		switch ch.Kind {
		case salesapitest.KindCreated, salesapitest.KindStatus:
			status = append(status, ch.EntryID)
		case salesapitest.KindPrice:
			price = append(price, ch.EntryID)
		}
	}
	for _, seqs := range [][]int64{status, price} {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Errorf("entry ids not increasing: %v", seqs)
			}
		}
	}
	a, _ := s.Order(a1.ID)
	if len(a.PriceChanges) != 2 || a.PriceChanges[0].Price != 7000000 || a.PriceChanges[1].Price != 6900000 || *a.FinalPrice != 6900000 {
		t.Errorf("price history %+v, finalPrice %v", a.PriceChanges, *a.FinalPrice)
	}
	// The ground truth's from/to are JSON values.
	for _, ch := range s.ChangesOf(a1.ID) {
		if ch.Kind == salesapitest.KindPrice && ch.EntryID == a.PriceChanges[1].ID {
			var from, to int64
			if json.Unmarshal(ch.From, &from) != nil || json.Unmarshal(ch.To, &to) != nil || from != 7000000 || to != 6900000 {
				t.Errorf("price change %s -> %s", ch.From, ch.To)
			}
		}
	}
}

func equalKinds(a, b []salesapitest.ChangeKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
