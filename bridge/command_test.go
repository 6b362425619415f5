package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/schemas"
)

// outcomeEvent is a command.succeeded / command.failed event.
type outcomeEvent struct {
	Subject string
	MsgID   string
	Raw     []byte
	CE      struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Subject    string `json:"subject"`
		Time       string `json:"time"`
		ObservedAt string `json:"observedat"`
		Data       struct {
			CommandID string          `json:"commandId"`
			OrderID   int64           `json:"orderId"`
			OK        bool            `json:"ok"`
			Order     json.RawMessage `json:"order"`
			Error     *struct {
				Code       string `json:"code"`
				Message    string `json:"message"`
				Field      string `json:"field"`
				HTTPStatus int    `json:"httpStatus"`
			} `json:"error"`
		} `json:"data"`
	}
}

func (o outcomeEvent) code() string {
	if o.CE.Data.OK {
		return "ok"
	}
	if o.CE.Data.Error == nil {
		return "failed without error"
	}
	return o.CE.Data.Error.Code
}

// sendCommand publishes a command to the commands stream with msgID as
// Nats-Msg-Id (none if empty).
func (h *harness) sendCommand(body []byte, msgID string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := &nats.Msg{Subject: h.names.CommandPatchSubject(), Data: body, Header: nats.Header{}}
	if msgID != "" {
		m.Header.Set("Nats-Msg-Id", msgID)
	}
	if _, err := h.js.PublishMsg(ctx, m); err != nil {
		h.t.Fatalf("publish command: %v", err)
	}
}

// patchJSON is a command body.
func patchJSON(id string, order int64, fields string) []byte {
	if fields != "" {
		fields = "," + fields
	}
	if id == "" {
		return fmt.Appendf(nil, `{"id":%d%s}`, order, fields)
	}
	return fmt.Appendf(nil, `{"commandId":%q,"id":%d%s}`, id, order, fields)
}

// lookupOutcome reads the outcome of command id from the events stream.
func (h *harness) lookupOutcome(id string) (outcomeEvent, bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, h.names.EventsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, h.names.CommandResultSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return outcomeEvent{}, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	o := outcomeEvent{Subject: m.Subject, MsgID: m.Header.Get("Nats-Msg-Id"), Raw: m.Data}
	if err := json.Unmarshal(m.Data, &o.CE); err != nil {
		h.t.Fatalf("outcome of %s: %v", id, err)
	}
	return o, true
}

// outcome waits for the outcome of command id.
func (h *harness) outcome(id string) outcomeEvent {
	h.t.Helper()
	var o outcomeEvent
	h.waitFor("the outcome of "+id, func() bool {
		var ok bool
		o, ok = h.lookupOutcome(id)
		return ok
	})
	return o
}

// patches counts the PATCH requests the sandbox answered.
func (h *harness) patches() int {
	n := 0
	for _, r := range h.sb.Requests() {
		if r.Method == http.MethodPatch {
			n++
		}
	}
	return n
}

// orderEvents keeps the order.* events.
func orderEvents(evs []event) []event {
	var out []event
	for _, e := range evs {
		if strings.HasPrefix(e.CE.Type, "order.") {
			out = append(out, e)
		}
	}
	return out
}

