package diff

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/salesbridge/salesbridge/salesapi"
)

// updatedIDOf is the id of the single Updated change of prev → cur.
func updatedIDOf(t *testing.T, prev, cur any, rev uint64) string {
	t.Helper()
	p, c := asOrder(t, prev), asOrder(t, cur)
	cs := Compare(p, c, Options{PrevRev: rev})
	if len(cs) != 1 || cs[0].Type != Updated {
		t.Fatalf("want one Updated change, got:\n%s", dump(cs))
	}
	return cs[0].ID
}

func asOrder(t *testing.T, v any) *salesapi.Order {
	t.Helper()
	switch v := v.(type) {
	case string:
		return decode(t, v)
	case *salesapi.Order:
		return v
	}
	t.Fatalf("asOrder(%T)", v)
	return nil
}

func TestUpdatedIDs(t *testing.T) {
	a := order(t, set("comment", "A"))
	b := order(t, set("comment", "B"))

	t.Run("the same transition has the same id", func(t *testing.T) {
		if x, y := updatedIDOf(t, a, b, 3), updatedIDOf(t, order(t, set("comment", "A")), order(t, set("comment", "B")), 3); x != y {
			t.Errorf("%s != %s", x, y)
		}
	})
	t.Run("formatting does not change the id", func(t *testing.T) {
		x := updatedIDOf(t,
			`{"id":1,"createdAt":"2024-11-01T12:08:58.807Z","comment":"A","flat":{"floor":3,"number":"1"}}`,
			`{"id":1,"createdAt":"2024-11-01T12:08:58.807Z","comment":"B","flat":{"floor":3,"number":"1"}}`, 0)
		y := updatedIDOf(t,
			`{"flat":{"number":"1","floor":3}, "comment":"\u0041","createdAt":"2024-11-01T12:08:58.807Z","id":1}`,
			`{ "comment" : "B", "id":1, "flat":{"number":"1","floor":3},"createdAt":"2024-11-01T12:08:58.807Z"}`, 0)
		if x != y {
			t.Errorf("%s != %s", x, y)
		}
	})
	t.Run("oscillation A→B→A→B gets distinct ids", func(t *testing.T) {
		ids := []string{updatedIDOf(t, a, b, 0), updatedIDOf(t, b, a, 1), updatedIDOf(t, a, b, 2), updatedIDOf(t, b, a, 3)}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("repeated id %s in %v", id, ids)
			}
			seen[id] = true
		}
		// The content part names the transition; the revision tells repeats apart.
		if hashOf(ids[0]) != hashOf(ids[2]) || hashOf(ids[0]) == hashOf(ids[1]) {
			t.Errorf("content hashes: %v", ids)
		}
	})
	t.Run("after a lost state file, another transition at the same revision gets another id", func(t *testing.T) {
		c := order(t, set("comment", "C"))
		if x, y := updatedIDOf(t, a, b, 0), updatedIDOf(t, a, c, 0); x == y {
			t.Errorf("both %s", x)
		}
		if x, y := updatedIDOf(t, a, b, 0), updatedIDOf(t, c, b, 0); x == y {
			t.Errorf("both %s", x)
		}
	})
	t.Run("before and after are not interchangeable", func(t *testing.T) {
		if x, y := updatedIDOf(t, a, b, 0), updatedIDOf(t, b, a, 0); x == y {
			t.Errorf("both %s", x)
		}
	})
	t.Run("a change of the history alone changes the id", func(t *testing.T) {
		x := updatedIDOf(t, a, b, 0)
		y := updatedIDOf(t, a, order(t, set("comment", "B"), hist(h1, h0)), 0)
		if x == y {
			t.Errorf("both %s", x)
		}
	})
}

// hashOf is the content part of an Updated or Snapshot id.
func hashOf(id string) string {
	return id[strings.LastIndexAny(id, "/-")+1:]
}

func TestSnapshotIDs(t *testing.T) {
	snap := func(o *salesapi.Order) string {
		cs := Compare(nil, o, Options{First: FirstSnapshot})
		if len(cs) != 1 {
			t.Fatalf("want one change, got:\n%s", dump(cs))
		}
		return cs[0].ID
	}
	base := order(t)
	if x, y := snap(base), snap(order(t)); x != y {
		t.Errorf("same content: %s != %s", x, y)
	}
	if x, y := snap(base), snap(order(t, set("comment", "x"))); x == y {
		t.Errorf("other content, same id %s", x)
	}
	if x, y := snap(base), snap(order(t, set("extra", nil))); x == y {
		t.Errorf("an added null key is other content, same id %s", x)
	}

	// The hash is the SHA-256 of the canonical document, computed here
	// independently: json.Marshal of the map writes sorted keys and integer
	// literals, which is the canonical form of this order.
	doc, err := json.Marshal(baseDoc())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(doc)
	want := "order/481516/snapshot/" + hex.EncodeToString(sum[:8])
	if got := snap(base); got != want {
		t.Errorf("snapshot id %s, want %s", got, want)
	}
}

// TestGoldenIDs pins the id scheme: ids already published must be produced
// again after an upgrade, or JetStream would not drop a re-publish. The two
// hashes were checked independently (Python: sha256 of json.dumps with
// sort_keys and compact separators, NUL between the documents).
func TestGoldenIDs(t *testing.T) {
	prev := decode(t, `{"id":42,"status":1,"createdAt":"2024-11-01T12:08:58.807Z","comment":"","price":6100000,"finalPrice":null,`+
		`"statusChanges":[{"id":1,"status":0,"createdAt":"2024-11-01T12:08:58.807Z"},{"id":2,"status":1,"createdAt":"2024-11-01T13:00:00.000Z"}],"priceChanges":[]}`)
	cur := decode(t, `{"id":42,"status":2,"createdAt":"2024-11-01T12:08:58.807Z","comment":"ok","price":6100000,"finalPrice":6000000,`+
		`"statusChanges":[{"id":1,"status":0,"createdAt":"2024-11-01T12:08:58.807Z"},{"id":2,"status":1,"createdAt":"2024-11-01T13:00:00.000Z"},{"id":3,"status":2,"createdAt":"2024-11-02T09:00:00.000Z"}],`+
		`"priceChanges":[{"id":7,"price":6000000,"createdAt":"2024-11-02T09:30:00.000Z"}]}`)
	var got []string
	for _, c := range Compare(nil, cur, Options{First: FirstSnapshot}) {
		got = append(got, c.ID)
	}
	for _, c := range Compare(nil, cur, Options{First: FirstCreated}) {
		got = append(got, c.ID)
	}
	for _, c := range Compare(prev, cur, Options{PrevRev: 6}) {
		got = append(got, c.ID)
	}
	want := []string{
		"order/42/snapshot/922efc35d7d35baf",
		"order/42/created", "order/42/status/2", "order/42/status/3", "order/42/price/7",
		"order/42/status/3", "order/42/price/7", "order/42/updated/7-a3ed166193b2cd26",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ids:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
