package salesapitest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Errors of the direct mutation methods.
var (
	// ErrNotFound: no order has the given id.
	ErrNotFound = errors.New("order not found")
	// ErrTransition: the status machine does not allow the change (see
	// CanTransition).
	ErrTransition = errors.New("status transition not allowed")
	// ErrField: the field cannot be set, or not to the given value.
	ErrField = errors.New("field cannot be set")
)

// order is an order as the sandbox keeps it: the API's view plus the
// developer (OGRN) it belongs to, which the API does not show.
type order struct {
	o    salesapi.Order
	ogrn string
}

// store holds the orders and the ground truth of their changes. It does no
// locking: the Server's mutex guards it.
type store struct {
	orders    map[int64]*order
	byCreated []*order // by (createdAt, id) once sorted (see sorted)
	unsorted  bool

	// Sequences, like a database's: strictly increasing, never reused.
	nextOrder, nextNumber, nextStatusEntry, nextPriceEntry int64

	changes  []Change
	onChange func(Change) // called with each change as it is recorded
}

func newStore(seed int64) *store {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed1d5))
	return &store{
		orders:          make(map[int64]*order),
		nextOrder:       480000 + r.Int64N(20000),
		nextNumber:      1,
		nextStatusEntry: 9000000 + r.Int64N(100000),
		nextPriceEntry:  700000 + r.Int64N(100000),
	}
}

func (st *store) record(c Change) {
	c.Seq = int64(len(st.changes)) + 1
	st.changes = append(st.changes, c)
	if st.onChange != nil {
		st.onChange(c)
	}
}

// create adds an order built from o: id, number, status and histories are
// assigned here; the first statusChanges entry is NEW at o.CreatedAt.
func (st *store) create(o salesapi.Order, ogrn string, who Actor) *order {
	o.ID = st.nextOrder
	st.nextOrder++
	if o.Number == "" {
		o.Number = fmt.Sprintf("НД-%06d", st.nextNumber)
		st.nextNumber++
	}
	o.Status = salesapi.StatusNew
	o.FinalPrice = nil
	o.CreatedAt = o.CreatedAt.UTC().Truncate(time.Millisecond)
	o.Raw = nil
	entry := st.nextStatusEntry
	st.nextStatusEntry++
	o.StatusChanges = []salesapi.StatusChange{{ID: entry, Status: salesapi.StatusNew, CreatedAt: o.CreatedAt}}
	o.PriceChanges = nil
	ord := &order{o: o, ogrn: ogrn}
	st.orders[o.ID] = ord
	st.insert(ord)
	st.record(Change{OrderID: o.ID, Kind: KindCreated, EntryID: entry, From: json.RawMessage("null"),
		To: rawInt(int64(salesapi.StatusNew)), At: o.CreatedAt, Who: who})
	return ord
}

func before(a, b *order) bool {
	if !a.o.CreatedAt.Equal(b.o.CreatedAt) {
		return a.o.CreatedAt.Before(b.o.CreatedAt)
	}
	return a.o.ID < b.o.ID
}

// insert appends ord to byCreated; an order created out of time order marks
// it for sorting before the next use (loading many orders into the past
// costs one sort, not a move per order).
func (st *store) insert(ord *order) {
	n := len(st.byCreated)
	if n > 0 && !before(st.byCreated[n-1], ord) {
		st.unsorted = true
	}
	st.byCreated = append(st.byCreated, ord)
}

// sorted returns byCreated sorted by (createdAt, id).
func (st *store) sorted() []*order {
	if st.unsorted {
		slices.SortFunc(st.byCreated, func(a, b *order) int {
			if c := a.o.CreatedAt.Compare(b.o.CreatedAt); c != 0 {
				return c
			}
			return cmp.Compare(a.o.ID, b.o.ID)
		})
		st.unsorted = false
	}
	return st.byCreated
}

// setStatus moves ord to status to, appending a statusChanges entry. It
// reports false, without error, when ord already has that status.
func (st *store) setStatus(ord *order, to salesapi.Status, at time.Time, who Actor) (bool, error) {
	from := ord.o.Status
	if from == to {
		return false, nil
	}
	if !CanTransition(from, to) {
		return false, fmt.Errorf("%w: %v to %v", ErrTransition, from, to)
	}
	entry := st.nextStatusEntry
	st.nextStatusEntry++
	ord.o.Status = to
	ord.o.StatusChanges = append(ord.o.StatusChanges, salesapi.StatusChange{ID: entry, Status: to, CreatedAt: at})
	st.record(Change{OrderID: ord.o.ID, Kind: KindStatus, Field: "status", EntryID: entry,
		From: rawInt(int64(from)), To: rawInt(int64(to)), At: at, Who: who})
	return true, nil
}

// setFinalPrice sets ord's final price, appending a priceChanges entry. A
// price equal to the current one changes nothing.
func (st *store) setFinalPrice(ord *order, price int64, at time.Time, who Actor) bool {
	old := ord.o.FinalPrice
	if old != nil && *old == price {
		return false
	}
	entry := st.nextPriceEntry
	st.nextPriceEntry++
	p := price
	ord.o.FinalPrice = &p
	ord.o.PriceChanges = append(ord.o.PriceChanges, salesapi.PriceChange{ID: entry, Price: price, CreatedAt: at})
	from := json.RawMessage("null")
	if old != nil {
		from = rawInt(*old)
	}
	st.record(Change{OrderID: ord.o.ID, Kind: KindPrice, Field: "finalPrice", EntryID: entry,
		From: from, To: rawInt(price), At: at, Who: who})
	return true
}

