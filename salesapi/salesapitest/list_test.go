package salesapitest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// ids decodes a list answer into the orders' ids, in the answer's order.
func ids(t *testing.T, a answer) []int64 {
	t.Helper()
	if a.status == http.StatusNoContent {
		return nil
	}
	if a.status != http.StatusOK {
		t.Fatalf("status = %d: %s", a.status, a.body)
	}
	orders, err := salesapi.DecodeOrders(a.body)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, len(orders))
	for i, o := range orders {
		out[i] = o.ID
	}
	return out
}

func TestAccept(t *testing.T) {
	s, _ := start(t, salesapitest.Config{Rate: -1})
	s.CreateOrder(salesapitest.OrderSpec{})
	c := newClient(t, s)
	c.login()
	tests := []struct {
		accept []string // nil: no Accept header
		ok     bool
	}{
		{nil, true},
		{[]string{"application/json"}, true},
		{[]string{"application/json; charset=UTF-8"}, true},
		{[]string{"application/json;charset=utf-8"}, true},
		{[]string{"APPLICATION/JSON"}, true},
		{[]string{"*/*"}, true},
		{[]string{"application/*"}, true},
		{[]string{"text/html, application/json;q=0.5"}, true},
		{[]string{"text/html", "application/json"}, true},
		{[]string{"text/html"}, false},
		{[]string{"application/xml"}, false},
		{[]string{"text/*"}, false},
		{[]string{"application/json; charset=windows-1251"}, false},
		{[]string{"application/json;q=0"}, false},
	}
	for _, tt := range tests {
		h := http.Header{"Authorization": {"Bearer " + c.token}}
		if tt.accept != nil {
			h["Accept"] = tt.accept
		}
		for _, call := range []struct{ method, path, body string }{
			{http.MethodGet, "external/orders", ""},
			{http.MethodPatch, "external/order/1", `{"comment":"x"}`},
		} {
			a := c.do(call.method, s.URL+call.path, h, call.body)
			if !tt.ok {
				wantSpringError(t, a, http.StatusNotAcceptable)
				continue
			}
			// PATCH of order 1 is 404 (no such order): past the Accept check.
			if a.status == http.StatusNotAcceptable {
				t.Errorf("%s with Accept %q: 406, want accepted", call.method, tt.accept)
			}
		}
	}
}

func TestListParameters(t *testing.T) {
	s, _ := start(t, salesapitest.Config{Rate: -1})
	created := s.CreateOrders(3, salesapitest.OrderSpec{CreatedAt: epoch.Add(-time.Hour)})
	c := newClient(t, s)
	c.login()
	tests := []struct {
		query string
		want  int // status
	}{
		{"", 200},
		{"limit=1", 200},
		{"limit=100", 200},
		{"limit=0", 400},
		{"limit=101", 400},
		{"limit=1000", 400},
		{"limit=-1", 400},
		{"limit=abc", 400},
		{"limit=1.5", 400},
		{"status=0", 200},
		{"status=7", 204},
		{"status=-1", 400},
		{"status=8", 400},
		{"status=NEW", 400},
		{"beginCreatedAt=2025-03-03T07:00:00.000Z", 200},
		{"beginCreatedAt=2025-03-03T07:00:00Z", 200},
		{"beginCreatedAt=2025-03-03T10:00:00%2B03:00", 200},
		{"beginCreatedAt=2025-03-03T07:00:00", 200},
		{"beginCreatedAt=2025-03-03", 200},
		{"beginCreatedAt=2025-03-03T09:00:00.001Z", 204},
		{"beginCreatedAt=yesterday", 400},
		{"beginCreatedAt=2025-13-01", 400},
		{"ogrn=1027700000001", 200},
		{"ogrn=1037700000002", 204},
		{"ogrn=1027700000001,1037700000002", 200},
		{"ogrn=1027700000001&ogrn=1037700000002", 200},
		{"ogrn=1027700000009", 403},
		{"ogrn=1027700000001,1027700000009", 403},
		{"ogrn=1027700000001&ogrn=not-an-ogrn", 403},
		{"unknown=1&limit=2", 200},
	}
	for _, tt := range tests {
		a := c.list(tt.query)
		switch tt.want {
		case 400, 403:
			wantSpringError(t, a, tt.want)
		default:
			if a.status != tt.want {
				t.Errorf("?%s: status %d, want %d: %s", tt.query, a.status, tt.want, a.body)
			}
		}
	}
	if got := ids(t, c.list("limit=2")); !reflect.DeepEqual(got, []int64{created[0].ID, created[1].ID}) {
		t.Errorf("limit=2: %v", got)
	}
}

