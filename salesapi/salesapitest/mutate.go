package salesapitest

import (
	"cmp"
	"slices"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// OrderSpec describes an order to create directly, as a visitor would on
// the site. Zero fields are made up: a house of the developer, a flat of it,
// the flat's catalog price, a visitor.
type OrderSpec struct {
	CreatedAt time.Time // default: now on the sandbox clock
	// OGRN is the developer the order belongs to; default the contract's
	// first. An order of a developer outside the contract exists but the
	// API never shows it (GET skips it, PATCH answers 404).
	OGRN          string
	Number        string // default "НД-000123"-style, from a counter
	ClientName    string
	ClientEmail   string
	ClientPhone   string
	ClientComment string
	Price         int64 // catalog price, roubles
	Object        *salesapi.Object
	Flat          *salesapi.Flat
}

// CreateOrder creates an order from spec, by a visitor: status NEW, its first
// statusChanges entry NEW at CreatedAt. The system will mark it UNPROCESSED
// three days after CreatedAt if it is still NEW; nothing else is planned for
// it. It returns a copy of the order.
func (s *Server) CreateOrder(spec OrderSpec) salesapi.Order {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	return copyOrder(s.createLocked(spec, now).o)
}

// CreateOrders creates n orders from the same spec — so with the same
// createdAt, to test ties — each with its own made-up visitor and flat
// unless spec sets them.
func (s *Server) CreateOrders(n int, spec OrderSpec) []salesapi.Order {
	now := s.now()
	if spec.CreatedAt.IsZero() {
		spec.CreatedAt = now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	out := make([]salesapi.Order, 0, n)
	for range n {
		out = append(out, copyOrder(s.createLocked(spec, now).o))
	}
	return out
}

// LoadOrders quickly creates n orders with made-up fields, created at even
// intervals from `from` (inclusive) to `to` (exclusive), spread over the
// contract's developers. Nothing is planned for them but the system's
// UNPROCESSED rule, which applies at once to those older than three days.
// It returns the new orders' ids in order.
func (s *Server) LoadOrders(n int, from, to time.Time) []int64 {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	ids := make([]int64, 0, n)
	step := time.Duration(0)
	if n > 0 {
		step = to.Sub(from) / time.Duration(n)
	}
	for i := range n {
		spec := OrderSpec{CreatedAt: from.Add(time.Duration(i) * step), OGRN: s.cfg.OGRNs[i%len(s.cfg.OGRNs)]}
		ids = append(ids, s.createLocked(spec, now).o.ID)
	}
	s.advanceLocked(now)
	return ids
}

func (s *Server) createLocked(spec OrderSpec, now time.Time) *order {
	r := s.dataRng
	if spec.CreatedAt.IsZero() {
		spec.CreatedAt = now
	}
	if spec.OGRN == "" {
		spec.OGRN = s.cfg.OGRNs[0]
	}
	var hs []*house
	for _, h := range s.houses {
		if h.ogrn == spec.OGRN {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		hs = s.houses
	}
	h := hs[r.IntN(len(hs))]
	flat, price := h.flat(r)
	v := newVisitor(r)
	o := salesapi.Order{Number: spec.Number, ClientName: v.name, ClientEmail: v.email, ClientPhone: v.phone,
		ClientComment: v.comment, Price: price, CreatedAt: spec.CreatedAt, Object: h.object(), Flat: flat}
	if spec.ClientName != "" {
		o.ClientName = spec.ClientName
	}
	if spec.ClientEmail != "" {
		o.ClientEmail = spec.ClientEmail
	}
	if spec.ClientPhone != "" {
		o.ClientPhone = spec.ClientPhone
	}
	if spec.ClientComment != "" {
		o.ClientComment = spec.ClientComment
	}
	if spec.Price != 0 {
		o.Price = spec.Price
	}
	if spec.Object != nil {
		o.Object = *spec.Object
	}
	if spec.Flat != nil {
		o.Flat = *spec.Flat
	}
	ord := s.st.create(o, spec.OGRN, Visitor)
	s.scheduleUnprocessed(ord)
	return ord
}

// mutate applies fn to order id at now, after the events due by now.
func (s *Server) mutate(id int64, fn func(*order, time.Time) error) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	ord := s.st.orders[id]
	if ord == nil {
		return ErrNotFound
	}
	return fn(ord, now)
}

// SetStatus changes an order's status now, as its setter would: PROGRESS to
// TERMINATED by the office (through its UI, not the API), CANCEL by the
// visitor, UNPROCESSED by the system. The status machine holds (else an
// error wrapping ErrTransition); the current status again is a no-op. It
// returns ErrNotFound for an unknown order.
func (s *Server) SetStatus(id int64, st salesapi.Status) error {
	return s.mutate(id, func(ord *order, now time.Time) error {
		_, err := s.st.setStatus(ord, st, now, setter(st))
		return err
	})
}

// SetFinalPrice sets an order's final price now, by the office, appending a
// priceChanges entry unless the price is the current one.
func (s *Server) SetFinalPrice(id int64, price int64) error {
	return s.mutate(id, func(ord *order, now time.Time) error {
		s.st.setFinalPrice(ord, price, now, Office)
		return nil
	})
}

// SetComment sets the customer's comment now, by the office.
func (s *Server) SetComment(id int64, comment string) error {
	return s.mutate(id, func(ord *order, now time.Time) error {
		s.st.setComment(ord, comment, now, Office)
		return nil
	})
}

// SetField sets any other field of an order now, by its JSON path (see
// SettableFields: "flat.floor", "object.address", "clientPhone" …): the
// visitor's fields by the visitor, the others by the office. A value of the
// wrong type is an error wrapping ErrField.
func (s *Server) SetField(id int64, path string, value any) error {
	who := Office
	switch path {
	case "clientName", "clientEmail", "clientPhone", "clientComment":
		who = Visitor
	}
	return s.mutate(id, func(ord *order, now time.Time) error {
		_, err := s.st.setField(ord, path, value, now, who)
		return err
	})
}

// Order returns a copy of the order with the given id, as it is now,
// whether or not the API would show it.
func (s *Server) Order(id int64) (salesapi.Order, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	ord := s.st.orders[id]
	if ord == nil {
		return salesapi.Order{}, false
	}
	return copyOrder(ord.o), true
}

// Orders returns copies of every order, sorted by id.
func (s *Server) Orders() []salesapi.Order {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	out := make([]salesapi.Order, 0, len(s.st.orders))
	for _, ord := range s.st.byCreated {
		out = append(out, copyOrder(ord.o))
	}
	slices.SortFunc(out, func(a, b salesapi.Order) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// OrderJSON returns the order as the API would write it (with the extra
// fields, if any).
func (s *Server) OrderJSON(id int64) ([]byte, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	ord := s.st.orders[id]
	if ord == nil {
		return nil, false
	}
	return orderJSON(ord.o, s.extra), true
}
