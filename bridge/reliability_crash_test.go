package bridge_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// drain empties a signal channel.
func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// waitRequest waits until the sandbox has answered a request with method
// after the first skip ones, or until done. It reports whether it saw one.
func (h *harness) waitRequest(method string, skip int, done <-chan time.Time) bool {
	for {
		reqs := h.sb.Requests()
		for _, r := range reqs[min(skip, len(reqs)):] {
			if r.Method == method && r.Status != http.StatusTooManyRequests && r.Status != http.StatusUnauthorized {
				return true
			}
		}
		select {
		case <-done:
			return false
		case <-time.After(200 * time.Microsecond):
		}
	}
}

// count429 counts the 429 answers of the sandbox.
func (h *harness) count429() int {
	n := 0
	for _, r := range h.sb.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

// crashCommand is a command sent during the crash loop.
type crashCommand struct {
	id    string
	order int64
	kind  string // "price", "comment" or "status"
	value string // the unique price or comment, or the status set
}

// crashCommands sends commands that change the reserved orders, each to a
// value no other command sets, and checks their outcomes.
type crashCommands struct {
	h      *harness
	orders []int64
	sent   []crashCommand
	tally  relTally
	codes  map[string]int
}

func newCrashCommands(h *harness, reserved map[int64]bool) *crashCommands {
	c := &crashCommands{h: h, codes: map[string]int{}}
	for id := range reserved {
		c.orders = append(c.orders, id)
	}
	slices.Sort(c.orders)
	return c
}

func (c *crashCommands) send(rng *rand.Rand) {
	n := len(c.sent) + 1
	cmd := crashCommand{id: fmt.Sprintf("crash-cmd-%03d", n), order: c.orders[rng.IntN(len(c.orders))]}
	var fields string
	switch rng.IntN(5) {
	case 0:
		// Forward along the status machine: some are refused (a step the
		// machine forbids), which is an outcome too.
		cmd.kind, cmd.value = "status", strconv.Itoa(1+rng.IntN(3))
		fields = `"status":` + cmd.value
	case 1, 2:
		cmd.kind, cmd.value = "price", strconv.Itoa(5_000_000+n)
		fields = `"finalPrice":` + cmd.value
	default:
		cmd.kind, cmd.value = "comment", fmt.Sprintf("команда %d", n)
		fields = fmt.Sprintf(`"comment":%q`, cmd.value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := &nats.Msg{Subject: c.h.names.CommandPatchSubject(), Data: patchJSON(cmd.id, cmd.order, fields), Header: nats.Header{}}
	if _, err := c.h.js.PublishMsg(ctx, m); err != nil {
		c.h.t.Errorf("publish command %s: %v", cmd.id, err)
		return
	}
	c.sent = append(c.sent, cmd)
}

// check verifies that every command has exactly one outcome in the events
// stream and that the sandbox applied no command's change twice.
func (c *crashCommands) check(evs []event) {
	t := c.h.t
	outcomes := map[string]int{}
	for _, e := range evs {
		if strings.HasPrefix(e.CE.Type, "command.") {
			outcomes[e.CE.Subject]++
		}
	}
	// Changes the API made, by order, field and value.
	applied := map[string]int{}
	for _, ch := range c.h.sb.Changes() {
		if ch.Who == salesapitest.API {
			applied[fmt.Sprintf("%d/%s/%s", ch.OrderID, ch.Field, strings.Trim(string(ch.To), `"`))]++
		}
	}
	c.tally.expected = len(c.sent)
	for _, cmd := range c.sent {
		n := outcomes[cmd.id]
		c.tally.events += n
		switch {
		case n == 0:
			c.tally.lost++
			t.Errorf("command %s: no outcome", cmd.id)
		case n > 1:
			c.tally.dup += n - 1
			t.Errorf("command %s: %d outcomes", cmd.id, n)
		}
		o, _ := c.h.lookupOutcome(cmd.id)
		c.codes[o.code()]++
		field := map[string]string{"price": "finalPrice", "comment": "comment", "status": "status"}[cmd.kind]
		times := applied[fmt.Sprintf("%d/%s/%s", cmd.order, field, cmd.value)]
		if times > 1 {
			c.tally.dup++
			t.Errorf("command %s: its %s %s applied %d times", cmd.id, field, cmd.value, times)
		}
		if o.CE.Data.OK && cmd.kind != "status" && times != 1 {
			t.Errorf("command %s succeeded but its %s %s was applied %d times", cmd.id, field, cmd.value, times)
		}
	}
	for id := range outcomes {
		if !strings.HasPrefix(id, "crash-cmd-") {
			t.Errorf("outcome of a command nobody sent: %s", id)
		}
	}
}

// outcomes summarizes the outcome codes.
func (c *crashCommands) outcomes() string {
	var parts []string
	for code, n := range c.codes {
		parts = append(parts, fmt.Sprintf("%d %s", n, code))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
