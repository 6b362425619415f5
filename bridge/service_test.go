package bridge_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// request sends a request to a micro endpoint.
func (h *harness) request(subject string, body []byte) *nats.Msg {
	h.t.Helper()
	m, err := h.nc.Request(subject, body, 10*time.Second)
	if err != nil {
		h.t.Fatalf("request %s: %v", subject, err)
	}
	return m
}

// TestMicroService: the endpoints answer, $SRV.INFO lists them, and the
// synchronous patch shares the ledger with the stream.
func TestMicroService(t *testing.T) {
	h := newHarness(t, func(h *harness, _ *salesapitest.Config) { h.cfg.Version = "v1.4.2" })
	id := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	h.start()
	h.settle()

	var info micro.Info
	must(t, json.Unmarshal(h.request("$SRV.INFO.salesbridge", nil).Data, &info))
	var subjects []string
	for _, e := range info.Endpoints {
		subjects = append(subjects, e.Subject)
	}
	slices.Sort(subjects)
	if want := []string{"salesbridge.api.order.get", "salesbridge.api.order.patch", "salesbridge.api.status"}; !slices.Equal(subjects, want) {
		t.Errorf("endpoints %v, want %v", subjects, want)
	}
	if info.Name != "salesbridge" || info.Version != "1.4.2" {
		t.Errorf("service %s %s", info.Name, info.Version)
	}

	// get: the local snapshot, no API call.
	calls := len(h.sb.Requests())
	var got struct {
		Order  json.RawMessage `json:"order"`
		Rev    uint64          `json:"rev"`
		SeenAt string          `json:"seenAt"`
	}
	m := h.request(h.names.APIGetSubject(), fmt.Appendf(nil, `{"id":%d}`, id))
	must(t, json.Unmarshal(m.Data, &got))
	want, _ := h.sb.OrderJSON(id)
	if !jsonEqual(got.Order, want) || got.Rev != 1 || got.SeenAt == "" {
		t.Errorf("get: %s", m.Data)
	}
	v := validator(t)
	if err := v.Validate("api.order.get.reply", m.Data); err != nil {
		t.Errorf("get reply: %v", err)
	}
	for body, code := range map[string]string{`{"id":999999999}`: "404", `{"id":"x"}`: "400", `[]`: "400", `{"id":1,"x":2}`: "400"} {
		m := h.request(h.names.APIGetSubject(), []byte(body))
		if c := m.Header.Get(micro.ErrorCodeHeader); c != code {
			t.Errorf("get %s: error code %q, want %s (%s)", body, c, code, m.Data)
		}
	}
	// A poll may have happened meanwhile; no PATCH, and get itself spends
	// nothing: compare the list calls with the planner's own pace instead.
	for _, r := range h.sb.Requests()[calls:] {
		if r.Method != http.MethodGet {
			t.Errorf("get spent a %s call", r.Method)
		}
	}

	// status
	var st struct {
		Version  string `json:"version"`
		ClientID string `json:"clientId"`
		Budget   struct {
			Rate int `json:"rate"`
		} `json:"budget"`
	}
	m = h.request(h.names.APIStatusSubject(), nil)
	must(t, json.Unmarshal(m.Data, &st))
	if st.ClientID != h.sb.ClientID() || st.Budget.Rate != salesapi.DefaultRate || st.Version != "v1.4.2" {
		t.Errorf("status: %s", m.Data)
	}
	if err := v.Validate("api.status.reply", m.Data); err != nil {
		t.Errorf("status reply: %v", err)
	}

	// patch: the outcome as the reply, also published; a repeat gets the
	// recorded outcome without a PATCH, also when sent to the stream.
	body := patchJSON("sync-1", id, `"status":1,"finalPrice":7200000`)
	m = h.request(h.names.APIPatchSubject(), body)
	if err := v.Validate("command.outcome", m.Data); err != nil {
		t.Errorf("patch reply: %v\n%s", err, m.Data)
	}
	var out struct {
		OK    bool            `json:"ok"`
		Order json.RawMessage `json:"order"`
	}
	must(t, json.Unmarshal(m.Data, &out))
	if !out.OK {
		t.Fatalf("patch: %s", m.Data)
	}
	published := h.outcome("sync-1")
	var data json.RawMessage
	must(t, json.Unmarshal(published.Raw, &struct {
		Data *json.RawMessage `json:"data"`
	}{&data}))
	if !jsonEqual(data, m.Data) {
		t.Errorf("published outcome %s, reply %s", data, m.Data)
	}
	again := h.request(h.names.APIPatchSubject(), patchJSON("sync-1", id, `"status":2`))
	if !bytes.Equal(bytes.TrimSpace(again.Data), bytes.TrimSpace(m.Data)) {
		t.Errorf("repeat: %s, want the recorded %s", again.Data, m.Data)
	}
	h.sendCommand(patchJSON("sync-1", id, `"status":2`), "")
	h.waitFor("the repeat acknowledged", func() bool { return h.commandsLeft() == 0 })
	if n := h.patches(); n != 1 {
		t.Errorf("%d PATCH calls, want 1", n)
	}
	var caused int
	for _, e := range h.events() {
		if e.CE.CausedBy == "sync-1" {
			caused++
		}
	}
	if caused != 2 { // status_changed, price_changed
		t.Errorf("%d events caused by sync-1, want 2", caused)
	}
}

