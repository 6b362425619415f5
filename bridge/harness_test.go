package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/schemas"
	"github.com/salesbridge/salesbridge/state"
)

// speed is how much faster than real time the tests run: one API call
// every 6 s of sandbox time is one every 10 ms of real time.
const speed = 600

// harness is the real stack: an in-process nats-server with JetStream, the
// sandbox over HTTP, a bbolt state file and the bridge.
type harness struct {
	t     testing.TB
	clk   clock.Clock
	ns    *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	sb    *salesapitest.Server
	dir   string
	cfg   bridge.Config
	log   *zap.Logger
	run   *running
	names bridge.Names
	// schemas validates every message the tests read: the traffic must keep
	// the published contract.
	schemas *schemas.Validator
}

// running is one run of the bridge.
type running struct {
	b      *bridge.Bridge
	store  *state.Store
	client *salesapi.Client
	cancel context.CancelFunc
	done   chan error
}

type harnessOption func(*harness, *salesapitest.Config)

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	h.clk = clock.Scaled(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), speed)
	sc := salesapitest.Config{Clock: h.clk, Seed: 7}
	h.cfg = bridge.Config{ClientID: salesapitest.DefaultClientID, Initial: diff.FirstCreated, Clock: h.clk, Logger: h.log, FlushTimeout: 2 * time.Second}
	for _, o := range opts {
		o(h, &sc)
	}
	h.sb = salesapitest.NewServer(sc)
	t.Cleanup(h.sb.Close)
	h.startNATS()
	h.names = bridge.NamesFor(bridge.DefaultPrefix)
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	h.schemas = v
	return h
}

func (h *harness) startNATS() {
	h.t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: filepath.Join(h.dir, "nats"), NoLog: true, NoSigs: true})
	if err != nil {
		h.t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		h.t.Fatal("nats-server did not start")
	}
	h.ns = ns
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	h.nc = nc
	if h.js, err = jetstream.New(nc); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		h.stop()
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
}

func (h *harness) statePath() string { return filepath.Join(h.dir, "salesbridge.db") }

// start runs a bridge on the harness's state file.
func (h *harness) start() *running { return h.startWith(state.Options{}, nil) }

// startWith is start with the state file's options and the API client's
// settings changed: so's Clock is the harness's, mod (if not nil) changes
// the client's configuration (a short timeout, a spied transport …).
func (h *harness) startWith(so state.Options, mod func(*salesapi.Config)) *running {
	h.t.Helper()
	if h.run != nil {
		h.t.Fatal("bridge already running")
	}
	so.Clock = h.clk
	store, err := state.Open(h.statePath(), &so)
	if err != nil {
		h.t.Fatal(err)
	}
	cc := salesapi.Config{
		APIURL: h.sb.URL, AuthURL: h.sb.AuthURL, ClientID: h.sb.ClientID(), ClientSecret: h.sb.ClientSecret(),
		Clock: h.clk, Logger: h.log.Named("api"), Hooks: h.cfg.Metrics.APIHooks(),
	}
	if mod != nil {
		mod(&cc)
	}
	client, err := salesapi.New(cc)
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := bridge.New(h.cfg, client, store, h.nc)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{b: b, store: store, client: client, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	h.run = r
	return r
}

// stop stops the running bridge and closes its state file.
func (h *harness) stop() {
	r := h.run
	if r == nil {
		return
	}
	h.run = nil
	r.cancel()
	if err := <-r.done; err != nil && !errors.Is(err, context.Canceled) {
		h.t.Errorf("bridge run: %v", err)
	}
	r.client.Close()
	if err := r.store.Close(); err != nil {
		h.t.Errorf("close state: %v", err)
	}
}

// waitFor polls cond until it holds or 30 s of real time pass.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settle waits until a sync that started after now has completed and the
// outbox is empty: everything the sandbox did before now is in JetStream.
func (h *harness) settle() {
	h.t.Helper()
	since := h.sb.Now()
	h.waitFor("a complete sync and an empty outbox", func() bool {
		st, err := h.run.b.Status()
		return err == nil && st.LastSync != nil && st.LastSync.After(since) && st.Outbox.Depth == 0
	})
}

// event is one message of the events stream.
type event struct {
	Seq     uint64
	Subject string
	MsgID   string
	CE      struct {
		SpecVersion string          `json:"specversion"`
		ID          string          `json:"id"`
		Source      string          `json:"source"`
		Type        string          `json:"type"`
		Subject     string          `json:"subject"`
		Time        string          `json:"time"`
		DataSchema  string          `json:"dataschema"`
		ObservedAt  string          `json:"observedat"`
		CausedBy    string          `json:"causedby"`
		Data        json.RawMessage `json:"data"`
	}
	Raw []byte
}

// events reads the whole events stream.
func (h *harness) events() []event {
	h.t.Helper()
	// A minute: the reliability suite reads streams of 20 MiB and more,
	// each message validated, under -race.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := h.js.Stream(ctx, h.names.EventsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			h.t.Fatal(err)
		}
		e := event{Seq: seq, Subject: m.Subject, MsgID: m.Header.Get("Nats-Msg-Id"), Raw: m.Data}
		if ct := m.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
			h.t.Errorf("event %d: Content-Type %q", seq, ct)
		}
		if err := json.Unmarshal(m.Data, &e.CE); err != nil {
			h.t.Fatalf("event %d: %v", seq, err)
		}
		if err := h.schemas.ValidateEvent(m.Data); err != nil {
			h.t.Errorf("event %d (%s) breaks the contract: %v", seq, e.CE.ID, err)
		}
		out = append(out, e)
	}
	return out
}

// orderOf returns the order id of an event's subject.
func orderOf(e event) string {
	i := strings.LastIndexByte(e.Subject, '.')
	return e.Subject[i+1:]
}
