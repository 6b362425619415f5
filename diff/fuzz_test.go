package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/salesbridge/salesbridge/salesapi"
)

// FuzzCompare checks the invariants of Compare on any pair of orders the
// API client can decode. More seeds are in testdata/fuzz/FuzzCompare.
func FuzzCompare(f *testing.F) {
	base := `{"id":1,"status":1,"createdAt":"2024-11-01T12:08:58.807Z","statusChanges":[{"id":1,"status":0,"createdAt":"2024-11-01T12:08:58.807Z"},{"id":2,"status":1,"createdAt":"2024-11-01T13:00:00Z"}],"priceChanges":[]}`
	f.Add([]byte(base), []byte(base), uint8(0), uint64(0))
	f.Add([]byte(base), []byte(`{"id":1,"status":2,"comment":"x","createdAt":"2024-11-01T12:08:58.807Z","statusChanges":[{"id":3,"status":2,"createdAt":"2024-11-01T14:00:00Z"},{"id":1,"status":0,"createdAt":"2024-11-01T12:08:58.807Z"},{"id":3,"status":2,"createdAt":"2024-11-01T14:00:00Z"}],"priceChanges":[{"id":9,"price":"5","createdAt":"2024-11-01T14:00:00Z"}],"finalPrice":5}`), uint8(1), uint64(7))
	f.Fuzz(func(t *testing.T, prevJSON, curJSON []byte, first uint8, rev uint64) {
		cur, err := salesapi.DecodeOrder(curJSON)
		if err != nil {
			t.Skip()
		}
		var prev *salesapi.Order
		if p, err := salesapi.DecodeOrder(prevJSON); err == nil {
			prev = &p
			checkSelf(t, prev)
		}
		checkSelf(t, &cur)

		opt := Options{First: First(first % 4), PrevRev: rev}
		prevCopy, curCopy := copyOrNil(prev), deepCopy(&cur)
		got := Compare(prev, &cur, opt)
		if again := Compare(prev, &cur, opt); !reflect.DeepEqual(got, again) {
			t.Fatalf("not deterministic:\n%s\n%s", dump(got), dump(again))
		}
		if !reflect.DeepEqual(prev, prevCopy) || !reflect.DeepEqual(&cur, curCopy) {
			t.Fatal("Compare modified its arguments")
		}
		checkResult(t, prev, &cur, opt, got)
	})
}

func copyOrNil(o *salesapi.Order) *salesapi.Order {
	if o == nil {
		return nil
	}
	return deepCopy(o)
}

// checkSelf checks that an order compared with itself, or with a copy of
// itself, yields nothing.
func checkSelf(t *testing.T, a *salesapi.Order) {
	t.Helper()
	if cs := Compare(a, a, Options{}); cs != nil {
		t.Fatalf("Compare(a, a):\n%s", dump(cs))
	}
	if cs := Compare(a, deepCopy(a), Options{}); cs != nil {
		t.Fatalf("Compare(a, copy of a):\n%s", dump(cs))
	}
	if cs := Compare(noRaw(a), noRaw(a), Options{}); cs != nil {
		t.Fatalf("Compare(a, a) without Raw:\n%s", dump(cs))
	}
	if !Equal(a, deepCopy(a)) {
		t.Fatal("Equal(a, copy of a) is false")
	}
}

// checkResult checks the shape of a result of Compare.
func checkResult(t *testing.T, prev, cur *salesapi.Order, opt Options, got []Change) {
	t.Helper()
	if got != nil && len(got) == 0 {
		t.Fatal("empty non-nil result")
	}
	ids := map[string]bool{}
	for i, c := range got {
		if ids[c.ID] {
			t.Fatalf("repeated id %s:\n%s", c.ID, dump(got))
		}
		ids[c.ID] = true
		if c.OrderID != cur.ID {
			t.Fatalf("change of order %d, want %d", c.OrderID, cur.ID)
		}
		switch c.Type {
		case Created, Snapshot:
			if prev != nil || i != 0 {
				t.Fatalf("%s at %d with prev %v", c.Type, i, prev != nil)
			}
		case StatusChanged:
			s := c.Status
			if c.ID != fmt.Sprintf("order/%d/status/%d", cur.ID, s.ChangeID) ||
				!slices.ContainsFunc(cur.StatusChanges, func(e salesapi.StatusChange) bool {
					return e.ID == s.ChangeID && e.Status == s.To && e.CreatedAt.Equal(c.At)
				}) {
				t.Fatalf("%s does not name an entry of cur", c.ID)
			}
			if prev != nil && slices.ContainsFunc(prev.StatusChanges, func(e salesapi.StatusChange) bool { return e.ID == s.ChangeID }) {
				t.Fatalf("%s names an entry prev had", c.ID)
			}
		case PriceChanged:
			p := c.Price
			if c.ID != fmt.Sprintf("order/%d/price/%d", cur.ID, p.ChangeID) ||
				!slices.ContainsFunc(cur.PriceChanges, func(e salesapi.PriceChange) bool {
					return e.ID == p.ChangeID && e.Price == p.Price && e.CreatedAt.Equal(c.At)
				}) {
				t.Fatalf("%s does not name an entry of cur", c.ID)
			}
			if prev != nil && slices.ContainsFunc(prev.PriceChanges, func(e salesapi.PriceChange) bool { return e.ID == p.ChangeID }) {
				t.Fatalf("%s names an entry prev had", c.ID)
			}
		case Updated:
			if prev == nil || i != len(got)-1 || !c.At.IsZero() || len(c.Fields) == 0 {
				t.Fatalf("misplaced or empty Updated:\n%s", dump(got))
			}
			if !slices.IsSortedFunc(c.Fields, func(a, b Field) int { return strings.Compare(a.Path, b.Path) }) {
				t.Fatalf("fields not sorted:\n%s", dump(got))
			}
			for _, fl := range c.Fields {
				if fl.Path == keyID || fl.Path == keyStatusChanges || fl.Path == keyPriceChanges {
					t.Fatalf("excluded key %s reported", fl.Path)
				}
				if !json.Valid(fl.Before) || !json.Valid(fl.After) {
					t.Fatalf("field %s: invalid JSON %q → %q", fl.Path, fl.Before, fl.After)
				}
				cb, _ := canonical(fl.Before)
				ca, _ := canonical(fl.After)
				if bytes.Equal(cb, ca) {
					t.Fatalf("field %s reported with equal values %s", fl.Path, fl.Before)
				}
			}
		default:
			t.Fatalf("unknown type %q", c.Type)
		}
		if i > 0 && isHistory(c) && isHistory(got[i-1]) && historyOrder(got[i-1], c) > 0 {
			t.Fatalf("history out of order:\n%s", dump(got))
		}
	}
	if prev == nil {
		switch opt.First {
		case FirstNone:
			if got != nil {
				t.Fatalf("FirstNone yielded:\n%s", dump(got))
			}
		case FirstSnapshot:
			if len(got) != 1 || got[0].Type != Snapshot {
				t.Fatalf("FirstSnapshot yielded:\n%s", dump(got))
			}
		default:
			if len(got) == 0 || got[0].Type != Created || !got[0].At.Equal(cur.CreatedAt) {
				t.Fatalf("FirstCreated yielded:\n%s", dump(got))
			}
		}
	}
}

func isHistory(c Change) bool { return c.Type == StatusChanged || c.Type == PriceChanged }
