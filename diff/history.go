package diff

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// entry is one history entry, of statusChanges or of priceChanges.
type entry struct {
	id  int64
	at  time.Time
	val int64 // the status, or the price
}

// learned is what Compare learned from one history array of cur.
type learned struct {
	changes []Change // one per new entry, in the sorted history's order
	last    int64    // val of the last entry of the sorted history; set when changes is not empty
}

// lastNew is the price of the latest new price entry, nil if there is none.
func (l learned) lastNew() *int64 {
	if len(l.changes) == 0 {
		return nil
	}
	return &l.changes[len(l.changes)-1].Price.Price
}

// statusHistory returns one StatusChanged for every entry of cur that prev
// does not have, except the creation record (the first sorted entry). seen
// is false for an order never seen before: then every entry is new.
func statusHistory(orderID int64, prev, cur []salesapi.StatusChange, seen bool) learned {
	statusID := func(c *salesapi.StatusChange) int64 { return c.ID }
	if seen && !hasNew(prev, cur, statusID) {
		return learned{}
	}
	h := make([]entry, len(cur))
	for i, c := range cur {
		h[i] = entry{c.ID, c.CreatedAt, int64(c.Status)}
	}
	sorted, fresh := newEntries(idsOf(prev, statusID), h)
	var l learned
	for _, i := range fresh {
		if i == 0 {
			continue // the creation record
		}
		e := sorted[i]
		l.changes = append(l.changes, Change{
			ID:      orderPrefix(orderID) + "status/" + strconv.FormatInt(e.id, 10),
			Type:    StatusChanged,
			OrderID: orderID,
			At:      e.at,
			Status:  &StatusTransition{ChangeID: e.id, From: salesapi.Status(sorted[i-1].val), To: salesapi.Status(e.val)},
		})
	}
	if len(sorted) > 0 {
		l.last = sorted[len(sorted)-1].val
	}
	return l
}

// priceHistory returns one PriceChanged for every entry of cur that prev
// does not have, the first sorted entry included. seen is as for
// statusHistory.
func priceHistory(orderID int64, prev, cur []salesapi.PriceChange, seen bool) learned {
	priceID := func(c *salesapi.PriceChange) int64 { return c.ID }
	if seen && !hasNew(prev, cur, priceID) {
		return learned{}
	}
	h := make([]entry, len(cur))
	for i, c := range cur {
		h[i] = entry{c.ID, c.CreatedAt, c.Price}
	}
	sorted, fresh := newEntries(idsOf(prev, priceID), h)
	var l learned
	for _, i := range fresh {
		e := sorted[i]
		t := &PriceTransition{ChangeID: e.id, Price: e.val}
		if i > 0 {
			p := sorted[i-1].val
			t.PreviousPrice = &p
		}
		l.changes = append(l.changes, Change{
			ID:      orderPrefix(orderID) + "price/" + strconv.FormatInt(e.id, 10),
			Type:    PriceChanged,
			OrderID: orderID,
			At:      e.at,
			Price:   t,
		})
	}
	if len(sorted) > 0 {
		l.last = sorted[len(sorted)-1].val
	}
	return l
}

// scanLimit bounds len(prev)*len(cur) for which hasNew compares every pair
// instead of building a set: histories are a handful of entries, and the
// unchanged path should not allocate.
const scanLimit = 256

// hasNew reports whether cur has an entry whose id prev does not have. It
// does not allocate for histories of usual length.
func hasNew[T any](prev, cur []T, id func(*T) int64) bool {
	if len(prev)*len(cur) > scanLimit {
		set := idsOf(prev, id)
		for i := range cur {
			if _, ok := set[id(&cur[i])]; !ok {
				return true
			}
		}
		return false
	}
next:
	for i := range cur {
		want := id(&cur[i])
		for j := range prev {
			if id(&prev[j]) == want {
				continue next
			}
		}
		return true
	}
	return false
}

func idsOf[T any](h []T, id func(*T) int64) map[int64]struct{} {
	set := make(map[int64]struct{}, len(h))
	for i := range h {
		set[id(&h[i])] = struct{}{}
	}
	return set
}

// newEntries sorts h by (createdAt, id), drops repeated ids (keeping the
// first after sorting) and returns the result with the indexes, in it, of
// the entries whose id is not in prev. h is sorted in place.
//
// The value is the last sort key, so that the result does not depend on the
// order of the input even for two entries with one id and one time.
func newEntries(prev map[int64]struct{}, h []entry) (sorted []entry, fresh []int) {
	slices.SortFunc(h, func(a, b entry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		return cmp.Compare(a.val, b.val)
	})
	seen := make(map[int64]struct{}, len(h))
	sorted = h[:0]
	for _, e := range h {
		if _, dup := seen[e.id]; dup {
			continue
		}
		seen[e.id] = struct{}{}
		if _, old := prev[e.id]; !old {
			fresh = append(fresh, len(sorted))
		}
		sorted = append(sorted, e)
	}
	return sorted, fresh
}
