package salesapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func ptr64(v int64) *int64 { return &v }

// specExample returns the example order of the spec ("The order" in the
// spec digest), kept in testdata/spec-order.json so that the tests need
// nothing outside the repository; TestSpecExampleCopy keeps the copy true.
func specExample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/spec-order.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpecExampleCopy: testdata/spec-order.json is the example of the spec
// digest, when the digest is beside the repository (../shared/spec).
func TestSpecExampleCopy(t *testing.T) {
	b, err := os.ReadFile("../../shared/spec/README.md")
	if err != nil {
		t.Skipf("spec digest not beside the repository: %v", err)
	}
	m := regexp.MustCompile("(?s)## The order\n```json\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("no example order in the spec digest")
	}
	if got := specExample(t); !bytes.Equal(got, m[1]) {
		t.Errorf("testdata/spec-order.json differs from the digest's example:\n%s", m[1])
	}
}

func TestSpecExampleOrderDecodes(t *testing.T) {
	body := specExample(t)
	at := time.Date(2024, 11, 1, 12, 8, 58, 807_000_000, time.UTC)
	want := salesapi.Order{
		ID: 0, Number: "string", Status: salesapi.StatusNew,
		ClientName: "string", ClientEmail: "string", ClientPhone: "string",
		ClientComment: "string", Comment: "string",
		Price: 0, FinalPrice: ptr64(0), CreatedAt: at,
		Object:        salesapi.Object{ExternalID: 0, Name: "string", Address: "string"},
		Flat:          salesapi.Flat{ID: 0, IDODS: "string", Number: "string", Entrance: "string", Floor: 0},
		StatusChanges: []salesapi.StatusChange{{ID: 0, Status: salesapi.StatusNew, CreatedAt: at}},
		PriceChanges:  []salesapi.PriceChange{{ID: 0, Price: 0, CreatedAt: at}},
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatal(err)
	}

	o, err := salesapi.DecodeOrder(body)
	if err != nil {
		t.Fatalf("DecodeOrder: %v", err)
	}
	if !bytes.Equal(o.Raw, compact.Bytes()) {
		t.Errorf("Raw = %s, want the compacted input", o.Raw)
	}
	o.Raw = nil
	if !reflect.DeepEqual(o, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", o, want)
	}

	list, err := salesapi.DecodeOrders([]byte("[" + string(body) + "," + string(body) + "]"))
	if err != nil || len(list) != 2 || list[1].CreatedAt != at {
		t.Fatalf("DecodeOrders = %d orders, %v", len(list), err)
	}
	// Written back in the API's shape, it decodes to the same order.
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	again, err := salesapi.DecodeOrder(b)
	if err != nil {
		t.Fatal(err)
	}
	again.Raw = nil
	if !reflect.DeepEqual(again, want) {
		t.Errorf("round trip\n%+v\nwant\n%+v", again, want)
	}
}

func TestDecodeOrdersTolerantAndStrict(t *testing.T) {
	const created = `"createdAt":"2025-03-03T09:00:00.000Z"`
	tests := []struct {
		name    string
		body    string
		wantN   int
		wantErr bool
		check   func(t *testing.T, o []salesapi.Order)
	}{
		{name: "empty body (204)", body: "", wantN: 0},
		{name: "whitespace", body: " \n", wantN: 0},
		{name: "empty array", body: "[]", wantN: 0},
		{name: "numbers as strings, floats, nulls", body: `[{"id":"481516","status":"2","price":6.1e6,"finalPrice":null,"comment":null,` + created + `}]`, wantN: 1,
			check: func(t *testing.T, o []salesapi.Order) {
				if o[0].ID != 481516 || o[0].Status != salesapi.StatusConfirmed || o[0].Price != 6_100_000 || o[0].FinalPrice != nil {
					t.Errorf("decoded %+v", o[0])
				}
			}},
		{name: "time without zone or with offset", body: `[{"id":1,"createdAt":"2025-03-03T12:00:00+03:00"},{"id":2,"createdAt":"2025-03-03T09:00:00"}]`, wantN: 2,
			check: func(t *testing.T, o []salesapi.Order) {
				if !o[0].CreatedAt.Equal(o[1].CreatedAt) {
					t.Errorf("times %v and %v, want the same instant", o[0].CreatedAt, o[1].CreatedAt)
				}
			}},
		{name: "unknown fields kept in Raw", body: `[{"id":1,"newField":{"a":[1,2]},` + created + `}]`, wantN: 1,
			check: func(t *testing.T, o []salesapi.Order) {
				if !strings.Contains(string(o[0].Raw), `"newField":{"a":[1,2]}`) {
					t.Errorf("Raw %s lost the unknown field", o[0].Raw)
				}
			}},
		{name: "an order without id", body: `[{` + created + `}]`, wantErr: true},
		{name: "an order without createdAt", body: `[{"id":1}]`, wantErr: true},
		{name: "a fractional id", body: `[{"id":1.5,` + created + `}]`, wantErr: true},
		{name: "one bad order spoils the page", body: `[{"id":1,` + created + `},{"id":2}]`, wantErr: true},
		{name: "null element", body: `[null]`, wantErr: true},
		{name: "an object, not a list", body: `{"id":1,` + created + `}`, wantErr: true},
		{name: "html", body: `<html>502</html>`, wantErr: true},
		{name: "truncated", body: `[{"id":1,` + created, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orders, err := salesapi.DecodeOrders([]byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, salesapi.ErrMalformed) || orders != nil {
					t.Fatalf("DecodeOrders = %d orders, %v; want nil and ErrMalformed", len(orders), err)
				}
				return
			}
			if err != nil || len(orders) != tt.wantN {
				t.Fatalf("DecodeOrders = %d orders, %v; want %d", len(orders), err, tt.wantN)
			}
			if tt.check != nil {
				tt.check(t, orders)
			}
		})
	}
}

