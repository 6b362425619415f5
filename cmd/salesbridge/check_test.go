package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/state"
)

// checkRig is an embedded NATS server with JetStream and the sandbox API,
// and the environment `check` reads.
type checkRig struct {
	t       *testing.T
	dir     string
	natsURL string
	sb      *salesapitest.Server
	env     map[string]string
}

func newCheckRig(t *testing.T) *checkRig {
	t.Helper()
	dir := t.TempDir()
	natsURL := startTestNATS(t, nil)
	sb := salesapitest.NewServer(salesapitest.Config{Seed: 5})
	t.Cleanup(sb.Close)
	sb.CreateOrder(salesapitest.OrderSpec{})
	secretFile := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secretFile, []byte(sb.ClientSecret()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &checkRig{t: t, dir: dir, natsURL: natsURL, sb: sb, env: map[string]string{
		"SALESBRIDGE_API_URL":            sb.URL,
		"SALESBRIDGE_AUTH_URL":           sb.AuthURL,
		"SALESBRIDGE_CLIENT_ID":          sb.ClientID(),
		"SALESBRIDGE_CLIENT_SECRET_FILE": secretFile,
		"NATS_URL":                       natsURL,
		"SALESBRIDGE_STATE":              filepath.Join(dir, "salesbridge.db"),
	}}
}

// run runs `salesbridge check args…` and returns its output and error.
func (r *checkRig) run(args ...string) (string, error) {
	r.t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := r.env[k]; return v, ok }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := check(ctx, args, &out, &errOut, lookup)
	text := out.String() + errOut.String()
	if err != nil {
		text += "error: " + err.Error()
	}
	r.t.Logf("check %v:\n%s", args, text)
	return text, err
}

// gets counts the list calls the sandbox answered.
func (r *checkRig) gets() int {
	n := 0
	for _, req := range r.sb.Requests() {
		if req.Method == http.MethodGet {
			n++
		}
	}
	return n
}

// lineOf returns the report line about what.
func lineOf(t *testing.T, out, what string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 2 && strings.HasPrefix(strings.TrimSpace(strings.SplitN(l, " ", 2)[1]), what) {
			return l
		}
	}
	t.Errorf("no line about %q in\n%s", what, out)
	return ""
}

func wantMark(t *testing.T, out, what, mark string, contains ...string) {
	t.Helper()
	l := lineOf(t, out, what)
	if !strings.HasPrefix(l, mark+" ") {
		t.Errorf("%s: %q, want %s", what, l, mark)
	}
	for _, c := range contains {
		if !strings.Contains(l, c) {
			t.Errorf("%s: %q does not say %q", what, l, c)
		}
	}
}

func TestCheckOK(t *testing.T) {
	r := newCheckRig(t)

	// Nothing set up yet: absent streams, buckets and state file are
	// warnings, not failures.
	out, err := r.run()
	if err != nil {
		t.Fatalf("check failed: %v", err)
	}
	wantMark(t, out, "configuration", markOK)
	wantMark(t, out, "token", markOK, r.sb.ClientID())
	wantMark(t, out, "API call", markOK, "limit=1", "1 of the 10 calls")
	wantMark(t, out, "NATS", markOK)
	wantMark(t, out, "JetStream", markOK)
	wantMark(t, out, "stream SALESBRIDGE_EVENTS", markWarn, "absent")
	wantMark(t, out, "KV salesbridge_orders", markWarn, "absent")
	wantMark(t, out, "state file", markWarn, "does not exist yet")
	if n := r.gets(); n != 1 {
		t.Errorf("check spent %d list calls, want 1", n)
	}

	// Streams and buckets as the bridge makes them, a stream changed by
	// hand, and a state file.
	nc, err := nats.Connect(r.natsURL)
	must(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	ctx := context.Background()
	names := bridge.NamesFor(bridge.DefaultPrefix)
	_, err = js.CreateStream(ctx, names.EventsStreamConfig(bridge.StreamOptions{}))
	must(t, err)
	cmds := names.CommandsStreamConfig(bridge.StreamOptions{})
	cmds.MaxAge = 48 * time.Hour
	_, err = js.CreateStream(ctx, cmds)
	must(t, err)
	for _, b := range []string{names.OrdersBucket, names.SchemasBucket} {
		_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b})
		must(t, err)
	}
	store, err := state.Open(r.env["SALESBRIDGE_STATE"], nil)
	must(t, err)
	must(t, store.Close())

	out, err = r.run()
	if err != nil {
		t.Fatalf("check failed: %v", err)
	}
	wantMark(t, out, "stream SALESBRIDGE_EVENTS", markOK, "as expected")
	wantMark(t, out, "stream SALESBRIDGE_COMMANDS", markWarn, "max age 48h0m0s")
	wantMark(t, out, "KV salesbridge_orders", markOK)
	wantMark(t, out, "state file", markOK, "0 order(s)")

	// A bridge holds the state file: said, skipped, not a failure.
	store, err = state.Open(r.env["SALESBRIDGE_STATE"], nil)
	must(t, err)
	defer store.Close()
	out, err = r.run()
	if err != nil {
		t.Fatalf("check failed: %v", err)
	}
	wantMark(t, out, "state file", markWarn, "in use by a running salesbridge")
	if strings.Contains(out, r.sb.ClientSecret()) {
		t.Error("the output holds the client secret")
	}
}

func TestCheckFailures(t *testing.T) {
	r := newCheckRig(t)
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		addr := ln.Addr().String()
		must(t, ln.Close())
		return "nats://" + addr
	}()
	const wrongSecret = "wrong-secret-3c9e7a"
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		what     string // the failing check
		says     string
		notInOut string
	}{
		{
			name: "wrong credentials", env: map[string]string{"SALESBRIDGE_CLIENT_SECRET_FILE": "", "SALESBRIDGE_CLIENT_SECRET": wrongSecret},
			code: 1, what: "token", says: "check the client id and secret", notInOut: wrongSecret,
		},
		{
			name: "nats unreachable", env: map[string]string{"NATS_URL": closedPort},
			code: 1, what: "NATS", says: strings.TrimPrefix(closedPort, "nats://"),
		},
		{
			name: "bad config value", args: []string{"--rate", "0"},
			code: 2, what: "configuration", says: "rate",
		},
		{
			name: "no secret", env: map[string]string{"SALESBRIDGE_CLIENT_SECRET_FILE": ""},
			code: 2, what: "configuration", says: "client secret is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := r.env
			r.env = map[string]string{}
			for k, v := range saved {
				r.env[k] = v
			}
			for k, v := range tt.env {
				r.env[k] = v
			}
			defer func() { r.env = saved }()
			before := r.gets()
			out, err := r.run(tt.args...)
			if got := exitCode(err); err == nil || got != tt.code {
				t.Fatalf("exit code %d (err %v), want %d", got, err, tt.code)
			}
			wantMark(t, out, tt.what, markFail, tt.says)
			if tt.notInOut != "" && strings.Contains(out, tt.notInOut) {
				t.Errorf("the output holds the secret:\n%s", out)
			}
			if tt.code == 1 && tt.what == "token" && r.gets() != before {
				t.Error("a failed token fetch spent an API call")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
