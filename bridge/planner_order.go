package bridge

import (
	"math"
	"slices"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// What the answers say about the server's ordering, and keyset paging for
// when it is oldest first.

// trustOrder is the evidence (natural log of the odds against chance)
// beyond which a server ordering is trusted: one page of 14 distinct
// createdAt values in order is enough.
const trustOrder = 20.7

// serverOrder is what the planner has learnt about the order of results.
type serverOrder int

const (
	orderUnknown     serverOrder = iota
	orderOldestFirst             // by createdAt ascending
	orderNewestFirst             // by createdAt descending
	orderNone                    // no order: only incomplete pages are worth reading whole
)

func (o serverOrder) String() string {
	switch o {
	case orderOldestFirst:
		return "oldest-first"
	case orderNewestFirst:
		return "newest-first"
	case orderNone:
		return "unordered"
	}
	return "unknown"
}

// orderEvidence accumulates what the answers say about the ordering: for
// each page whose k distinct createdAt values are in ascending (descending)
// order, ln k! — the log odds that a random order would not have done that.
// One page in neither order settles it: there is no order.
type orderEvidence struct {
	Asc      float64 `json:"asc,omitempty"`
	Desc     float64 `json:"desc,omitempty"`
	Unsorted bool    `json:"unsorted,omitempty"`
}

func (ev *orderEvidence) observe(page []salesapi.Order) {
	asc, desc := sortedAsc(page), sortedDesc(page)
	k := distinctTimes(page)
	if k < 2 {
		return
	}
	lf, _ := math.Lgamma(float64(k + 1))
	switch {
	case asc:
		ev.Asc += lf
	case desc:
		ev.Desc += lf
	default:
		ev.Unsorted = true
	}
}

func (ev orderEvidence) order() serverOrder {
	switch {
	case ev.Unsorted || ev.Asc > 0 && ev.Desc > 0:
		return orderNone
	case ev.Asc >= trustOrder:
		return orderOldestFirst
	case ev.Desc >= trustOrder:
		return orderNewestFirst
	}
	return orderUnknown
}

func sortedAsc(page []salesapi.Order) bool {
	for i := 1; i < len(page); i++ {
		if page[i].CreatedAt.Before(page[i-1].CreatedAt) {
			return false
		}
	}
	return true
}

func sortedDesc(page []salesapi.Order) bool {
	for i := 1; i < len(page); i++ {
		if page[i].CreatedAt.After(page[i-1].CreatedAt) {
			return false
		}
	}
	return true
}

func distinctTimes(page []salesapi.Order) int {
	ts := make([]time.Time, 0, len(page))
	for i := range page {
		ts = append(ts, page[i].CreatedAt)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return len(slices.CompactFunc(ts, func(a, b time.Time) bool { return a.Equal(b) }))
}

// keyset is a position in createdAt order: orders created after Begin, and
// those at Begin whose ids are not in Seen, are still to come.
type keyset struct {
	Begin time.Time `json:"begin"`
	Seen  []int64   `json:"seen,omitempty"`
}

// advance moves k past a page that the server answered oldest first. It
// reports whether the page held any order not already behind k; a full page
// without one means more than a page of orders share one instant.
func (k keyset) advance(page []salesapi.Order) (keyset, bool) {
	newest := k.Begin
	progress := false
	for i := range page {
		o := &page[i]
		if o.CreatedAt.After(newest) {
			newest = o.CreatedAt
		}
		if o.CreatedAt.After(k.Begin) || (o.CreatedAt.Equal(k.Begin) && !slices.Contains(k.Seen, o.ID)) {
			progress = true
		}
	}
	next := keyset{Begin: newest}
	if newest.Equal(k.Begin) {
		next.Seen = slices.Clone(k.Seen)
	}
	for i := range page {
		if page[i].CreatedAt.Equal(newest) && !slices.Contains(next.Seen, page[i].ID) {
			next.Seen = append(next.Seen, page[i].ID)
		}
	}
	slices.Sort(next.Seen)
	return next, progress
}