func TestListAnswerShape(t *testing.T) {
	s, _ := start(t, salesapitest.Config{})
	o := s.CreateOrder(salesapitest.OrderSpec{CreatedAt: epoch.Add(-90 * time.Minute)})
	if err := s.SetFinalPrice(o.ID, 6_100_000); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	c.login()
	a := c.list("")
	if a.status != http.StatusOK || a.header.Get("Content-Type") != salesapitest.ContentType {
		t.Fatalf("status %d, Content-Type %q", a.status, a.header.Get("Content-Type"))
	}
	if d, err := http.ParseTime(a.header.Get("Date")); err != nil || !d.Equal(epoch) {
		t.Errorf("Date = %q, want the sandbox clock's %v", a.header.Get("Date"), epoch)
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &raw); err != nil || len(raw) != 1 {
		t.Fatalf("body: %v %s", err, a.body)
	}
	var keys []string
	for k := range raw[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"clientComment", "clientEmail", "clientName", "clientPhone", "comment", "createdAt", "finalPrice",
		"flat", "id", "number", "object", "price", "priceChanges", "status", "statusChanges"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v, want the spec's %v", keys, want)
	}
	got, _ := salesapi.DecodeOrders(a.body)
	truth, _ := s.Order(o.ID)
	g, _ := got[0].MarshalJSON()
	w, _ := truth.MarshalJSON()
	if string(g) != string(w) {
		t.Errorf("served %s\nwant      %s", g, w)
	}
}

func TestListWindowAndFilters(t *testing.T) {
	s, m := start(t, salesapitest.Config{Rate: -1})
	old := s.CreateOrder(salesapitest.OrderSpec{CreatedAt: epoch.Add(-25 * time.Hour)})
	edge := s.CreateOrder(salesapitest.OrderSpec{CreatedAt: epoch.Add(-24 * time.Hour)})
	recent := s.CreateOrder(salesapitest.OrderSpec{CreatedAt: epoch.Add(-time.Hour)})
	other := s.CreateOrder(salesapitest.OrderSpec{CreatedAt: epoch.Add(-30 * time.Minute), OGRN: "1037700000002"})
	hidden := s.CreateOrder(salesapitest.OrderSpec{CreatedAt: epoch.Add(-20 * time.Minute), OGRN: "1027799999999"})
	if err := s.SetStatus(recent.ID, salesapi.StatusProgress); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	c.login()
	begin := url.QueryEscape(salesapi.FormatTime(epoch.Add(-48 * time.Hour)))
	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{edge.ID, recent.ID, other.ID}}, // the last 24 hours, at or after
		{"beginCreatedAt=" + begin, []int64{old.ID, edge.ID, recent.ID, other.ID}},
		{"status=0&beginCreatedAt=" + begin, []int64{old.ID, edge.ID, other.ID}},
		{"status=1", []int64{recent.ID}},
		{"ogrn=1037700000002", []int64{other.ID}},
		{"ogrn=1027700000001", []int64{edge.ID, recent.ID}},
		{"ogrn=1027700000001,1037700000002", []int64{edge.ID, recent.ID, other.ID}},
		{"ogrn=1027700000001&ogrn=1037700000002", []int64{edge.ID, recent.ID, other.ID}},
		{"status=5", nil},
	}
	for _, tt := range tests {
		a := c.list(tt.query)
		if got := ids(t, a); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("?%s: %v, want %v", tt.query, got, tt.want)
		}
		if tt.want == nil && (a.status != http.StatusNoContent || len(a.body) != 0) {
			t.Errorf("?%s: %d with %d bytes, want 204 without a body", tt.query, a.status, len(a.body))
		}
	}
	// The window follows the sandbox clock.
	m.Advance(time.Hour)
	c.login() // the first token has expired
	if got := ids(t, c.list("")); !reflect.DeepEqual(got, []int64{recent.ID, other.ID}) {
		t.Errorf("an hour later: %v", got)
	}
	if _, ok := s.Order(hidden.ID); !ok {
		t.Error("the order outside the contract should exist")
	}
	wantSpringError(t, c.patch(itoa(hidden.ID), `{"status":1}`), http.StatusNotFound)
}

