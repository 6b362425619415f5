package bridge_test

// The reliability suite (issue 7): the real bridge against the sandbox and
// an in-process nats-server, under faults, compared with the sandbox's
// ground truth. Every test of the suite prints one line per fault it tried,
//
//	RELIABILITY | fault | tries | lost | duplicates | note
//
// so that `go test -race -run 'Reliability|CrashLoop' -v ./bridge/ | grep
// '^RELIABILITY'` reproduces the table of the README's Reliability section.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// relReportMu keeps the summary lines of parallel tests whole.
var relReportMu sync.Mutex

// relReport prints the summary line of one fault. It is printed whether the
// test passed or not: the figures are what the table shows.
func relReport(t *testing.T, fault string, tries int, a relTally, note string) {
	t.Helper()
	relReportMu.Lock()
	defer relReportMu.Unlock()
	fmt.Printf("RELIABILITY | %-52s | %5d | %4d | %4d | %s\n", fault, tries, a.lost, a.dup, note)
	if a.lost != 0 || a.dup != 0 || a.invented != 0 {
		t.Errorf("%s: %d events lost, %d duplicated, %d invented (of %d expected)", fault, a.lost, a.dup, a.invented, a.expected)
	}
}

// relTally counts what checkTruth judges: events expected from the sandbox's
// changes, those missing, those published more than once and those that
// match no change.
type relTally struct {
	expected, events, lost, dup, invented int
}

func (a relTally) String() string {
	return fmt.Sprintf("%d expected, %d events, %d lost, %d duplicated, %d invented", a.expected, a.events, a.lost, a.dup, a.invented)
}

// relTally compares the order events of evs with the sandbox's changes. Only
// order.* events are counted; command outcomes are checked by the tests that
// send commands. With since set, only changes made after it are expected
// (and events of earlier changes are neither lost nor invented).
func (h *harness) relTally(evs []event, since int64) relTally {
	var a relTally
	ids := map[string]int{}
	types := map[string]string{}
	updates := map[string]int{}
	for _, e := range evs {
		if !strings.HasPrefix(e.CE.Type, "order.") {
			continue
		}
		a.events++
		ids[e.CE.ID]++
		types[e.CE.ID] = e.CE.Type
		if e.CE.Type == "order.updated" {
			var d struct {
				Changes json.RawMessage `json:"changes"`
			}
			_ = json.Unmarshal(e.CE.Data, &d)
			updates[orderOf(e)+string(d.Changes)]++
		}
	}
	for _, n := range ids {
		a.dup += n - 1
	}
	for _, n := range updates {
		a.dup += n - 1
	}
	expected := map[string]bool{}
	old := map[string]bool{}
	for _, c := range h.sb.Changes() {
		id := relEventID(c)
		if id == "" {
			continue
		}
		if c.Seq <= since {
			old[id] = true
			continue
		}
		expected[id] = true
		a.expected++
		if ids[id] == 0 {
			a.lost++
		}
	}
	for id := range ids {
		if types[id] != "order.updated" && !expected[id] && !old[id] {
			a.invented++
		}
	}
	return a
}

// relEventID is the event id the bridge gives a sandbox change with an
// id of the API's ("" for comment and field changes).
func relEventID(c salesapitest.Change) string {
	switch c.Kind {
	case salesapitest.KindCreated:
		return fmt.Sprintf("order/%d/created", c.OrderID)
	case salesapitest.KindStatus:
		return fmt.Sprintf("order/%d/status/%d", c.OrderID, c.EntryID)
	case salesapitest.KindPrice:
		return fmt.Sprintf("order/%d/price/%d", c.OrderID, c.EntryID)
	}
	return ""
}

// relLastChange is the sequence number of the sandbox's latest change.
func (h *harness) relLastChange() int64 {
	cs := h.sb.Changes()
	if len(cs) == 0 {
		return 0
	}
	return cs[len(cs)-1].Seq
}

// relObserveLogs tees the bridge's log (warn and above) into an observer.
func relObserveLogs(logs **observer.ObservedLogs) harnessOption {
	return func(h *harness, _ *salesapitest.Config) {
		core, obs := observer.New(zap.WarnLevel)
		*logs = obs
		h.log = zap.New(zapcore.NewTee(h.log.Core(), core))
		h.cfg.Logger = h.log
	}
}

