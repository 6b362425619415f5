package salesapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Order is a consultation request as the API returns it (spec §6.3, table 5).
//
// Decoding is tolerant: null and missing optional fields are zero values,
// numbers may arrive as JSON strings, and prices may be written as integral
// floats (6.1e6). It is strict where a wrong guess would corrupt the bridge's
// view: an order without an id or a parsable createdAt is an error, never a
// half-filled value. Raw keeps the order exactly as received (compacted), so
// fields the API adds later pass through to consumers untouched.
type Order struct {
	ID            int64          `json:"id"`
	Number        string         `json:"number"`
	Status        Status         `json:"status"`
	ClientName    string         `json:"clientName"`    // personal data
	ClientEmail   string         `json:"clientEmail"`   // personal data
	ClientPhone   string         `json:"clientPhone"`   // personal data
	ClientComment string         `json:"clientComment"` // the visitor's comment, optional
	Comment       string         `json:"comment"`       // the customer's comment
	Price         int64          `json:"price"`         // catalog price when ordered, roubles
	FinalPrice    *int64         `json:"finalPrice"`    // sale price set by the customer; nil if unset
	CreatedAt     time.Time      `json:"createdAt"`
	Object        Object         `json:"object"`
	Flat          Flat           `json:"flat"`
	StatusChanges []StatusChange `json:"statusChanges"`
	PriceChanges  []PriceChange  `json:"priceChanges"`

	// Raw is the order's JSON as received, compacted; nil for an order built
	// in code. It is never written by MarshalJSON.
	Raw json.RawMessage `json:"-"`
}

// Object is the house an order is about.
type Object struct {
	ExternalID int64  `json:"externalId"` // the house's number on the site
	Name       string `json:"name"`
	Address    string `json:"address"`
}

// Flat is the apartment an order is about.
type Flat struct {
	ID       int64  `json:"id"`     // flat id in the system
	IDODS    string `json:"id_ods"` // the flat's number on the site
	Number   string `json:"number"`
	Entrance string `json:"entrance"`
	Floor    int64  `json:"floor"`
}

