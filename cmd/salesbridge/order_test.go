package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// orderRig is an embedded NATS server, the sandbox and, when started, the
// real bridge (serve) between them, on the real clock.
type orderRig struct {
	t    *testing.T
	url  string
	sb   *salesapitest.Server
	cfg  config
	stop func()
}

func newOrderRig(t *testing.T) *orderRig {
	t.Helper()
	dir := t.TempDir()
	natsURL := startTestNATS(t, nil)
	sb := salesapitest.NewServer(salesapitest.Config{Seed: 3})
	t.Cleanup(sb.Close)
	r := &orderRig{t: t, url: natsURL, sb: sb, stop: func() {}}
	r.cfg = config{
		APIURL: sb.URL, AuthURL: sb.AuthURL, ClientID: sb.ClientID(), ClientSecret: sb.ClientSecret(),
		NATSURL: r.url, State: filepath.Join(dir, "state.db"), Prefix: bridge.DefaultPrefix, Rate: salesapi.DefaultRate,
		Lookback: 24 * time.Hour, Initial: diff.FirstSnapshot, PII: bridge.PIIFull, LogLevel: "warn",
	}
	return r
}

// start runs the bridge until the test ends or stop is called.
func (r *orderRig) start() {
	r.t.Helper()
	nc, err := nats.Connect(r.url)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, r.cfg, clock.Real(), nc, zap.NewNop()) }()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			r.t.Errorf("bridge: %v", err)
		}
		nc.Close()
		r.stop = func() {}
	}
	r.t.Cleanup(func() { r.stop() })
	// Ready once the commands stream exists.
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.Stream(sctx, bridge.NamesFor(r.cfg.Prefix).CommandsStream)
		scancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the bridge did not create its streams: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// order runs `salesbridge order` with args after "patch" and the NATS URL.
func (r *orderRig) order(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	args = append([]string{"patch", "--nats-url", r.url}, args...)
	noEnv := func(string) (string, bool) { return "", false }
	err := runOrderEnv(context.Background(), args, &stdout, &stderr, noEnv)
	return stdout.String(), err
}

func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	return exitCode(err)
}

func TestOrderPatch(t *testing.T) {
	r := newOrderRig(t)
	o := r.sb.CreateOrder(salesapitest.OrderSpec{})
	id := strconv.FormatInt(o.ID, 10)

	// Queued while the bridge is down: no outcome in time, exit code 3.
	// The stream does not exist yet either until the bridge first starts.
	r.start()
	r.stop()
	_, err := r.order("--id", id, "--status", "PROGRESS", "--command-id", "cli-1", "--timeout", "300ms")
	if exitCodeOf(err) != exitNoOutcome {
		t.Fatalf("bridge down: %v (exit %d), want exit %d", err, exitCodeOf(err), exitNoOutcome)
	}
	r.start()
	// The same id again: the stream had it; the outcome comes anyway.
	out, err := r.order("--id", id, "--status", "PROGRESS", "--command-id", "cli-1", "--timeout", "10s")
	if err != nil {
		t.Fatalf("queued command: %v\n%s", err, out)
	}
	var got struct {
		CommandID string `json:"commandId"`
		OK        bool   `json:"ok"`
	}
	if json.Unmarshal([]byte(out), &got) != nil || !got.OK || got.CommandID != "cli-1" {
		t.Errorf("output %s", out)
	}
	if o, _ := r.sb.Order(o.ID); o.Status != salesapi.StatusProgress {
		t.Errorf("status %s", o.Status)
	}

	// A refused change: exit code 1 and the reason.
	out, err = r.order("--id", id, "--status", "1", "--final-price", "100", "--sync", "--timeout", "10s")
	if err != nil {
		t.Errorf("sync no-op status and a price: %v\n%s", err, out)
	}
	_, err = r.order("--id", id, "--status", "COMPLETE")
	if exitCodeOf(err) != 1 || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("PROGRESS → COMPLETE: %v", err)
	}
	_, err = r.order("--id", "999999999", "--comment", "x", "--sync")
	if exitCodeOf(err) != 1 || !strings.Contains(err.Error(), "not_found") {
		t.Errorf("unknown order: %v", err)
	}
}

func TestOrderUsage(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, args := range [][]string{
		nil,
		{"get"},
		{"patch"},
		{"patch", "--id", "5"},
		{"patch", "--id", "5", "--status", "6"},
		{"patch", "--id", "5", "--status", "NEW"},
		{"patch", "--id", "5", "--final-price", "-1"},
		{"patch", "--id", "5", "--comment", strings.Repeat("ж", 1001)},
		{"patch", "--id", "5", "--status", "2", "--command-id", "a b"},
		{"patch", "--id", "-5", "--status", "2"},
		{"patch", "--id", "5", "--status", "2", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		err := runOrderEnv(context.Background(), args, &stdout, &stderr, noEnv)
		if exitCodeOf(err) != 2 {
			t.Errorf("%q: %v (exit %d), want exit 2", args, err, exitCodeOf(err))
		}
	}
}
