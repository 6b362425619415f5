package diff

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// testOrderID is the id of the order the table tests build.
const testOrderID = 481516

// at is a test time: minutes after the order's creation.
func at(min int) time.Time {
	return time.Date(2024, 11, 1, 12, 8, 58, 807e6, time.UTC).Add(time.Duration(min) * time.Minute)
}

func ts(min int) string { return salesapi.FormatTime(at(min)) }

// sc is a statusChanges entry: id, status, minutes.
type sc struct {
	id     int64
	status int
	min    int
}

// pc is a priceChanges entry: id, price, minutes.
type pc struct {
	id    int64
	price int64
	min   int
}

// edit changes a test order's JSON document before it is decoded.
type edit func(doc map[string]any)

// baseDoc is a realistic order in status PROGRESS with a two-entry history.
func baseDoc() map[string]any {
	return map[string]any{
		"id": testOrderID, "number": "A-481516", "status": 1,
		"clientName": "Иван Петров", "clientEmail": "ivan@example.org", "clientPhone": "+79990001122",
		"clientComment": "перезвоните вечером", "comment": "",
		"price": 6100000, "finalPrice": nil, "createdAt": ts(0),
		"object": map[string]any{"externalId": 77, "name": "ЖК Сад", "address": "Москва, ул. Садовая, 1"},
		"flat":   map[string]any{"id": 9, "id_ods": "ods-9", "number": "12", "entrance": "1", "floor": 3},
		"statusChanges": []any{
			map[string]any{"id": 9000, "status": 0, "createdAt": ts(0)},
			map[string]any{"id": 9001, "status": 1, "createdAt": ts(10)},
		},
		"priceChanges": []any{},
	}
}

// set sets the value at a dotted path ("flat.floor").
func set(path string, v any) edit {
	return func(doc map[string]any) {
		keys := strings.Split(path, ".")
		m := doc
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		m[keys[len(keys)-1]] = v
	}
}

// del removes the key at a dotted path.
func del(path string) edit {
	return func(doc map[string]any) {
		keys := strings.Split(path, ".")
		m := doc
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		delete(m, keys[len(keys)-1])
	}
}

// hist sets statusChanges, in the given order.
func hist(entries ...sc) edit {
	list := make([]any, 0, len(entries))
	for _, e := range entries {
		list = append(list, map[string]any{"id": e.id, "status": e.status, "createdAt": ts(e.min)})
	}
	return set("statusChanges", list)
}

// prices sets priceChanges, in the given order.
func prices(entries ...pc) edit {
	list := make([]any, 0, len(entries))
	for _, e := range entries {
		list = append(list, map[string]any{"id": e.id, "price": e.price, "createdAt": ts(e.min)})
	}
	return set("priceChanges", list)
}

// order builds the base order with the edits applied, decoded as the API
// client decodes it (so Raw is set).
func order(t testing.TB, edits ...edit) *salesapi.Order {
	t.Helper()
	doc := baseDoc()
	for _, e := range edits {
		e(doc)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, string(b))
}

// decode decodes one order from its JSON.
func decode(t testing.TB, body string) *salesapi.Order {
	t.Helper()
	o, err := salesapi.DecodeOrder([]byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return &o
}

// noRaw returns a copy of o without Raw, as an order built in code.
func noRaw(o *salesapi.Order) *salesapi.Order {
	c := *o
	c.Raw = nil
	return &c
}

// Expected changes. An id ending in "*" stands for any 16 hex digits.

func created(min int) Change {
	return Change{ID: "order/481516/created", Type: Created, OrderID: testOrderID, At: at(min)}
}

func snapshot() Change {
	return Change{ID: "order/481516/snapshot/*", Type: Snapshot, OrderID: testOrderID}
}

func status(id int64, from, to salesapi.Status, min int) Change {
	return Change{
		ID: fmt.Sprintf("order/481516/status/%d", id), Type: StatusChanged, OrderID: testOrderID, At: at(min),
		Status: &StatusTransition{ChangeID: id, From: from, To: to},
	}
}

// price is a PriceChanged; prev, if given, is the previous price.
func price(id, p int64, min int, prev ...int64) Change {
	t := &PriceTransition{ChangeID: id, Price: p}
	if len(prev) > 0 {
		t.PreviousPrice = &prev[0]
	}
	return Change{ID: fmt.Sprintf("order/481516/price/%d", id), Type: PriceChanged, OrderID: testOrderID, At: at(min), Price: t}
}

func upd(rev uint64, fields ...Field) Change {
	return Change{ID: fmt.Sprintf("order/481516/updated/%d-*", rev), Type: Updated, OrderID: testOrderID, Fields: fields}
}

func field(path, before, after string) Field {
	return Field{Path: path, Before: json.RawMessage(before), After: json.RawMessage(after)}
}

// checkChanges fails t unless got equals want, an id ending in "*" in want
// matching any 16 lower-case hex digits in its place.
func checkChanges(t *testing.T, got, want []Change) {
	t.Helper()
	if want == nil && got != nil {
		t.Errorf("got a non-nil empty result, want nil")
	}
	if len(got) == len(want) && (want == nil) == (got == nil) {
		norm := make([]Change, len(got))
		copy(norm, got)
		for i := range norm {
			if p, ok := strings.CutSuffix(want[i].ID, "*"); ok {
				if h, ok := strings.CutPrefix(norm[i].ID, p); ok && isHex16(h) {
					norm[i].ID = want[i].ID
				}
			}
		}
		if len(want) == 0 || reflect.DeepEqual(norm, want) {
			return
		}
	}
	t.Errorf("got %d changes:\n%s\nwant %d:\n%s", len(got), dump(got), len(want), dump(want))
}

func isHex16(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// dump writes changes one a line, for failure messages.
func dump(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %s %s at=%s", c.ID, c.Type, c.At.Format(time.RFC3339))
		if c.Status != nil {
			fmt.Fprintf(&b, " status=%+v", *c.Status)
		}
		if c.Price != nil {
			fmt.Fprintf(&b, " price=%d/%d", c.Price.ChangeID, c.Price.Price)
			if c.Price.PreviousPrice != nil {
				fmt.Fprintf(&b, " prev=%d", *c.Price.PreviousPrice)
			}
		}
		for _, f := range c.Fields {
			fmt.Fprintf(&b, " %s:%s→%s", f.Path, f.Before, f.After)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