func validator(t *testing.T) *schemas.Validator {
	t.Helper()
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCommandOutcomes drives one command to each outcome through the real
// stack and checks the outcome events against the contract.
func TestCommandOutcomes(t *testing.T) {
	h := newHarness(t, func(h *harness, _ *salesapitest.Config) { h.cfg.CommandDeadline = 2 * time.Minute })
	orders := h.sb.CreateOrders(3, salesapitest.OrderSpec{})
	fresh, done, other := orders[0].ID, orders[1].ID, orders[2].ID
	for _, st := range []salesapi.Status{salesapi.StatusProgress, salesapi.StatusConfirmed, salesapi.StatusComplete} {
		must(t, h.sb.SetStatus(done, st))
	}
	h.start()
	h.settle()
	v := validator(t)

	tests := []struct {
		name       string
		body       []byte
		setup      func()
		code       string
		httpStatus int
		field      string
		message    string // a part of the message
		patched    bool   // the sandbox saw a PATCH
	}{
		{name: "ok", body: patchJSON("c-ok", fresh, `"status":1,"comment":"перезвонить"`), code: "ok", patched: true},
		{name: "invalid", body: patchJSON("c-invalid", fresh, `"status":6`), code: "invalid", field: "status"},
		{name: "not found", body: patchJSON("c-404", 999_999_999, `"status":1`), code: "not_found", httpStatus: 404, patched: true},
		{
			name: "forbidden", body: patchJSON("c-403", other, `"status":1`), code: "forbidden", httpStatus: 403, patched: true,
			setup: func() {
				h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 403, Path: salesapitest.PathOrder, Count: 1})
			},
		},
		{name: "rejected", body: patchJSON("c-400", done, `"status":1`), code: "rejected", httpStatus: 400, message: "Status cannot change", patched: true},
		{
			name: "unavailable", body: patchJSON("c-503", other, `"comment":"позвонить"`), code: "unavailable", message: "deadline", patched: true,
			setup: func() {
				h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultMaintenance, Path: salesapitest.PathOrder, Until: h.sb.Now().Add(4 * time.Minute)})
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var id struct {
				CommandID string `json:"commandId"`
			}
			must(t, json.Unmarshal(tc.body, &id))
			before := h.patches()
			if tc.setup != nil {
				tc.setup()
			}
			h.sendCommand(tc.body, "")
			o := h.outcome(id.CommandID)
			h.sb.ClearFaults()
			if got := o.code(); got != tc.code {
				t.Fatalf("outcome %s, want %s (%s)", got, tc.code, o.Raw)
			}
			if err := v.ValidateEvent(o.Raw); err != nil {
				t.Errorf("outcome breaks the contract: %v\n%s", err, o.Raw)
			}
			if o.MsgID != o.CE.ID || o.CE.ID != "command/"+id.CommandID+"/result" || o.CE.Subject != id.CommandID {
				t.Errorf("envelope: Nats-Msg-Id %q, id %q, subject %q", o.MsgID, o.CE.ID, o.CE.Subject)
			}
			if e := o.CE.Data.Error; e != nil {
				if e.HTTPStatus != tc.httpStatus || e.Field != tc.field || !strings.Contains(e.Message, tc.message) {
					t.Errorf("error %+v, want httpStatus %d, field %q, message with %q", e, tc.httpStatus, tc.field, tc.message)
				}
			}
			if got := h.patches() > before; got != tc.patched {
				t.Errorf("PATCH sent: %v, want %v", got, tc.patched)
			}
		})
	}

	// The successful PATCH is an event at once, caused by the command, and
	// the next poll repeats nothing.
	evs := h.events()
	var caused []string
	for _, e := range evs {
		if e.CE.CausedBy != "" {
			if e.CE.CausedBy != "c-ok" || orderOf(e) != itoa(fresh) {
				t.Errorf("%s caused by %q", e.CE.ID, e.CE.CausedBy)
			}
			caused = append(caused, e.CE.Type)
			if err := v.ValidateEvent(e.Raw); err != nil {
				t.Errorf("%s: %v", e.CE.ID, err)
			}
		}
	}
	if want := []string{"order.status_changed", "order.updated"}; strings.Join(caused, ",") != strings.Join(want, ",") {
		t.Errorf("events caused by the command: %v, want %v", caused, want)
	}
	okOutcome, _ := h.lookupOutcome("c-ok")
	for i, e := range evs {
		if e.Subject == h.names.CommandResultSubject("c-ok") {
			for _, later := range evs[i:] {
				if later.CE.CausedBy == "c-ok" {
					t.Errorf("%s published after the outcome", later.CE.ID)
				}
			}
		}
	}
	if !jsonEqual(okOutcome.CE.Data.Order, mustJSON(h.sb.OrderJSON(fresh))) {
		t.Errorf("outcome order differs from the sandbox's:\n%s", okOutcome.CE.Data.Order)
	}
	h.settle()
	after := h.events()
	h.checkTruth(orderEvents(after))
	if got, want := countTypes(orderEvents(after)), countTypes(orderEvents(evs)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the next polls added events: %v, was %v", got, want)
	}
}