// FuzzDecodeOrders feeds arbitrary bytes to DecodeOrders and DecodeOrder.
// They never panic; an error wraps ErrMalformed and comes with nothing (no
// half-filled order); a success has an id and createdAt for every element
// of the array, raw JSON that is valid, and survives being written back in
// the API's shape.
func FuzzDecodeOrders(f *testing.F) {
	f.Add(specExample(f))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Add([]byte(`[{"id":"7","status":3,"price":6.1e6,"finalPrice":null,"createdAt":"2025-03-03T09:00:00+03:00","statusChanges":[null,{"id":1}]}]`))
	f.Add([]byte(`{"id":1,"createdAt":"2025-03-03 09:00:00","flat":{"floor":"12"}}`))
	f.Add([]byte(`<html><body>502 Bad Gateway</body></html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		orders, err := salesapi.DecodeOrders(body)
		if err != nil {
			if orders != nil || !errors.Is(err, salesapi.ErrMalformed) {
				t.Fatalf("DecodeOrders error %v with %d orders; want nil orders and ErrMalformed", err, len(orders))
			}
		} else if len(bytes.TrimSpace(body)) > 0 {
			var elems []json.RawMessage
			if jerr := json.Unmarshal(body, &elems); jerr != nil || len(elems) != len(orders) {
				t.Fatalf("%d orders from %d array elements (%v)", len(orders), len(elems), jerr)
			}
			for _, o := range orders {
				checkWhole(t, o)
			}
		}

		o, err := salesapi.DecodeOrder(body)
		if err != nil {
			if !reflect.ValueOf(o).IsZero() || !errors.Is(err, salesapi.ErrMalformed) {
				t.Fatalf("DecodeOrder error %v with a non-zero order; want a zero order and ErrMalformed", err)
			}
			return
		}
		checkWhole(t, o)
	})
}

// checkWhole checks an order that decoded without error.
func checkWhole(t *testing.T, o salesapi.Order) {
	t.Helper()
	if o.CreatedAt.IsZero() || !json.Valid(o.Raw) {
		t.Fatalf("order %d decoded with createdAt %v and raw %q", o.ID, o.CreatedAt, o.Raw)
	}
	for _, tm := range allTimes(o) {
		if tm.Year() < 1 || tm.Year() > 9999 {
			return // outside what the API's format can write
		}
	}
	b1, err := json.Marshal(o)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	o2, err := salesapi.DecodeOrder(b1)
	if err != nil {
		t.Fatalf("the order written back does not decode: %v\n%s", err, b1)
	}
	if b2, _ := json.Marshal(o2); !bytes.Equal(b1, b2) {
		t.Fatalf("round trip changed the order:\n%s\n%s", b1, b2)
	}
}

func allTimes(o salesapi.Order) []time.Time {
	ts := []time.Time{o.CreatedAt}
	for _, c := range o.StatusChanges {
		ts = append(ts, c.CreatedAt)
	}
	for _, c := range o.PriceChanges {
		ts = append(ts, c.CreatedAt)
	}
	return ts
}

// BenchmarkDecodeOrders decodes a full page: 100 orders as the sandbox
// writes them, with Russian names and addresses and a few history entries
// each.
//
//	go test -run '^$' -bench DecodeOrders -benchmem ./salesapi/
func BenchmarkDecodeOrders(b *testing.B) {
	sb := salesapitest.NewServer(salesapitest.Config{Seed: 1})
	defer sb.Close()
	sb.Populate(100, 24*time.Hour)
	page, err := json.Marshal(sb.Orders())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		orders, err := salesapi.DecodeOrders(page)
		if err != nil || len(orders) != 100 {
			b.Fatalf("%d orders, %v", len(orders), err)
		}
	}
}
