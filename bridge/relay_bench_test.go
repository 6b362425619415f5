package bridge

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/state"
)

// BenchmarkRelay publishes the same events twice in one run: straight to
// JetStream with PublishMsgAsync (the ceiling), and through the outbox and
// the relay (read from bbolt, publish, wait for acks, delete from bbolt).
// It reports both rates and their ratio.
//
//	go test -run '^$' -bench BenchmarkRelay -benchtime 5x ./bridge/
func BenchmarkRelay(b *testing.B) {
	const events = 20_000
	dir := b.TempDir()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats-server did not start")
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*DefaultRelayBatch))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	names := NamesFor("bench")
	if err := ensureStreams(ctx, js, names, StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	store, err := state.Open(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	r := &relay{store: store, js: js, clk: clock.Real(), log: zap.NewNop(), prefix: "bench", batch: DefaultRelayBatch, flush: time.Second, health: &health{}}

	payload := make([]byte, 1200) // about the size of one CloudEvent with its order
	for i := range payload {
		payload[i] = 'x'
	}
	msg := func(run, i int) state.Message {
		id := fmt.Sprintf("order/%d/status/%d-%d", i, run, i)
		return state.Message{
			Subject: fmt.Sprintf("bench.order.status_changed.%d", i),
			Header:  map[string]string{headerMsgID: id, headerContentType: contentTypeCE},
			Data:    payload,
		}
	}

	var rawTotal, relayTotal time.Duration
	for run := range b.N {
		// Raw JetStream: the ceiling.
		start := time.Now()
		for i := range events {
			m := msg(2*run, i)
			nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
			for k, v := range m.Header {
				nm.Header.Set(k, v)
			}
			if _, err := js.PublishMsgAsync(nm); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("raw publish did not complete")
		}
		rawTotal += time.Since(start)

		// The same number of events through the outbox. Filling the outbox
		// is the poller's cost, not the relay's: it is not timed.
		b.StopTimer()
		for i := 0; i < events; i += 100 {
			batch := state.Batch{}
			for j := i; j < i+100; j++ {
				batch.Messages = append(batch.Messages, msg(2*run+1, j))
			}
			if err := store.Apply(batch); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start = time.Now()
		if n, err := r.publishBatch(ctx); err != nil || n != events {
			b.Fatalf("relay published %d of %d: %v", n, events, err)
		}
		relayTotal += time.Since(start)
	}
	raw := float64(events*b.N) / rawTotal.Seconds()
	rel := float64(events*b.N) / relayTotal.Seconds()
	b.ReportMetric(raw, "raw-events/s")
	b.ReportMetric(rel, "relay-events/s")
	b.ReportMetric(rel/raw, "relay/raw")
}