func mustJSON(b []byte, ok bool) []byte {
	if !ok {
		return nil
	}
	return b
}

// TestCommandWhileDown: a command published while the bridge is stopped
// runs when it starts.
func TestCommandWhileDown(t *testing.T) {
	h := newHarness(t)
	id := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	h.start()
	h.settle()
	h.stop()
	h.sendCommand(patchJSON("", id, `"status":2`), "down-1")
	if _, ok := h.lookupOutcome("down-1"); ok {
		t.Fatal("an outcome while the bridge is down")
	}
	h.start()
	if o := h.outcome("down-1"); !o.CE.Data.OK {
		t.Fatalf("outcome: %s", o.Raw)
	}
	if o, _ := h.sb.Order(id); o.Status != salesapi.StatusConfirmed {
		t.Errorf("status %s", o.Status)
	}
}

// TestCommandCrashAfterLedger: the bridge dies after recording the outcome
// and before acknowledging the message. JetStream delivers the command
// again to the restarted bridge, which publishes the recorded outcome
// instead of sending the PATCH again; publishing the same command id again
// later does not PATCH either.
func TestCommandCrashAfterLedger(t *testing.T) {
	var crash atomic.Bool
	crash.Store(true)
	crashed := make(chan string, 1)
	h := newHarness(t, func(h *harness, _ *salesapitest.Config) {
		h.cfg.CommandAckWait = 300 * time.Millisecond // how soon JetStream redelivers an unacknowledged command
		bridge.SetAfterLedger(&h.cfg, func(id string) bool {
			if crash.Load() {
				crashed <- id
				return true
			}
			return false
		})
	})
	id := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	h.start()
	h.settle()
	h.sendCommand(patchJSON("crash-1", id, `"status":1`), "")
	if got := <-crashed; got != "crash-1" {
		t.Fatalf("hook called for %q", got)
	}
	crash.Store(false)
	h.stop()
	h.start()
	h.waitFor("the command acknowledged", func() bool { return h.commandsLeft() == 0 })
	if n := h.patches(); n != 1 {
		t.Fatalf("%d PATCH calls, want 1", n)
	}
	first := h.outcome("crash-1")
	if !first.CE.Data.OK {
		t.Fatalf("outcome: %s", first.Raw)
	}

	// The same command id again (a client retry after the duplicate window,
	// simulated with another Nats-Msg-Id): the recorded outcome, no PATCH.
	sub, err := h.nc.SubscribeSync(h.names.CommandResultSubject("crash-1"))
	must(t, err)
	defer sub.Unsubscribe()
	must(t, h.nc.Flush())
	h.sendCommand(patchJSON("crash-1", id, `"status":2`), "retry-of-crash-1")
	m, err := sub.NextMsg(10 * time.Second)
	must(t, err)
	if string(m.Data) != string(first.Raw) {
		t.Errorf("republished outcome differs:\n got %s\nwant %s", m.Data, first.Raw)
	}
	h.waitFor("the retry acknowledged", func() bool { return h.commandsLeft() == 0 })
	if n := h.patches(); n != 1 {
		t.Errorf("%d PATCH calls after the retry, want 1", n)
	}
	if o, _ := h.sb.Order(id); o.Status != salesapi.StatusProgress {
		t.Errorf("status %s, want PROGRESS (the retry must not run)", o.Status)
	}
}

// commandsLeft is how many commands the commands stream still holds (the
// work queue drops a command once the bridge acknowledged it).
func (h *harness) commandsLeft() uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, h.names.CommandsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

// TestCommandsInOrder: commands for one order run in the order they
// arrived, even when the first meets transient failures and is retried.
// Out of order, CONFIRMED (allowed from NEW) would come first and PROGRESS
// would then be refused.
func TestCommandsInOrder(t *testing.T) {
	h := newHarness(t)
	id := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	h.start()
	h.settle()
	// More failures than the client retries: the first command goes back
	// to JetStream with a delay.
	h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 503, Path: salesapitest.PathOrder, Count: salesapi.DefaultMaxRetries + 2})
	h.sendCommand(patchJSON("order-1", id, `"status":1`), "")
	h.sendCommand(patchJSON("order-2", id, `"status":2`), "")
	h.sendCommand(patchJSON("order-3", id, `"comment":"договор в пятницу"`), "")
	for _, c := range []string{"order-1", "order-2", "order-3"} {
		if o := h.outcome(c); !o.CE.Data.OK {
			t.Errorf("%s: %s", c, o.Raw)
		}
	}
	var statuses []string
	for _, c := range h.sb.ChangesOf(id) {
		if c.Kind == salesapitest.KindStatus {
			statuses = append(statuses, string(c.To))
		}
	}
	if got := strings.Join(statuses, ","); got != "1,2" {
		t.Errorf("status changes %s, want 1,2", got)
	}
	if o, _ := h.sb.Order(id); o.Comment != "договор в пятницу" {
		t.Errorf("comment not set")
	}
}

// TestCommandAmbiguousAnswer: the API performs the PATCH but the answer is
// lost (the connection drops). The PATCH is sent again, which the API
// treats as a no-op: two PATCH calls, one change, one success, and the
// change comes out once.
func TestCommandAmbiguousAnswer(t *testing.T) {
	h := newHarness(t)
	id := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	h.start()
	h.settle()
	h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultDrop, Path: salesapitest.PathOrder, Count: 1})
	h.sendCommand(patchJSON("drop-1", id, `"status":2`), "")
	if o := h.outcome("drop-1"); !o.CE.Data.OK {
		t.Fatalf("outcome: %s", o.Raw)
	}
	if n := h.patches(); n != 2 {
		t.Errorf("%d PATCH calls, want 2 (the lost answer, the repeat)", n)
	}
	var changes int
	for _, c := range h.sb.ChangesOf(id) {
		if c.Kind == salesapitest.KindStatus {
			changes++
		}
	}
	if changes != 1 {
		t.Errorf("%d status changes, want 1", changes)
	}
	// The change comes out once: caused by the command when its repeat's
	// answer is applied first, or as a plain change when a poll saw it
	// during the retry's backoff.
	var published int
	for _, e := range h.events() {
		if e.CE.Type == "order.status_changed" && orderOf(e) == strconv.FormatInt(id, 10) {
			published++
		}
	}
	if published != 1 {
		t.Errorf("%d status_changed events for the order, want 1", published)
	}
}

// TestCommandInterrupted: the bridge stops while a PATCH is in flight (the
// ledger says started). The command goes back to JetStream at once and
// runs when the bridge is back.
func TestCommandInterrupted(t *testing.T) {
	h := newHarness(t)
	id := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	h.start()
	h.settle()
	h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultSlow, Path: salesapitest.PathOrder, Count: 1, Delay: time.Hour})
	h.sendCommand(patchJSON("slow-1", id, `"status":1`), "")
	h.waitFor("the PATCH at the sandbox", func() bool { return len(h.sb.Faults()) == 0 })
	if c, ok, err := h.run.store.Command("slow-1"); err != nil || !ok || c.State != "started" {
		t.Fatalf("ledger: %+v %v %v, want started", c, ok, err)
	}
	h.stop()
	if _, ok := h.lookupOutcome("slow-1"); ok {
		t.Fatal("an outcome before the PATCH was answered")
	}
	h.start()
	if o := h.outcome("slow-1"); !o.CE.Data.OK {
		t.Fatalf("outcome: %s", o.Raw)
	}
	if o, _ := h.sb.Order(id); o.Status != salesapi.StatusProgress {
		t.Errorf("status %s", o.Status)
	}
}
