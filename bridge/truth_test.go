package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// checkTruth compares the events stream with the sandbox's ground truth,
// for a bridge whose first sync emitted order.created (so every change of
// every order has an event): every history change published exactly once,
// none missing, none invented, in per-order order, and the orders KV bucket
// holding each order's current state.
func (h *harness) checkTruth(evs []event) {
	h.t.Helper()
	t := h.t
	byID := map[string]event{}
	for _, e := range evs {
		if _, dup := byID[e.CE.ID]; dup {
			t.Errorf("event %s published twice", e.CE.ID)
		}
		byID[e.CE.ID] = e
		if e.MsgID != e.CE.ID {
			t.Errorf("event %s: Nats-Msg-Id %q", e.CE.ID, e.MsgID)
		}
		want := "salesbridge.order." + strings.TrimPrefix(e.CE.Type, "order.") + "." + e.CE.Subject
		if e.Subject != want {
			t.Errorf("event %s: subject %q, want %q", e.CE.ID, e.Subject, want)
		}
		if e.CE.SpecVersion != "1.0" || e.CE.Source != "salesbridge/"+h.sb.ClientID() || e.CE.DataSchema != "urn:salesbridge:v1:"+e.CE.Type {
			t.Errorf("event %s: envelope %+v", e.CE.ID, e.CE)
		}
	}
	expected := map[string]bool{}
	for _, c := range h.sb.Changes() {
		var id string
		switch c.Kind {
		case salesapitest.KindCreated:
			id = fmt.Sprintf("order/%d/created", c.OrderID)
		case salesapitest.KindStatus:
			id = fmt.Sprintf("order/%d/status/%d", c.OrderID, c.EntryID)
		case salesapitest.KindPrice:
			id = fmt.Sprintf("order/%d/price/%d", c.OrderID, c.EntryID)
		default:
			continue
		}
		expected[id] = true
		if _, ok := byID[id]; !ok {
			t.Errorf("missing event %s (%s at %s)", id, c.Kind, c.At.Format(time.RFC3339))
		}
	}
	// An update has no id of the API's; a repeated one would show as the
	// same field changes published twice for one order.
	updates := map[string]string{}
	for _, e := range evs {
		if e.CE.Type != "order.updated" {
			continue
		}
		var d struct {
			Changes json.RawMessage `json:"changes"`
		}
		if err := json.Unmarshal(e.CE.Data, &d); err != nil {
			t.Fatal(err)
		}
		key := orderOf(e) + string(d.Changes)
		if prev, dup := updates[key]; dup {
			t.Errorf("update published twice: %s and %s", prev, e.CE.ID)
		}
		updates[key] = e.CE.ID
	}
	for id, e := range byID {
		if e.CE.Type == "order.updated" {
			continue
		}
		if !expected[id] {
			t.Errorf("invented event %s", id)
		}
	}
	// Per order: created first, then history events in the order the API
	// made them (entry ids grow with time).
	lastEntry := map[string]int64{}
	seenOrder := map[string]bool{}
	for _, e := range evs {
		o := orderOf(e)
		if e.CE.Type == "order.created" {
			if seenOrder[o] {
				t.Errorf("order %s: created after other events", o)
			}
		} else if !seenOrder[o] {
			t.Errorf("order %s: %s before created", o, e.CE.ID)
		}
		seenOrder[o] = true
		parts := strings.Split(e.CE.ID, "/")
		if len(parts) == 4 && (parts[2] == "status" || parts[2] == "price") {
			n, _ := strconv.ParseInt(parts[3], 10, 64)
			key := o + "/" + parts[2]
			if n < lastEntry[key] {
				t.Errorf("order %s: %s published after %s entry %d", o, e.CE.ID, parts[2], lastEntry[key])
			}
			lastEntry[key] = n
		}
	}
	h.checkKV()
}

// checkKV checks that the orders bucket holds every order as the sandbox
// has it now.
func (h *harness) checkKV() {
	h.t.Helper()
	vals := h.kvValues()
	for _, o := range h.sb.Orders() {
		want, _ := h.sb.OrderJSON(o.ID)
		got, ok := vals[strconv.FormatInt(o.ID, 10)]
		if !ok {
			h.t.Errorf("kv order %d: missing", o.ID)
			continue
		}
		if !jsonEqual(got, want) {
			h.t.Errorf("kv order %d:\n got %s\nwant %s", o.ID, got, want)
		}
	}
}

// kvValues reads every value of the orders bucket, by key.
func (h *harness) kvValues() map[string][]byte {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := h.js.KeyValue(ctx, h.names.OrdersBucket)
	if err != nil {
		h.t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]byte{}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			h.t.Fatal(err)
		}
		out[k] = e.Value()
	}
	return out
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}