// relWarned reports whether a warning (or worse) whose message or fields hold
// part was logged.
func relWarned(logs *observer.ObservedLogs, part string) bool {
	for _, e := range logs.All() {
		if e.Level < zap.WarnLevel {
			continue
		}
		if strings.Contains(e.Message, part) {
			return true
		}
		for _, f := range e.Context {
			if strings.Contains(f.String, part) || (f.Interface != nil && strings.Contains(fmt.Sprint(f.Interface), part)) {
				return true
			}
		}
	}
	return false
}

// relStopNATS shuts the nats-server down; the bridge's connection keeps
// trying to reconnect. It returns the port, for restartNATS.
func (h *harness) relStopNATS() int {
	h.t.Helper()
	port := h.ns.Addr().(*net.TCPAddr).Port
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	return port
}

// relStartNATS starts a nats-server on port with JetStream in storeDir
// (the harness's own store for a restart that kept its data, a new one for
// a server that lost it).
func (h *harness) relStartNATS(port int, storeDir string) {
	h.t.Helper()
	h.relStartNATSWith(port, storeDir, nil)
}

// relStartNATSWith is relStartNATS with the server's options changed by
// mod.
func (h *harness) relStartNATSWith(port int, storeDir string, mod func(*server.Options)) {
	h.t.Helper()
	var ns *server.Server
	var err error
	// The port was just released; binding it again may need a moment.
	for attempt := 0; ; attempt++ {
		opts := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir, NoLog: true, NoSigs: true}
		if mod != nil {
			mod(opts)
		}
		ns, err = server.NewServer(opts)
		if err != nil {
			h.t.Fatal(err)
		}
		go ns.Start()
		if ns.ReadyForConnections(10 * time.Second) {
			break
		}
		ns.Shutdown()
		if attempt == 5 {
			h.t.Fatal("nats-server did not restart")
		}
	}
	h.ns = ns
	h.t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	h.waitFor("the test's connection back", func() bool { return h.nc.IsConnected() })
}

// relNATSDir is the harness's nats-server store.
func (h *harness) relNATSDir() string { return filepath.Join(h.dir, "nats") }

// relOutbox reads the running bridge's outbox depth.
func (h *harness) relOutbox() int {
	h.t.Helper()
	st, err := h.run.b.Status()
	if err != nil {
		h.t.Fatal(err)
	}
	return st.Outbox.Depth
}

// relSyncedSince waits for a complete sync that started after since,
// whatever the outbox holds (NATS may be down).
func (h *harness) relSyncedSince(since time.Time) {
	h.t.Helper()
	h.waitFor("a complete sync", func() bool {
		st, err := h.run.b.Status()
		return err == nil && st.LastSync != nil && st.LastSync.After(since)
	})
}

// relMetrics gives the bridge a metrics registry.
func relMetrics(h *harness, _ *salesapitest.Config) { h.cfg.Metrics = bridge.NewMetrics() }

// gauge reads the value of a metric without labels (or the sum over its
// labels) from m.
func gauge(t *testing.T, m *bridge.Metrics, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, mm := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range mm.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case mm.Gauge != nil:
				sum += mm.GetGauge().GetValue()
			case mm.Counter != nil:
				sum += mm.GetCounter().GetValue()
			case mm.Histogram != nil:
				sum += float64(mm.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// relEvents reads the events stream like events, in batches through an
// ordered consumer (a request per message is slow for thousands under
// -race), and validates only the first few messages of each type, up to
// 16 KiB, against the contract: the schema validator takes a long time over
// thousands of events, or one of 100 KiB, under -race, and the contract of
// every event type is checked by the other tests.
func (h *harness) relEvents() []event {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := h.js.Stream(ctx, h.names.EventsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []event
	validated := map[string]int{}
	for remaining := int(info.State.Msgs); remaining > 0; {
		batch, err := cons.Fetch(min(remaining, 500), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			h.t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				h.t.Fatal(err)
			}
			e := event{Seq: meta.Sequence.Stream, Subject: m.Subject(), MsgID: m.Headers().Get("Nats-Msg-Id"), Raw: m.Data()}
			if err := json.Unmarshal(e.Raw, &e.CE); err != nil {
				h.t.Fatalf("event %d: %v", e.Seq, err)
			}
			if len(e.Raw) <= 16<<10 && validated[e.CE.Type] < 3 {
				validated[e.CE.Type]++
				if err := h.schemas.ValidateEvent(e.Raw); err != nil {
					h.t.Errorf("event %d (%s) breaks the contract: %v", e.Seq, e.CE.ID, err)
				}
			}
			out = append(out, e)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			h.t.Fatal(err)
		}
		if got == 0 {
			h.t.Fatalf("the events stream holds %d messages, %d read", info.State.Msgs, len(out))
		}
		remaining -= got
	}
	return out
}