// TestHostileCommands: every malformed command gets an invalid outcome
// naming the field, over the stream and over the micro endpoint, and never
// a PATCH.
func TestHostileCommands(t *testing.T) {
	h := newHarness(t)
	id := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	h.start()
	h.settle()
	n := func(s string) string { return strings.ReplaceAll(s, "N", itoa(id)) }
	tests := []struct {
		name, body, field string
	}{
		{"not JSON", `status=2`, ""},
		{"broken JSON", `{"id":N,"status":`, ""},
		{"array", n(`[{"id":N,"status":1}]`), ""},
		{"string", `"hello"`, ""},
		{"two objects", n(`{"id":N,"status":1}{"id":N,"status":2}`), ""},
		{"unknown field", n(`{"id":N,"status":1,"priority":"high"}`), "priority"},
		{"unknown field first", n(`{"Status":1,"id":N}`), "Status"},
		{"status as string", n(`{"id":N,"status":"2"}`), "status"},
		{"status null", n(`{"id":N,"status":null}`), "status"},
		{"status fraction", n(`{"id":N,"status":1.5}`), "status"},
		{"id as string", `{"id":"481516","status":1}`, "id"},
		{"id not numeric", `{"id":"abc","status":1}`, "id"},
		{"id missing", `{"status":1}`, "id"},
		{"id zero", `{"id":0,"status":1}`, "id"},
		{"id negative", `{"id":-5,"status":1}`, "id"},
		{"status 0", n(`{"id":N,"status":0}`), "status"},
		{"status 6", n(`{"id":N,"status":6}`), "status"},
		{"status 7", n(`{"id":N,"status":7}`), "status"},
		{"status 99", n(`{"id":N,"status":99}`), "status"},
		{"negative price", n(`{"id":N,"finalPrice":-1}`), "finalPrice"},
		{"fractional price", n(`{"id":N,"finalPrice":6100000.5}`), "finalPrice"},
		{"price as string", n(`{"id":N,"finalPrice":"6100000"}`), "finalPrice"},
		{"comment of 1001 characters", n(`{"id":N,"comment":"` + strings.Repeat("ж", 1001) + `"}`), "comment"},
		{"comment as number", n(`{"id":N,"comment":5}`), "comment"},
		{"empty patch", n(`{"id":N}`), ""},
		{"empty object", `{}`, "id"},
		{"repeated field", n(`{"id":N,"status":1,"status":2}`), "status"},
		{"bad commandId", n(`{"commandId":"a b","id":N,"status":1}`), "commandId"},
		{"commandId with empty token", n(`{"commandId":"a..b","id":N,"status":1}`), "commandId"},
		{"commandId too long", n(`{"commandId":"` + strings.Repeat("x", 129) + `","id":N,"status":1}`), "commandId"},
		{"commandId as number", n(`{"commandId":7,"id":N,"status":1}`), "commandId"},
		{"almost 1 MiB", n(`{"id":N,"comment":"` + strings.Repeat("x", 1<<20-4096) + `"}`), ""},
		{"just over 64 KiB", n(`{"id":N,"status":1,"comment":"` + strings.Repeat(" ", 64<<10) + `"}`), ""},
	}
	for i, tc := range tests {
		msgID := fmt.Sprintf("hostile-%d", i)
		h.sendCommand([]byte(tc.body), msgID)
	}
	v := validator(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := h.outcome(fmt.Sprintf("hostile-%d", i))
			if o.code() != "invalid" || o.CE.Data.Error.Field != tc.field {
				t.Errorf("outcome %s field %q, want invalid %q: %.300s", o.code(), fieldOf(o), tc.field, o.Raw)
			}
			if err := v.ValidateEvent(o.Raw); err != nil {
				t.Errorf("outcome breaks the contract: %v", err)
			}
			if len(tc.body) > 64<<10 {
				return // too large for a request: checked over the stream only
			}
			m := h.request(h.names.APIPatchSubject(), []byte(tc.body))
			var reply struct {
				OK    bool `json:"ok"`
				Error struct {
					Code, Field string
				} `json:"error"`
			}
			if err := json.Unmarshal(m.Data, &reply); err != nil || reply.OK || reply.Error.Code != "invalid" || reply.Error.Field != tc.field {
				t.Errorf("micro reply %.300s, want invalid %q", m.Data, tc.field)
			}
		})
	}
	// A bad Nats-Msg-Id cannot name the command: the hash does, and says
	// why.
	h.sendCommand([]byte(n(`{"id":N,"status":1}`)), "bad id/with slash")
	h.waitFor("the bad id acknowledged", func() bool { return h.commandsLeft() == 0 })
	// An ack follows the commit of the outcome into the outbox; wait for the
	// relay to publish it.
	h.waitFor("the outcomes published", func() bool {
		st, err := h.run.b.Status()
		return err == nil && st.Outbox.Depth == 0
	})
	if n := h.patches(); n != 0 {
		t.Errorf("%d PATCH calls for hostile commands", n)
	}
	var failed, fieldCmd int
	for _, e := range h.events() {
		if e.CE.Type == "command.failed" {
			failed++
			if strings.HasPrefix(e.CE.Subject, "sha256:") && strings.Contains(string(e.Raw), `"field":"commandId"`) {
				fieldCmd++
			}
		}
	}
	// The bad header, and the requests with a bad commandId (they have no
	// header to fall back on).
	wantHashed := 1
	for _, tc := range tests {
		if tc.field == "commandId" {
			wantHashed++
		}
	}
	if fieldCmd != wantHashed {
		t.Errorf("%d hash-named outcomes blaming commandId, want %d", fieldCmd, wantHashed)
	}
	if failed < len(tests) {
		t.Errorf("%d failed outcomes, want at least %d", failed, len(tests))
	}
}

