package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// hostileBody returns a command body that is invalid by construction (so
// no PATCH may ever follow it), drawn from many ways to be wrong, and
// whether it fits a request to the micro endpoint.
func hostileBody(rng *rand.Rand, order int64) ([]byte, bool) {
	valid := func() string {
		fields := []string{
			fmt.Sprintf(`"status":%d`, 1+rng.IntN(5)),
			fmt.Sprintf(`"finalPrice":%d`, rng.IntN(50_000_000)),
			fmt.Sprintf(`"comment":%q`, strings.Repeat("ж", rng.IntN(20))),
		}
		rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
		return fmt.Sprintf(`{"id":%d,%s}`, order, strings.Join(fields[:1+rng.IntN(3)], ","))
	}
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	switch rng.IntN(14) {
	case 0: // noise that is not an object
		b := randomBytes(rng.IntN(200))
		return append([]byte(pick("x", "[", `"`, "1", "n", " ]")), b...), true
	case 1: // a valid command cut short: the closing brace is missing
		v := valid()
		return []byte(v[:1+rng.IntN(len(v)-1)]), true
	case 2: // an unknown field, anywhere
		v := valid()
		key := pick("priority", "Status", "ID", "status ", "", "finalprice", "commandid", string(randomBytes(3)))
		k, _ := json.Marshal(key)
		return []byte(v[:len(v)-1] + "," + string(k) + ":" + pick("1", "null", `"x"`, "{}", "[]") + "}"), true
	case 3: // a status that is not settable, or not a number
		return fmt.Appendf(nil, `{"id":%d,"status":%s}`, order, pick("0", "6", "7", "-1", "99", "1.5", `"2"`, "null", "true", "[1]", "1e400", "0x2")), true
	case 4: // an order id that is not one
		return fmt.Appendf(nil, `{"id":%s,"status":1}`, pick("0", "-1", `"5"`, "null", "1e20", "1.5", "9007199254740993", "[]", "{}", "true")), true
	case 5: // no order id
		return []byte(`{"status":1,"comment":"без заказа"}`), true
	case 6: // nothing to change
		return fmt.Appendf(nil, `{"id":%d%s}`, order, pick("", " ", `,"commandId":"x y"`)), true
	case 7: // a bad price
		return fmt.Appendf(nil, `{"id":%d,"finalPrice":%s}`, order, pick("-1", "1.5", `"6100000"`, "null", "1e300", "-0.5", "true")), true
	case 8: // a bad comment
		c := pick("5", "null", "[]", "{}", "true", `"`+strings.Repeat("ы", 1001+rng.IntN(50))+`"`)
		return fmt.Appendf(nil, `{"id":%d,"comment":%s}`, order, c), true
	case 9: // two objects, or trailing data
		return []byte(valid() + pick(valid(), " x", "]", "}", ",")), true
	case 10: // a field twice
		return fmt.Appendf(nil, `{"id":%d,"status":1,"status":%d}`, order, 1+rng.IntN(5)), true
	case 11: // a bad command id in the body
		return fmt.Appendf(nil, `{"commandId":%s,"id":%d,"status":1}`, pick(`"a b"`, `"a..b"`, `".a"`, `""`, "7", "null", `"`+strings.Repeat("x", 129)+`"`, `"ид"`), order), true
	case 12: // over the 64 KiB limit
		return fmt.Appendf(nil, `{"id":%d,"status":1,"comment":"%s"}`, order, strings.Repeat(" ", 64<<10+rng.IntN(1024))), false
	default: // random bytes inside an object
		return append(append([]byte(`{"id":`), randomBytes(1+rng.IntN(40))...), '}'), true
	}
}

// TestReliabilityHostileCommands floods the commands stream and the micro
// endpoint with thousands of malformed commands: every one gets exactly
// one outcome, "invalid"; the sandbox never sees a PATCH; the bridge stays
// healthy and executes a good command afterwards.
func TestReliabilityHostileCommands(t *testing.T) {
	streamed, requested := 1500, 500
	if testing.Short() {
		streamed, requested = 200, 60
	}
	h := newHarness(t)
	order := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	r := h.start()
	h.settle()
	rng := rand.New(rand.NewPCG(51, 52))

	// Over the stream, each with its own Nats-Msg-Id (a few without: the
	// hash of the body names them).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ids := make([]string, 0, streamed)
	bodies := map[string][]byte{}
	for i := range streamed {
		body, _ := hostileBody(rng, order)
		bodies[fmt.Sprintf("hostile-%04d", i)] = body
		m := &nats.Msg{Subject: h.names.CommandPatchSubject(), Data: body, Header: nats.Header{}}
		id := fmt.Sprintf("hostile-%04d", i)
		m.Header.Set("Nats-Msg-Id", id)
		if _, err := h.js.PublishMsgAsync(m); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	select {
	case <-h.js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("the commands were not all stored")
	}

	// Over the micro endpoint, concurrently with the stream.
	var wg sync.WaitGroup
	var mu sync.Mutex
	badReplies := 0
	sent := 0
	for range requested {
		body, fits := hostileBody(rng, order)
		if !fits {
			continue
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := h.nc.Request(h.names.APIPatchSubject(), body, 30*time.Second)
			var reply struct {
				OK    bool `json:"ok"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err != nil || m.Header.Get(micro.ErrorCodeHeader) != "" || json.Unmarshal(m.Data, &reply) != nil || reply.OK || reply.Error.Code != "invalid" {
				mu.Lock()
				badReplies++
				if badReplies <= 5 {
					t.Errorf("micro reply to %.80q: %v %.200s", body, err, msgData(m))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	h.waitFor("the commands taken", func() bool { return h.commandsLeft() == 0 })
	h.settle()
	var a relTally
	a.expected = len(ids)
	outcomes := map[string]int{}
	codes := map[string]int{}
	for _, e := range h.relEvents() {
		if !strings.HasPrefix(e.CE.Type, "command.") {
			continue
		}
		outcomes[e.CE.Subject]++
		var d struct {
			OK    bool `json:"ok"`
			Error *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(e.CE.Data, &d)
		code := "ok"
		if !d.OK && d.Error != nil {
			code = d.Error.Code
		}
		codes[code]++
	}
	for _, id := range ids {
		switch n := outcomes[id]; {
		case n == 0:
			a.lost++
			if a.lost <= 5 {
				t.Errorf("no outcome for %s: %.100q", id, bodies[id])
			}
		case n > 1:
			a.dup += n - 1
		}
	}
	if len(codes) != 1 || codes["invalid"] == 0 {
		t.Errorf("outcome codes %v, want invalid only", codes)
	}
	patches := 0
	for _, req := range h.sb.Requests() {
		if req.Method == http.MethodPatch {
			patches++
		}
	}
	if patches != 0 {
		t.Errorf("%d PATCH calls for hostile commands", patches)
	}
	if err := r.b.Ready(); err != nil {
		t.Errorf("not ready after the flood: %v", err)
	}
	// Still at work: a good command runs.
	h.sendCommand(patchJSON("after-the-flood", order, `"status":1`), "")
	if o := h.outcome("after-the-flood"); !o.CE.Data.OK {
		t.Errorf("a good command after the flood: %s", o.Raw)
	}
	relReport(t, "hostile commands (stream + micro endpoint)", len(ids)+sent, a,
		fmt.Sprintf("%d on the stream, %d requests; outcomes %v; %d bad replies; %d PATCH calls", len(ids), sent, codes, badReplies, patches))
}

func msgData(m *nats.Msg) []byte {
	if m == nil {
		return nil
	}
	return m.Data
}