// setComment sets the customer's comment; the same comment changes nothing.
func (st *store) setComment(ord *order, c string, at time.Time, who Actor) bool {
	if ord.o.Comment == c {
		return false
	}
	from := ord.o.Comment
	ord.o.Comment = c
	st.record(Change{OrderID: ord.o.ID, Kind: KindComment, Field: "comment",
		From: rawJSON(from), To: rawJSON(c), At: at, Who: who})
	return true
}

// Fields settable with SetField, by JSON path.
var (
	stringFields = map[string]func(*salesapi.Order) *string{
		"number":        func(o *salesapi.Order) *string { return &o.Number },
		"clientName":    func(o *salesapi.Order) *string { return &o.ClientName },
		"clientEmail":   func(o *salesapi.Order) *string { return &o.ClientEmail },
		"clientPhone":   func(o *salesapi.Order) *string { return &o.ClientPhone },
		"clientComment": func(o *salesapi.Order) *string { return &o.ClientComment },
		"object.name":   func(o *salesapi.Order) *string { return &o.Object.Name },
		"object.address": func(o *salesapi.Order) *string {
			return &o.Object.Address
		},
		"flat.id_ods":   func(o *salesapi.Order) *string { return &o.Flat.IDODS },
		"flat.number":   func(o *salesapi.Order) *string { return &o.Flat.Number },
		"flat.entrance": func(o *salesapi.Order) *string { return &o.Flat.Entrance },
	}
	intFields = map[string]func(*salesapi.Order) *int64{
		"price": func(o *salesapi.Order) *int64 { return &o.Price },
		"object.externalId": func(o *salesapi.Order) *int64 {
			return &o.Object.ExternalID
		},
		"flat.id":    func(o *salesapi.Order) *int64 { return &o.Flat.ID },
		"flat.floor": func(o *salesapi.Order) *int64 { return &o.Flat.Floor },
	}
)

// SettableFields lists the JSON paths SetField accepts.
func SettableFields() []string {
	var out []string
	for k := range stringFields {
		out = append(out, k)
	}
	for k := range intFields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// setField sets a field other than status, finalPrice and comment. The same
// value changes nothing.
func (st *store) setField(ord *order, path string, value any, at time.Time, who Actor) (bool, error) {
	raw, err := json.Marshal(value)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrField, path, err)
	}
	if f, ok := stringFields[path]; ok {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return false, fmt.Errorf("%w: %s takes a string", ErrField, path)
		}
		p := f(&ord.o)
		if *p == v {
			return false, nil
		}
		from := *p
		*p = v
		st.record(Change{OrderID: ord.o.ID, Kind: KindField, Field: path, From: rawJSON(from), To: rawJSON(v), At: at, Who: who})
		return true, nil
	}
	if f, ok := intFields[path]; ok {
		var v int64
		if err := json.Unmarshal(raw, &v); err != nil {
			return false, fmt.Errorf("%w: %s takes an integer", ErrField, path)
		}
		p := f(&ord.o)
		if *p == v {
			return false, nil
		}
		from := *p
		*p = v
		st.record(Change{OrderID: ord.o.ID, Kind: KindField, Field: path, From: rawInt(from), To: rawInt(v), At: at, Who: who})
		return true, nil
	}
	return false, fmt.Errorf("%w: unknown or not settable field %q (see SettableFields)", ErrField, path)
}

// listQuery is a validated GET /external/orders.
type listQuery struct {
	begin  time.Time
	limit  int
	ogrns  map[string]bool // never empty: the contract's developers by default
	status *salesapi.Status
}

func (q listQuery) match(ord *order) bool {
	if !q.ogrns[ord.ogrn] {
		return false
	}
	return q.status == nil || ord.o.Status == *q.status
}

// list returns the orders q selects, in the given ordering, at most q.limit.
func (st *store) list(q listQuery, ordering Ordering, rng *rand.Rand) []*order {
	all := st.sorted()
	start := sort.Search(len(all), func(i int) bool { return !all[i].o.CreatedAt.Before(q.begin) })
	var out []*order
	switch ordering {
	case NewestFirst:
		for i := len(all) - 1; i >= start && len(out) < q.limit; i-- {
			if ord := all[i]; q.match(ord) {
				out = append(out, ord)
			}
		}
	case Shuffled:
		for _, ord := range all[start:] {
			if q.match(ord) {
				out = append(out, ord)
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		if len(out) > q.limit {
			out = out[:q.limit]
		}
	default:
		for _, ord := range all[start:] {
			if len(out) >= q.limit {
				break
			}
			if q.match(ord) {
				out = append(out, ord)
			}
		}
	}
	return out
}

// copyOrder returns a deep copy of o, safe to hand out.
func copyOrder(o salesapi.Order) salesapi.Order {
	if o.FinalPrice != nil {
		p := *o.FinalPrice
		o.FinalPrice = &p
	}
	o.StatusChanges = append([]salesapi.StatusChange(nil), o.StatusChanges...)
	o.PriceChanges = append([]salesapi.PriceChange(nil), o.PriceChanges...)
	o.Raw = nil
	return o
}
