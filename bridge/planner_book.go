package bridge

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// The book is the planner's picture of the tracked orders: for each order
// its createdAt, its status as last seen, and when a call last proved it
// current. It is kept in memory, in the two orders the API can be read in —
// all orders by (createdAt, id), and each status's orders by (createdAt, id)
// — so that the planner can see which orders a call would cover, and what
// an answer proves about the orders it does not contain. It is rebuilt from
// the state file at start (the state is the truth; the book is a plan).

// listAll is the index of the unfiltered list; 0–7 are the statuses' lists.
const (
	listAll  = numStatuses
	numLists = numStatuses + 1
)

// numStatuses is the number of statuses of the spec.
const numStatuses = 8

// entry is what the planner knows of one tracked order.
type entry struct {
	id        int64
	createdAt time.Time
	status    salesapi.Status // as last seen
	// seen is when a call last proved the order's state current: the clock
	// time of the call whose answer held the order, or whose answer showed
	// that it had not changed status.
	seen time.Time
	// since is when the order entered its status (its last statusChanges
	// entry); zero when not known.
	since time.Time
	// hist is how many statusChanges entries the model has accounted.
	hist int
	// moved is set when an answer proved that the order left the list of
	// its status: it changed, and its new status is not known yet. A moved
	// order is in the unfiltered list only.
	moved bool
	// notIn has bit s set when a complete answer for status s showed that
	// the moved order is not there.
	notIn uint16
}

// compareEntries orders entries by (createdAt, id), as the API's
// oldest-first answers and the state's status index do.
func compareEntries(a, b *entry) int {
	if c := a.createdAt.Compare(b.createdAt); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// book is the planner's index of the tracked orders. Not safe for
// concurrent use: the poller owns it.
type book struct {
	ids   map[int64]*entry
	lists [numLists][]*entry // each by (createdAt, id)
	moved map[int64]*entry   // the entries marked moved
}

func newBook() *book { return &book{ids: map[int64]*entry{}, moved: map[int64]*entry{}} }

// list returns list l (a status, or listAll).
func (b *book) list(l int) []*entry { return b.lists[l] }

// len returns how many orders are tracked.
func (b *book) len() int { return len(b.lists[listAll]) }

// search returns the position in list l of the first entry at or after
// (t, id).
func (b *book) search(l int, t time.Time, id int64) int {
	lst := b.lists[l]
	return sort.Search(len(lst), func(i int) bool {
		e := lst[i]
		return !e.createdAt.Before(t) && (e.createdAt.After(t) || e.id >= id)
	})
}

// from returns the position in list l of the first entry created at or
// after t.
func (b *book) from(l int, t time.Time) int {
	lst := b.lists[l]
	return sort.Search(len(lst), func(i int) bool { return !lst[i].createdAt.Before(t) })
}

func (b *book) insert(l int, e *entry) {
	i := b.search(l, e.createdAt, e.id)
	b.lists[l] = slices.Insert(b.lists[l], i, e)
}

func (b *book) remove(l int, e *entry) {
	i := b.search(l, e.createdAt, e.id)
	if i < len(b.lists[l]) && b.lists[l][i] == e {
		b.lists[l] = slices.Delete(b.lists[l], i, i+1)
	}
}

// statusList returns the list of status st, or -1 for a status outside the
// spec (such an order is tracked in the unfiltered list only).
func statusList(st salesapi.Status) int {
	if st.Valid() {
		return int(st)
	}
	return -1
}

// observe records an order as an answer gave it at clock time at. It
// returns the entry and the status the book had for it (-1 if new).
func (b *book) observe(o *salesapi.Order, at time.Time) (*entry, salesapi.Status) {
	e, ok := b.ids[o.ID]
	prev := salesapi.Status(-1)
	if !ok {
		e = &entry{id: o.ID, createdAt: o.CreatedAt, status: o.Status}
		b.ids[o.ID] = e
		b.insert(listAll, e)
		if l := statusList(o.Status); l >= 0 {
			b.insert(l, e)
		}
	} else {
		prev = e.status
		if !e.createdAt.Equal(o.CreatedAt) {
			// The API changed an order's createdAt: re-file it.
			b.unfile(e)
			b.remove(listAll, e)
			e.createdAt = o.CreatedAt
			b.insert(listAll, e)
			e.moved = true // file it again below
		}
		if e.moved || e.status != o.Status {
			if !e.moved {
				b.unfile(e)
			}
			e.status = o.Status
			if l := statusList(o.Status); l >= 0 {
				b.insert(l, e)
			}
		}
	}
	e.moved, e.notIn = false, 0
	delete(b.moved, e.id)
	if at.After(e.seen) {
		e.seen = at
	}
	if n := len(o.StatusChanges); n > 0 {
		e.since = o.StatusChanges[n-1].CreatedAt
	}
	return e, prev
}

// unfile takes e out of its status's list.
func (b *book) unfile(e *entry) {
	if l := statusList(e.status); l >= 0 {
		b.remove(l, e)
	}
}

// markMoved records that e left the list of its status.
func (b *book) markMoved(e *entry) {
	if e.moved {
		return
	}
	b.unfile(e)
	e.moved = true
	b.moved[e.id] = e
}

// drop forgets e: the API no longer lists it.
func (b *book) drop(e *entry) {
	if !e.moved {
		b.unfile(e)
	}
	b.remove(listAll, e)
	delete(b.ids, e.id)
	delete(b.moved, e.id)
}

// prune forgets the orders created before start: they left the tracked
// window.
func (b *book) prune(start time.Time) {
	all := b.lists[listAll]
	n := 0
	for n < len(all) && all[n].createdAt.Before(start) {
		delete(b.ids, all[n].id)
		delete(b.moved, all[n].id)
		n++
	}
	if n == 0 {
		return
	}
	b.lists[listAll] = slices.Delete(all, 0, n)
	for l := range numStatuses {
		lst := b.lists[l]
		k := 0
		for k < len(lst) && lst[k].createdAt.Before(start) {
			k++
		}
		b.lists[l] = slices.Delete(lst, 0, k)
	}
}

// load fills the book from a stored snapshot of an order (at start).
func (b *book) load(o state.Order) *entry {
	if e, ok := b.ids[o.ID]; ok {
		return e
	}
	e := &entry{id: o.ID, createdAt: o.CreatedAt, status: o.Status, seen: o.SeenAt}
	b.ids[o.ID] = e
	b.lists[listAll] = append(b.lists[listAll], e)
	if l := statusList(o.Status); l >= 0 {
		b.lists[l] = append(b.lists[l], e)
	}
	return e
}

// sortAll sorts every list, after load.
func (b *book) sortAll() {
	for l := range b.lists {
		slices.SortFunc(b.lists[l], compareEntries)
	}
}

// oldestSeen returns, per status, the oldest seen time among the orders
// last seen in that status (moved orders count under the status they left):
// how stale the stalest order of each status may be.
func (b *book) oldestSeen() [numStatuses]time.Time {
	var out [numStatuses]time.Time
	for _, e := range b.lists[listAll] {
		l := statusList(e.status)
		if l < 0 {
			continue
		}
		if out[l].IsZero() || e.seen.Before(out[l]) {
			out[l] = e.seen
		}
	}
	return out
}