func TestListOrdering(t *testing.T) {
	const n = 30
	build := func(order salesapitest.Ordering, seed int64) (*client, []int64) {
		s, _ := start(t, salesapitest.Config{Rate: -1, Order: order, Seed: seed})
		var all []int64
		// Ties: ten orders share each createdAt; created out of time order.
		for _, at := range []time.Duration{-2 * time.Hour, -3 * time.Hour, -time.Hour} {
			for _, o := range s.CreateOrders(n/3, salesapitest.OrderSpec{CreatedAt: epoch.Add(at)}) {
				all = append(all, o.ID)
			}
		}
		c := newClient(t, s)
		c.login()
		return c, all
	}
	oldestOf := func(all []int64) []int64 {
		return append(append(append([]int64(nil), all[10:20]...), all[:10]...), all[20:]...)
	}
	c, all := build(salesapitest.OldestFirst, 1)
	oldest := oldestOf(all)
	if got := ids(t, c.list("")); !reflect.DeepEqual(got, oldest) {
		t.Errorf("oldest first: %v\nwant %v", got, oldest)
	}
	if got := ids(t, c.list("limit=5")); !reflect.DeepEqual(got, oldest[:5]) {
		t.Errorf("oldest first, limit 5: %v", got)
	}
	c, _ = build(salesapitest.NewestFirst, 1)
	newest := slices.Clone(oldest)
	slices.Reverse(newest)
	if got := ids(t, c.list("")); !reflect.DeepEqual(got, newest) {
		t.Errorf("newest first: %v\nwant %v", got, newest)
	}
	if got := ids(t, c.list("limit=5")); !reflect.DeepEqual(got, newest[:5]) {
		t.Errorf("newest first, limit 5: %v", got)
	}
	c1, all := build(salesapitest.Shuffled, 7)
	c2, _ := build(salesapitest.Shuffled, 7)
	first, second := ids(t, c1.list("")), ids(t, c1.list(""))
	if again := ids(t, c2.list("")); !reflect.DeepEqual(first, again) {
		t.Errorf("shuffled: the same seed gave %v and %v", first, again)
	}
	if reflect.DeepEqual(first, oldestOf(all)) || reflect.DeepEqual(first, second) {
		t.Errorf("shuffled: not shuffled anew: %v, %v", first, second)
	}
	sorted := slices.Clone(first)
	slices.Sort(sorted)
	want := slices.Clone(all)
	slices.Sort(want)
	if !reflect.DeepEqual(sorted, want) {
		t.Errorf("shuffled: not a permutation: %v", first)
	}
	if got := ids(t, c1.list("limit=4")); len(got) != 4 {
		t.Errorf("shuffled, limit 4: %v", got)
	}
}

func TestExtraFields(t *testing.T) {
	s, _ := start(t, salesapitest.Config{ExtraFields: map[string]any{"source": "catalog", "flat.area": 54.2}})
	o := s.CreateOrder(salesapitest.OrderSpec{})
	c := newClient(t, s)
	c.login()
	check := func(body []byte, want map[string]string) {
		t.Helper()
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			t.Fatal(err)
		}
		var flat map[string]json.RawMessage
		_ = json.Unmarshal(top["flat"], &flat)
		got := map[string]string{"source": string(top["source"]), "flat.area": string(flat["area"]), "level": string(top["level"])}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("extra fields %v, want %v", got, want)
		}
		if _, err := salesapi.DecodeOrder(body); err != nil {
			t.Errorf("with extra fields: %v", err)
		}
	}
	a := c.list("")
	var list []json.RawMessage
	_ = json.Unmarshal(a.body, &list)
	check(list[0], map[string]string{"source": `"catalog"`, "flat.area": "54.2", "level": ""})
	s.SetExtraFields(map[string]any{"level": 3})
	check(c.patch(itoa(o.ID), `{"comment":"ок"}`).body, map[string]string{"source": "", "flat.area": "", "level": "3"})
}
