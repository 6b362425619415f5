package salesapitest

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"
)

// Actor is who made a change.
type Actor string

// The actors.
const (
	Visitor Actor = "visitor" // the site visitor: creates and cancels orders
	Office  Actor = "office"  // the sales office, through its own UI (and the direct mutation methods)
	System  Actor = "system"  // the remote system: NEW, UNPROCESSED
	API     Actor = "api"     // a client, through PATCH
)

// ChangeKind is what a change changed.
type ChangeKind string

// The change kinds.
const (
	KindCreated ChangeKind = "created" // an order was created (EntryID: its NEW statusChanges entry)
	KindStatus  ChangeKind = "status"  // status changed (EntryID: the statusChanges entry)
	KindPrice   ChangeKind = "price"   // finalPrice changed (EntryID: the priceChanges entry)
	KindComment ChangeKind = "comment" // the customer's comment changed (no history entry)
	KindField   ChangeKind = "field"   // any other field changed (no history entry)
)

// Change is one change the sandbox made to an order: the ground truth a test
// compares the bridge's events with.
type Change struct {
	Seq     int64      // 1, 2, 3 … in the order the changes were made
	OrderID int64      // the order's id
	Kind    ChangeKind // what changed
	// Field is the order's JSON path that changed: "status", "finalPrice",
	// "comment", or for KindField e.g. "flat.floor"; "" for KindCreated.
	Field string
	// EntryID is the id of the statusChanges or priceChanges entry the
	// change appended; 0 if it appended none.
	EntryID int64
	// From and To are the JSON values before and after ("null" when there
	// was none). For KindCreated From is null and To the order's status (0).
	From, To json.RawMessage
	At       time.Time // sandbox time of the change (the history entry's createdAt)
	Who      Actor
}

// Request is one request the server answered.
type Request struct {
	Seq      int64     // 1, 2, 3 … in the order the requests arrived
	Method   string    // GET, PATCH, POST …
	Path     string    // the URL path, e.g. /api/eisgs/sales-module/v2/external/orders
	Query    string    // the raw query string
	Status   int       // the status sent; 0 if the connection was dropped
	ClientID string    // the authenticated client; "" if not authenticated
	At       time.Time // sandbox time when the request arrived
	Fault    FaultKind // the injected fault it met, if any
}

// Changes returns a copy of every change made so far, in order.
func (s *Server) Changes() []Change {
	s.Advance(s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Change, len(s.st.changes))
	for i, c := range s.st.changes {
		c.From = cloneRaw(c.From)
		c.To = cloneRaw(c.To)
		out[i] = c
	}
	return out
}

// ChangesOf returns a copy of the changes made to one order, in order.
func (s *Server) ChangesOf(id int64) []Change {
	var out []Change
	for _, c := range s.Changes() {
		if c.OrderID == id {
			out = append(out, c)
		}
	}
	return out
}

// Requests returns a copy of the requests answered so far, in order of
// arrival. A request is logged just before its answer is sent, so a client
// that has its answer finds the request here.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	out := append([]Request(nil), s.requests...)
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func cloneRaw(r json.RawMessage) json.RawMessage {
	if r == nil {
		return nil
	}
	return append(json.RawMessage(nil), r...)
}

// rawInt encodes an integer for a Change.
func rawInt(n int64) json.RawMessage { return strconv.AppendInt(nil, n, 10) }

// rawJSON encodes v for a Change; it cannot fail for the values used here.
func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
