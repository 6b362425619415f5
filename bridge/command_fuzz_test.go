package bridge

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseCommand feeds arbitrary Nats-Msg-Id headers and bodies to the
// command parser. It never panics and always names the command with a
// usable id. A valid command passes Patch.Validate, names a positive order
// and survives being written back as JSON and parsed again. An invalid one
// is "invalid" with a message, and names the field at fault: a member the
// body has, or commandId for a bad header; no field only when the body as
// a whole is wrong (not one JSON object, too large, nothing to change).
// The seed corpus is in testdata/fuzz/FuzzParseCommand.
func FuzzParseCommand(f *testing.F) {
	f.Add("", []byte(`{"id":481516,"status":2}`))
	f.Add("hdr-1", []byte(`{"commandId":"c-1","id":1,"status":1,"finalPrice":6.1e6,"comment":"Бронь"}`))
	f.Add("a/b", []byte(`{"id":1,"status":6}`))
	f.Fuzz(func(t *testing.T, msgID string, body []byte) {
		const subject = "salesbridge.cmd.order.patch"
		cmd, bad := parseCommand(subject, msgID, body)
		if err := CheckCommandID(cmd.ID); err != nil {
			t.Fatalf("command id %q: %v", cmd.ID, err)
		}
		again, bad2 := parseCommand(subject, msgID, body)
		if again.ID != cmd.ID || (bad == nil) != (bad2 == nil) || bad != nil && *bad != *bad2 {
			t.Fatalf("not deterministic: %+v %+v, then %+v %+v", cmd, bad, again, bad2)
		}
		if bad == nil {
			checkValidCommand(t, cmd)
			return
		}
		if bad.Code != CodeInvalid || bad.Message == "" || bad.HTTPStatus != 0 {
			t.Fatalf("outcome error %+v", bad)
		}
		checkBlame(t, msgID, body, bad)
	})
}

func checkValidCommand(t *testing.T, cmd patchCommand) {
	t.Helper()
	if err := cmd.Patch.Validate(); err != nil {
		t.Fatalf("valid command %+v fails Patch.Validate: %v", cmd, err)
	}
	if cmd.OrderID < 1 || cmd.OrderID > maxJSONSafeInt {
		t.Fatalf("valid command with order id %d", cmd.OrderID)
	}
	// Written back in the contract's shape and read again: the same.
	m := map[string]any{"commandId": cmd.ID, "id": cmd.OrderID}
	if p := cmd.Patch; p.Status != nil {
		m["status"] = int(*p.Status)
	}
	if p := cmd.Patch; p.FinalPrice != nil {
		m["finalPrice"] = *p.FinalPrice
	}
	if p := cmd.Patch; p.Comment != nil {
		m["comment"] = *p.Comment
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, bad := parseCommand("s", "", b)
	if bad != nil || back.ID != cmd.ID || back.OrderID != cmd.OrderID || !samePatch(back, cmd) {
		t.Fatalf("round trip of %+v: %s gave %+v %+v", cmd, b, back, bad)
	}
}

func samePatch(a, b patchCommand) bool {
	x, _ := json.Marshal(a.Patch)
	y, _ := json.Marshal(b.Patch)
	return bytes.Equal(x, y)
}

// checkBlame checks the field an invalid outcome names.
func checkBlame(t *testing.T, msgID string, body []byte, bad *outcomeError) {
	t.Helper()
	members, err := objectMembers(body)
	wholeBodyWrong := len(body) > MaxCommandBytes || err != nil
	if bad.Field == "" {
		if wholeBodyWrong {
			return
		}
		for _, m := range members {
			if m.key == "" {
				return // the member named "" is the one at fault
			}
		}
		for _, m := range members {
			if m.key == "status" || m.key == "finalPrice" || m.key == "comment" {
				t.Fatalf("no field named, but the body is an object with %q: %+v\n%q", m.key, bad, body)
			}
		}
		return // nothing to change
	}
	if wholeBodyWrong {
		if bad.Field == "commandId" && msgID != "" && CheckCommandID(msgID) != nil {
			return // the header is named before the body is read
		}
		t.Fatalf("field %q named for a body that is not one object: %+v\n%q", bad.Field, bad, body)
	}
	for _, m := range members {
		if m.key == bad.Field {
			return
		}
	}
	switch {
	case bad.Field == "id" && !strings.Contains(string(body), `"id"`):
		return // required and missing
	case bad.Field == "commandId" && msgID != "" && CheckCommandID(msgID) != nil:
		return // the header
	}
	t.Fatalf("field %q named, which the body does not have: %+v\n%q", bad.Field, bad, body)
}