// StatusChange is one entry of an order's status history.
type StatusChange struct {
	ID        int64     `json:"id"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
}

// PriceChange is one entry of an order's price history.
type PriceChange struct {
	ID        int64     `json:"id"`
	Price     int64     `json:"price"`
	CreatedAt time.Time `json:"createdAt"`
}

// TimeLayout is how the API writes timestamps: UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime writes t in the API's format (UTC, milliseconds).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a timestamp as the API may write it: RFC 3339 with or
// without fractional seconds, or without a zone (taken as UTC).
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable time %q", s)
}

// ErrMalformed is wrapped by every error about a body the API sent that
// cannot be understood.
var ErrMalformed = errors.New("malformed API answer")

// wire mirrors Order with tolerant field types.
type wire struct {
	ID            *flexInt      `json:"id"`
	Number        flexString    `json:"number"`
	Status        *flexInt      `json:"status"`
	ClientName    flexString    `json:"clientName"`
	ClientEmail   flexString    `json:"clientEmail"`
	ClientPhone   flexString    `json:"clientPhone"`
	ClientComment flexString    `json:"clientComment"`
	Comment       flexString    `json:"comment"`
	Price         *flexInt      `json:"price"`
	FinalPrice    *flexInt      `json:"finalPrice"`
	CreatedAt     *flexTime     `json:"createdAt"`
	Object        *wireObject   `json:"object"`
	Flat          *wireFlat     `json:"flat"`
	StatusChanges []*wireChange `json:"statusChanges"`
	PriceChanges  []*wireChange `json:"priceChanges"`
}

type wireObject struct {
	ExternalID flexInt    `json:"externalId"`
	Name       flexString `json:"name"`
	Address    flexString `json:"address"`
}

type wireFlat struct {
	ID       flexInt    `json:"id"`
	IDODS    flexString `json:"id_ods"`
	Number   flexString `json:"number"`
	Entrance flexString `json:"entrance"`
	Floor    flexInt    `json:"floor"`
}

type wireChange struct {
	ID        flexInt  `json:"id"`
	Status    flexInt  `json:"status"`
	Price     flexInt  `json:"price"`
	CreatedAt flexTime `json:"createdAt"`
}

// UnmarshalJSON decodes an order tolerantly (see Order) and keeps its raw
// JSON. On error o is left unchanged.
func (o *Order) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: order: %v", ErrMalformed, err)
	}
	if w.ID == nil {
		return fmt.Errorf("%w: order without id", ErrMalformed)
	}
	if w.CreatedAt == nil || w.CreatedAt.IsZero() {
		return fmt.Errorf("%w: order %d without createdAt", ErrMalformed, int64(*w.ID))
	}
	var raw bytes.Buffer
	if err := json.Compact(&raw, b); err != nil {
		return fmt.Errorf("%w: order: %v", ErrMalformed, err)
	}
	out := Order{
		ID:            int64(*w.ID),
		Number:        string(w.Number),
		ClientName:    string(w.ClientName),
		ClientEmail:   string(w.ClientEmail),
		ClientPhone:   string(w.ClientPhone),
		ClientComment: string(w.ClientComment),
		Comment:       string(w.Comment),
		CreatedAt:     w.CreatedAt.Time,
		Raw:           raw.Bytes(),
	}
	if w.Status != nil {
		out.Status = Status(*w.Status)
	}
	if w.Price != nil {
		out.Price = int64(*w.Price)
	}
	if w.FinalPrice != nil {
		v := int64(*w.FinalPrice)
		out.FinalPrice = &v
	}
	if w.Object != nil {
		out.Object = Object{ExternalID: int64(w.Object.ExternalID), Name: string(w.Object.Name), Address: string(w.Object.Address)}
	}
	if w.Flat != nil {
		out.Flat = Flat{ID: int64(w.Flat.ID), IDODS: string(w.Flat.IDODS), Number: string(w.Flat.Number), Entrance: string(w.Flat.Entrance), Floor: int64(w.Flat.Floor)}
	}
	for _, c := range w.StatusChanges {
		if c == nil {
			continue
		}
		out.StatusChanges = append(out.StatusChanges, StatusChange{ID: int64(c.ID), Status: Status(c.Status), CreatedAt: c.CreatedAt.Time})
	}
	for _, c := range w.PriceChanges {
		if c == nil {
			continue
		}
		out.PriceChanges = append(out.PriceChanges, PriceChange{ID: int64(c.ID), Price: int64(c.Price), CreatedAt: c.CreatedAt.Time})
	}
	*o = out
	return nil
}

// MarshalJSON writes the order's typed fields in the API's shape, timestamps
// in the API's format. Raw is not consulted: to forward an order as received,
// write o.Raw.
func (o Order) MarshalJSON() ([]byte, error) {
	type change struct {
		ID        int64  `json:"id"`
		Status    *int   `json:"status,omitempty"`
		Price     *int64 `json:"price,omitempty"`
		CreatedAt string `json:"createdAt"`
	}
	sc := make([]change, 0, len(o.StatusChanges))
	for _, c := range o.StatusChanges {
		s := int(c.Status)
		sc = append(sc, change{ID: c.ID, Status: &s, CreatedAt: FormatTime(c.CreatedAt)})
	}
	pc := make([]change, 0, len(o.PriceChanges))
	for _, c := range o.PriceChanges {
		p := c.Price
		pc = append(pc, change{ID: c.ID, Price: &p, CreatedAt: FormatTime(c.CreatedAt)})
	}
	return json.Marshal(struct {
		ID            int64    `json:"id"`
		Number        string   `json:"number"`
		Status        int      `json:"status"`
		ClientName    string   `json:"clientName"`
		ClientEmail   string   `json:"clientEmail"`
		ClientPhone   string   `json:"clientPhone"`
		ClientComment string   `json:"clientComment"`
		Comment       string   `json:"comment"`
		Price         int64    `json:"price"`
		FinalPrice    *int64   `json:"finalPrice"`
		CreatedAt     string   `json:"createdAt"`
		Object        Object   `json:"object"`
		Flat          Flat     `json:"flat"`
		StatusChanges []change `json:"statusChanges"`
		PriceChanges  []change `json:"priceChanges"`
	}{o.ID, o.Number, int(o.Status), o.ClientName, o.ClientEmail, o.ClientPhone, o.ClientComment, o.Comment,
		o.Price, o.FinalPrice, FormatTime(o.CreatedAt), o.Object, o.Flat, sc, pc})
}

// DecodeOrders decodes a list answer: a JSON array of orders. An empty body
// (as with 204) is an empty list. Any order that does not decode makes the
// whole answer an error wrapping ErrMalformed, so that a partial page is
// never taken for a complete one.
func DecodeOrders(body []byte) ([]Order, error) {
	body = trimJSONSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	if body[0] != '[' {
		return nil, fmt.Errorf("%w: expected a JSON array of orders, got %s", ErrMalformed, describe(body))
	}
	var orders []Order
	if err := json.Unmarshal(body, &orders); err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return orders, nil
}

// DecodeOrder decodes a single order, as PATCH answers.
func DecodeOrder(body []byte) (Order, error) {
	body = trimJSONSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Order{}, fmt.Errorf("%w: expected a JSON object, got %s", ErrMalformed, describe(body))
	}
	var o Order
	if err := json.Unmarshal(body, &o); err != nil {
		if errors.Is(err, ErrMalformed) {
			return Order{}, err
		}
		return Order{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return o, nil
}

// describe names what a body starts with, without quoting it (it may hold
// personal data).
func describe(body []byte) string {
	switch {
	case len(body) == 0:
		return "an empty body"
	case body[0] == '<':
		return fmt.Sprintf("%d bytes of HTML or XML", len(body))
	default:
		return fmt.Sprintf("%d bytes starting with %q", len(body), body[0])
	}
}

// trimJSONSpace trims the whitespace JSON allows around a value (space, tab,
// CR, LF) and nothing else: a body led by a form feed or a vertical tab is
// not JSON, and must not decode as if it were.
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }
