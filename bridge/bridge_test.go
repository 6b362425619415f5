package bridge_test

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m,
		// The embedded nats-server and the HTTP transport leave these behind
		// briefly after Shutdown/Close.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)
}

// TestEventsExactlyOnce drives the real stack through every kind of change
// and checks the stream against the sandbox's ground truth, then restarts
// the bridge on the same state file and checks that nothing is emitted
// twice.
func TestEventsExactlyOnce(t *testing.T) {
	h := newHarness(t)
	for range 5 {
		h.sb.CreateOrder(salesapitest.OrderSpec{})
	}
	h.start()
	h.settle()
	evs := h.events()
	if got := countTypes(evs); got[string(diff.Created)] != 5 || len(evs) != 5 {
		t.Fatalf("first sync: %v", got)
	}

	orders := h.sb.Orders()
	a, b, c, d := orders[0].ID, orders[1].ID, orders[2].ID, orders[3].ID
	must(t, h.sb.SetStatus(a, salesapi.StatusProgress))
	must(t, h.sb.SetStatus(a, salesapi.StatusConfirmed)) // two transitions between two polls
	must(t, h.sb.SetFinalPrice(b, 6_100_000))
	must(t, h.sb.SetComment(c, "перезвонить в среду"))
	must(t, h.sb.SetField(d, "flat.floor", 12))
	created := h.sb.CreateOrder(salesapitest.OrderSpec{})
	h.settle()

	evs = h.events()
	h.checkTruth(evs)
	got := countTypes(evs)
	want := map[string]int{"order.created": 6, "order.status_changed": 2, "order.price_changed": 1, "order.updated": 2}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d events, want %d (all: %v)", k, got[k], n, got)
		}
	}
	for _, e := range evs {
		switch {
		case e.CE.Type == "order.status_changed" && orderOf(e) == itoa(a):
			var d struct{ From, To int }
			must(t, json.Unmarshal(e.CE.Data, &d))
			if !(d.From == 0 && d.To == 1 || d.From == 1 && d.To == 2) {
				t.Errorf("transition %d → %d", d.From, d.To)
			}
		case e.CE.Type == "order.updated" && orderOf(e) == itoa(c):
			assertFields(t, e, "comment")
		case e.CE.Type == "order.updated" && orderOf(e) == itoa(d):
			assertFields(t, e, "flat.floor")
		case e.CE.Type == "order.created" && orderOf(e) == itoa(created.ID):
			if e.CE.Time != salesapi.FormatTime(created.CreatedAt) {
				t.Errorf("created event time %s, want the order's createdAt %s", e.CE.Time, salesapi.FormatTime(created.CreatedAt))
			}
		}
	}

	// A restart on the same state file emits nothing twice.
	h.stop()
	h.start()
	h.settle()
	if again := h.events(); len(again) != len(evs) {
		t.Errorf("restart: %d events, was %d", len(again), len(evs))
	}
}

// TestLostStateFile: after the state file is lost, the bridge re-reads the
// window; with --initial created the re-emitted events carry the ids they
// had, and JetStream drops them as duplicates, so consumers see nothing
// twice, and later changes flow as before.
func TestLostStateFile(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		h.sb.CreateOrder(salesapitest.OrderSpec{})
	}
	id := h.sb.Orders()[0].ID
	must(t, h.sb.SetStatus(id, salesapi.StatusProgress))
	h.start()
	h.settle()
	before := len(h.events())
	h.stop()
	must(t, os.Remove(h.statePath()))
	h.start()
	h.settle()
	if got := len(h.events()); got != before {
		t.Errorf("after losing the state file: %d events, was %d", got, before)
	}
	must(t, h.sb.SetStatus(id, salesapi.StatusConfirmed))
	h.settle()
	h.checkTruth(h.events())
}

// TestInitialSnapshot: the first sync emits one order.snapshot per order and
// no history; changes after it are typed events.
func TestInitialSnapshot(t *testing.T) {
	h := newHarness(t, func(h *harness, _ *salesapitest.Config) { h.cfg.Initial = diff.FirstSnapshot })
	for range 4 {
		h.sb.CreateOrder(salesapitest.OrderSpec{})
	}
	id := h.sb.Orders()[0].ID
	must(t, h.sb.SetStatus(id, salesapi.StatusProgress))
	h.start()
	h.settle()
	if got := countTypes(h.events()); got["order.snapshot"] != 4 || len(got) != 1 {
		t.Fatalf("first sync: %v, want 4 snapshots only", got)
	}
	must(t, h.sb.SetStatus(id, salesapi.StatusConfirmed))
	h.sb.CreateOrder(salesapitest.OrderSpec{})
	h.settle()
	if got := countTypes(h.events()); got["order.status_changed"] != 1 || got["order.created"] != 1 {
		t.Errorf("after the first sync: %v", got)
	}
}

func countTypes(evs []event) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		m[e.CE.Type]++
	}
	return m
}

func assertFields(t *testing.T, e event, fields ...string) {
	t.Helper()
	var d struct {
		Changes []struct {
			Field string `json:"field"`
		} `json:"changes"`
	}
	must(t, json.Unmarshal(e.CE.Data, &d))
	var got []string
	for _, c := range d.Changes {
		got = append(got, c.Field)
	}
	if len(got) != len(fields) {
		t.Errorf("%s: fields %v, want %v", e.CE.ID, got, fields)
		return
	}
	for i := range got {
		if got[i] != fields[i] {
			t.Errorf("%s: fields %v, want %v", e.CE.ID, got, fields)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
