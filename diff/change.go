package diff

import (
	"encoding/json"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Type is the type of a change; it is also the CloudEvents type of the event
// the bridge publishes for it.
type Type string

// The change types of the contract (DESIGN.md §3).
const (
	Snapshot      Type = "order.snapshot"       // an order seen by the first sync
	Created       Type = "order.created"        // an order seen for the first time after that
	StatusChanged Type = "order.status_changed" // one per new statusChanges entry after the first
	PriceChanged  Type = "order.price_changed"  // one per new priceChanges entry
	Updated       Type = "order.updated"        // any other field changed
)

// Types lists every change type in the order of the contract.
func Types() []Type { return []Type{Snapshot, Created, StatusChanged, PriceChanged, Updated} }

// First says what Compare yields for an order it has never seen (prev nil).
type First int

const (
	// FirstCreated yields Created, then one StatusChanged for every history
	// entry after the first and one PriceChanged for every price entry.
	FirstCreated First = iota
	// FirstSnapshot yields a single Snapshot: the order's state, with its
	// history inside it, as seen by the first sync.
	FirstSnapshot
	// FirstNone yields nothing: the order is remembered silently.
	FirstNone
)

// Change is one typed change of one order.
type Change struct {
	// ID is stable and unique: the same change always has the same ID, a
	// different change never does (see the package documentation).
	ID      string
	Type    Type
	OrderID int64
	// At is when the change happened at the API (a history entry's
	// createdAt, or the order's createdAt for Created). It is zero when the
	// API does not say (Updated, Snapshot): the caller then uses the time it
	// observed the change.
	At time.Time

	Status *StatusTransition // set for StatusChanged
	Price  *PriceTransition  // set for PriceChanged
	Fields []Field           // set for Updated, sorted by Path
}

// StatusTransition is the detail of a StatusChanged change.
type StatusTransition struct {
	ChangeID int64           // the statusChanges entry's id
	From     salesapi.Status // the status before this entry
	To       salesapi.Status
}

// PriceTransition is the detail of a PriceChanged change.
type PriceTransition struct {
	ChangeID      int64  // the priceChanges entry's id
	Price         int64  // the new price, roubles
	PreviousPrice *int64 // the price of the entry before it; nil if it is the first
}

// Field is one field that changed, by its JSON path in the order ("comment",
// "flat.floor", "object.address"), with its JSON values before and after
// (the literal null when absent).
type Field struct {
	Path   string          `json:"field"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}
