package diff

import (
	"cmp"
	"slices"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Options tunes Compare.
type Options struct {
	// First says what an order never seen before (prev nil) yields.
	First First
	// PrevRev is the store's revision of prev: how many times its stored
	// snapshot has changed. PrevRev+1 is part of the id of an Updated change,
	// so that a transition repeated later gets a new id (see the package
	// documentation). It is not used when prev is nil.
	PrevRev uint64
}

// Compare returns the changes that turn prev into cur, in the order they
// happened: Created or Snapshot first, then the StatusChanged and
// PriceChanged changes by time, then at most one Updated. prev nil means the
// order was never seen; opt.First then says what it yields. Compare returns
// nil when nothing changed, and when cur is nil (the API never deletes an
// order; a missing order is not a change). It never modifies its arguments.
//
// prev and cur are meant to be two versions of one order: the ids of the
// changes use cur.ID, and the key "id" is never compared.
func Compare(prev, cur *salesapi.Order, opt Options) []Change {
	if cur == nil {
		return nil
	}
	if prev == nil {
		return firstSeen(cur, opt.First)
	}
	st := statusHistory(cur.ID, prev.StatusChanges, cur.StatusChanges, true)
	pr := priceHistory(cur.ID, prev.PriceChanges, cur.PriceChanges, true)
	out := mergeHistory(nil, st.changes, pr.changes)
	explained := prev.Status
	if len(st.changes) > 0 {
		explained = salesapi.Status(st.last)
	}
	if u, ok := updated(prev, cur, opt.PrevRev, explained, pr.lastNew()); ok {
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// firstSeen is Compare for an order never seen before.
func firstSeen(cur *salesapi.Order, first First) []Change {
	switch first {
	case FirstNone:
		return nil
	case FirstSnapshot:
		return []Change{{ID: snapshotID(cur), Type: Snapshot, OrderID: cur.ID}}
	default: // FirstCreated, and any value the package does not define
		st := statusHistory(cur.ID, nil, cur.StatusChanges, false)
		pr := priceHistory(cur.ID, nil, cur.PriceChanges, false)
		out := make([]Change, 0, 1+len(st.changes)+len(pr.changes))
		out = append(out, Change{ID: orderPrefix(cur.ID) + "created", Type: Created, OrderID: cur.ID, At: cur.CreatedAt})
		return mergeHistory(out, st.changes, pr.changes)
	}
}

// mergeHistory appends the status and price changes to out, interleaved by
// time; at the same time a status change comes before a price change, and
// changes of one kind come by their entry id.
func mergeHistory(out, status, price []Change) []Change {
	if len(status)+len(price) == 0 {
		return out
	}
	start := len(out)
	out = append(out, status...)
	out = append(out, price...)
	slices.SortStableFunc(out[start:], historyOrder)
	return out
}

func historyOrder(a, b Change) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if a.Type != b.Type {
		if a.Type == StatusChanged {
			return -1
		}
		return 1
	}
	return cmp.Compare(entryID(a), entryID(b))
}

// entryID is the history entry id of a StatusChanged or PriceChanged change.
func entryID(c Change) int64 {
	switch {
	case c.Status != nil:
		return c.Status.ChangeID
	case c.Price != nil:
		return c.Price.ChangeID
	}
	return 0
}

// Equal reports whether a and b are the same order document: their JSON
// (Raw, or the typed fields when Raw is nil) is byte-equal or equal in
// canonical form (keys sorted, insignificant whitespace and string escapes
// normalised, numbers kept as written). It is stricter than "Compare yields
// nothing": a key absent on one side and null on the other makes a and b
// unequal. Two nil orders are equal.
func Equal(a, b *salesapi.Order) bool {
	if a == nil || b == nil {
		return a == b
	}
	ra, rb := document(a), document(b)
	if string(ra) == string(rb) {
		return true
	}
	ma, mb := members(a, ra), members(b, rb)
	ca, _ := appendMembers(nil, ma)
	cb, _ := appendMembers(nil, mb)
	return string(ca) == string(cb)
}