func fieldOf(o outcomeEvent) string {
	if o.CE.Data.Error == nil {
		return ""
	}
	return o.CE.Data.Error.Field
}

// TestCommandBurst sends 30 commands at once while the poller polls: every
// command succeeds, the sandbox never answers 429, the PATCH answers leave
// no stale poll behind (no order.updated at all: status changes come with
// history), and the latencies are printed against the budget's lower
// bound.
func TestCommandBurst(t *testing.T) {
	const n = 30
	// At the harness's speed (600) the bridge's own work per command (two
	// fsynced state transactions, the acks; tens of milliseconds under
	// -race) is tens of seconds of sandbox time, more than the budget's six
	// seconds per call. At 60 it is a couple of seconds, so the budget is
	// what this test measures.
	h := newHarness(t, func(h *harness, sc *salesapitest.Config) {
		h.clk = clock.Scaled(h.clk.Now(), 60)
		sc.Clock, h.cfg.Clock = h.clk, h.clk
	})
	orders := h.sb.CreateOrders(n, salesapitest.OrderSpec{})
	h.start()
	h.settle()
	start := h.sb.Now()
	free := h.run.client.Budget().Free()
	for i, o := range orders {
		st := 1 + i%2 // PROGRESS or CONFIRMED, both allowed from NEW
		h.sendCommand(patchJSON(fmt.Sprintf("burst-%02d", i), o.ID, fmt.Sprintf(`"status":%d`, st)), "")
	}
	lat := make([]time.Duration, n)
	for i := range orders {
		o := h.outcome(fmt.Sprintf("burst-%02d", i))
		if !o.CE.Data.OK {
			t.Errorf("burst-%02d: %s", i, o.Raw)
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, o.CE.ObservedAt)
		must(t, err)
		lat[i] = at.Sub(start)
	}
	h.settle()
	for _, r := range h.sb.Requests() {
		if r.Status == http.StatusTooManyRequests {
			t.Errorf("the sandbox answered 429 to %s %s at %s", r.Method, r.Path, r.At.Format(time.RFC3339Nano))
		}
	}
	evs := h.events()
	if c := countTypes(evs); c["order.updated"] != 0 || c["order.status_changed"] != n {
		t.Errorf("events %v, want %d status changes and no update", c, n)
	}
	h.checkTruth(orderEvents(evs))

	slices.Sort(lat)
	rate := salesapi.DefaultRate
	window := salesapi.RateWindow + salesapi.WindowMargin
	// The brief's lower bound for the k-th command (1-based): the free
	// slots go at once, then rate calls per window.
	bound := func(k int) time.Duration {
		return time.Duration(max(0, k-free)) * window / time.Duration(rate)
	}
	// A burst spends the slots in waves, and a wave's slots come back
	// together one window later: the k-th command waits for its wave.
	wave := func(k int) time.Duration {
		return time.Duration((max(0, k-free)+rate-1)/rate) * window
	}
	p := func(q float64) int { return int(q*float64(n)+0.5) - 1 }
	t.Logf("%d commands, %d free slots at the start, sandbox time: p50 %s (lower bound %s, wave %s), p95 %s (lower bound %s, wave %s), max %s (lower bound %s, wave %s)",
		n, free, lat[p(0.5)].Round(time.Second), bound(p(0.5)+1).Round(time.Second), wave(p(0.5)+1),
		lat[p(0.95)].Round(time.Second), bound(p(0.95)+1).Round(time.Second), wave(p(0.95)+1),
		lat[n-1].Round(time.Second), bound(n).Round(time.Second), wave(n))
	if lat[n-1] > wave(n)+window {
		t.Errorf("the last command took %s, more than a window over its wave %s", lat[n-1], wave(n))
	}
}
