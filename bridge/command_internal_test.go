package bridge

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/salesbridge/salesbridge/salesapi"
)

func TestParseCommandIDs(t *testing.T) {
	const subject = "salesbridge.cmd.order.patch"
	body := []byte(`{"id":481516,"status":2}`)
	hash := hashCommandID(subject, body)
	tests := []struct {
		name, msgID string
		body        []byte
		wantID      string
		wantField   string // "" with wantBad false: valid
		wantBad     bool
	}{
		{"body wins", "hdr-1", []byte(`{"commandId":"body-1","id":1,"status":1}`), "body-1", "", false},
		{"header", "hdr-1", body, "hdr-1", "", false},
		{"hash", "", body, hash, "", false},
		{"bad header", "a/b", body, hash, "commandId", true},
		{"bad header, good body id", "a/b", []byte(`{"commandId":"ok-1","id":1,"status":1}`), "ok-1", "", false},
		{"bad body id falls back to header", "hdr-2", []byte(`{"commandId":"x y","id":1,"status":1}`), "hdr-2", "commandId", true},
		{"body id kept when the rest is bad", "", []byte(`{"commandId":"c-9","id":1,"status":9}`), "c-9", "status", true},
		{"dotted id", "", []byte(`{"commandId":"crm.7f3c:patch-1","id":1,"status":1}`), "crm.7f3c:patch-1", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, bad := parseCommand(subject, tc.msgID, tc.body)
			if cmd.ID != tc.wantID {
				t.Errorf("id %q, want %q", cmd.ID, tc.wantID)
			}
			if (bad != nil) != tc.wantBad || bad != nil && bad.Field != tc.wantField {
				t.Errorf("bad %+v, want field %q (invalid %v)", bad, tc.wantField, tc.wantBad)
			}
		})
	}
	if !strings.HasPrefix(hash, "sha256:") || len(hash) != len("sha256:")+32 || CheckCommandID(hash) != nil {
		t.Errorf("hash id %q", hash)
	}
}

func TestParseCommandValues(t *testing.T) {
	cmd, bad := parseCommand("s", "", []byte(`{"id":4.81516e5,"status":5,"finalPrice":6.1e6,"comment":"Бронь"}`))
	if bad != nil {
		t.Fatal(bad)
	}
	if cmd.OrderID != 481516 || *cmd.Patch.Status != salesapi.StatusTerminated || *cmd.Patch.FinalPrice != 6_100_000 || *cmd.Patch.Comment != "Бронь" {
		t.Errorf("parsed %+v", cmd)
	}
	if _, bad := parseCommand("s", "", []byte(`{"id":1,"comment":""}`)); bad != nil {
		t.Errorf("an empty comment is a change: %v", bad)
	}
	if _, bad := parseCommand("s", "", fmt.Appendf(nil, `{"id":1,"comment":%q}`, strings.Repeat("ж", 1000))); bad != nil {
		t.Errorf("1000 characters: %v", bad)
	}
	if _, bad := parseCommand("s", "", []byte(`{"id":1,"finalPrice":1e300}`)); bad == nil || bad.Field != "finalPrice" {
		t.Errorf("huge price: %v", bad)
	}
}

func TestCheckCommandID(t *testing.T) {
	for id, ok := range map[string]bool{
		"cmd-42": true, "crm-7f3c:patch:0001": true, "a.b.c": true, "A_Z.0-9:x": true,
		strings.Repeat("x", 128): true, strings.Repeat("x", 129): false,
		"": false, ".a": false, "a.": false, "a..b": false, "a b": false, "a*": false, "a>": false, "a/b": false, "я": false,
	} {
		if err := CheckCommandID(id); (err == nil) != ok {
			t.Errorf("%q: %v, want ok %v", id, err, ok)
		}
	}
}

func TestClassify(t *testing.T) {
	api := func(status int, msg string) error {
		return fmt.Errorf("patch order 1: %w", &salesapi.APIError{StatusCode: status, Method: "PATCH", Message: msg})
	}
	tests := []struct {
		err  error
		code string // "" = transient
	}{
		{api(404, ""), CodeNotFound},
		{api(403, ""), CodeForbidden},
		{fmt.Errorf("x: %w", salesapi.ErrUnauthorized), CodeForbidden},
		{api(400, "Status cannot change from COMPLETE to PROGRESS"), CodeRejected},
		{api(409, ""), CodeRejected},
		{api(429, ""), ""},
		{api(503, ""), ""},
		{fmt.Errorf("x: %w", salesapi.ErrUnavailable), ""},
		{fmt.Errorf("x: %w", salesapi.ErrMalformed), ""},
		{fmt.Errorf("x: %w", salesapi.ErrAuth), ""},
		{errors.New("anything else"), ""},
	}
	for _, tc := range tests {
		oe := classify(1, tc.err)
		got := ""
		if oe != nil {
			got = oe.Code
		}
		if got != tc.code {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.code)
		}
	}
	if oe := classify(1, api(400, "Status cannot change")); !strings.Contains(oe.Message, "Status cannot change") || oe.HTTPStatus != 400 {
		t.Errorf("rejected: %+v", oe)
	}
}

func TestServiceVersion(t *testing.T) {
	for in, want := range map[string]string{"v1.2.3": "1.2.3", "1.2.3-rc.1": "1.2.3-rc.1", "dev": devVersion, "": devVersion, "v1.2": devVersion} {
		if got := serviceVersion(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	want := []string{"15s", "30s", "1m0s", "2m0s", "4m0s", "5m0s", "5m0s"}
	for i, w := range want {
		if got := retryDelay(i + 1).String(); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
	}
}
