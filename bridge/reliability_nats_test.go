package bridge_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest/observer"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// heapInUse is the process's heap after a collection, in bytes.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestReliabilityNATSOutage: the nats-server stops for half an hour of
// sandbox time while the office keeps working and thousands of orders
// arrive, then comes back on the same port with its store. The outbox
// holds everything meanwhile, the relay holds at most two batches in
// memory (the reconnect buffer stays under its bound), and once NATS is
// back every change comes out once, per order in order.
func TestReliabilityNATSOutage(t *testing.T) {
	h := newHarness(t, relMetrics)
	h.sb.CreateOrders(30, salesapitest.OrderSpec{})
	h.start()
	h.settle()

	created, outage := 1000, 30*time.Minute
	if testing.Short() {
		created, outage = 200, 5*time.Minute
	}
	rng := rand.New(rand.NewPCG(21, 22))
	heap0 := heapInUse()
	port := h.relStopNATS()
	down := h.sb.Now()
	h.sb.LoadOrders(created, down.Add(-30*time.Minute), down)
	for range 200 {
		mutate(h.sb, rng)
	}
	h.relSyncedSince(h.sb.Now())
	// Half an hour of sandbox time without NATS (3 s of real time).
	h.waitFor("the outage", func() bool { return h.sb.Now().Sub(down) >= outage })
	depth := h.relOutbox()
	buffered, err := h.nc.Buffered()
	if err != nil {
		buffered = 0 // the harness's own connection; the bridge shares it
	}
	heap1 := heapInUse()
	fi, err := os.Stat(h.statePath())
	must(t, err)
	if depth < 2*created {
		t.Errorf("outbox holds %d messages after %d new orders, want at least %d", depth, created, 2*created)
	}
	if v := gauge(t, h.cfg.Metrics, "salesbridge_nats_connected"); v != 0 {
		t.Errorf("salesbridge_nats_connected %v during the outage", v)
	}
	if v := gauge(t, h.cfg.Metrics, "salesbridge_outbox_depth"); v != float64(depth) {
		t.Errorf("salesbridge_outbox_depth %v, outbox %d", v, depth)
	}
	const reconnectBuf = 8 << 20 // nats.go's default ReconnectBufSize
	if buffered > reconnectBuf {
		t.Errorf("%d bytes buffered for the reconnect, over the %d bound", buffered, reconnectBuf)
	}
	grew := int64(heap1) - int64(heap0)
	if grew > 64<<20 {
		t.Errorf("heap grew by %d MiB during the outage", grew>>20)
	}

	h.relStartNATS(port, h.relNATSDir())
	h.settle()
	evs := h.relEvents()
	h.checkTruth(evs)
	a := h.relTally(evs, 0)
	relReport(t, "NATS down 30 min, back with its store", 1, a,
		fmt.Sprintf("outbox peaked at %d messages (state file %d MiB), heap %+d MiB, reconnect buffer %d KiB", depth, fi.Size()>>20, grew>>20, buffered>>10))
}

// TestReliabilityNATSLostStore: NATS comes back without its store (a new
// store directory: the streams and buckets are gone). The bridge recreates
// them and publishes what its outbox still held, and everything after.
// A consumer sees what was published before the loss disappear with the
// lost stream; nothing of what the outbox held at the loss, or came after,
// is missing or doubled.
func TestReliabilityNATSLostStore(t *testing.T) {
	h := newHarness(t)
	h.sb.LoadOrders(60, h.sb.Now().Add(-time.Hour), h.sb.Now())
	h.start()
	h.settle()
	published := len(h.relEvents())
	lostUpTo := h.relLastChange() // changes already in the stream, lost with it

	rng := rand.New(rand.NewPCG(31, 32))
	port := h.relStopNATS()
	for range 40 {
		mutate(h.sb, rng)
	}
	h.relSyncedSince(h.sb.Now())
	held := h.relOutbox()
	if held == 0 {
		t.Fatal("nothing in the outbox at the loss")
	}
	h.relStartNATS(port, filepath.Join(h.dir, "nats-after-loss"))
	h.settle()
	for range 20 {
		mutate(h.sb, rng)
	}
	h.settle()

	evs := h.relEvents()
	a := h.relTally(evs, lostUpTo)
	for _, e := range evs {
		if n, ok := changeSeqOf(h, e.CE.ID); ok && n <= lostUpTo {
			t.Errorf("event %s of a change published before the loss came back", e.CE.ID)
		}
	}
	// The orders KV bucket was lost as well: it holds the orders changed
	// since, and the others come back with their next change.
	kvMissing := h.kvMissing()
	relReport(t, "NATS back without its store (streams lost)", 1, a,
		fmt.Sprintf("%d events lost with the old stream; outbox held %d at the loss, republished; %d orders absent from KV until they change", published, held, kvMissing))
}

// changeSeqOf returns the sandbox sequence number of the change an event
// id names.
func changeSeqOf(h *harness, id string) (int64, bool) {
	for _, c := range h.sb.Changes() {
		if relEventID(c) == id {
			return c.Seq, true
		}
	}
	return 0, false
}

// kvMissing counts the sandbox's orders absent from the orders bucket.
func (h *harness) kvMissing() int {
	h.t.Helper()
	vals := h.kvValues()
	n := 0
	for _, o := range h.sb.Orders() {
		if _, ok := vals[strconv.FormatInt(o.ID, 10)]; !ok {
			n++
		}
	}
	return n
}

// TestReliabilityNATSLostStoreIdle: NATS loses its store while the bridge
// has nothing to publish. The bridge must recreate the commands stream by
// itself, or commands sent afterwards would find no stream.
func TestReliabilityNATSLostStoreIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a JetStream API timeout (5 s)")
	}
	h := newHarness(t)
	id := h.sb.CreateOrder(salesapitest.OrderSpec{}).ID
	h.start()
	h.settle()
	port := h.relStopNATS()
	h.relStartNATS(port, filepath.Join(h.dir, "nats-after-loss"))
	h.waitFor("the commands stream recreated", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := h.js.Stream(ctx, h.names.CommandsStream)
		return err == nil
	})
	h.sendCommand(patchJSON("after-loss-1", id, `"status":1`), "")
	if o := h.outcome("after-loss-1"); !o.CE.Data.OK {
		t.Fatalf("outcome: %s", o.Raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := h.js.KeyValue(ctx, h.names.SchemasBucket)
	if err == nil {
		_, err = kv.Get(ctx, "order.created")
		if err != nil {
			keys, _ := kv.ListKeys(ctx)
			var n int
			for range keys.Keys() {
				n++
			}
			if n == 0 {
				err = fmt.Errorf("schemas bucket empty: %w", jetstream.ErrKeyNotFound)
			} else {
				err = nil
			}
		}
	}
	if err != nil {
		t.Errorf("schemas after the loss: %v", err)
	}
}

// TestReliabilityNATSFlapping: the nats-server goes away again and again
// while the relay is flushing a backlog of thousands of messages — acks in
// flight, batches half sent, the reconnect buffer filling. Every time it
// comes back with its store; in the end every change is in the stream
// once, and per order in the order it happened.
func TestReliabilityNATSFlapping(t *testing.T) {
	if testing.Short() {
		t.Skip("NATS stopped and started again and again")
	}
	flaps, created := 4, 80
	h := newHarness(t)
	// A few busy orders change many times during each outage: several of
	// their messages sit in one backlog, where order matters.
	busy := map[int64]bool{}
	for _, o := range h.sb.CreateOrders(20, salesapitest.OrderSpec{}) {
		busy[o.ID] = true
	}
	h.start()
	h.settle()
	rng := rand.New(rand.NewPCG(41, 42))
	// The test sees the events as JetStream stores them and stops the
	// server right after the n-th, in the middle of the relay's flush.
	var seen, stopAt atomic.Int64
	stop := make(chan struct{}, 1)
	sub, err := h.nc.Subscribe(h.names.Prefix+".order.>", func(*nats.Msg) {
		if seen.Add(1) == stopAt.Load() {
			stop <- struct{}{}
		}
	})
	must(t, err)
	defer sub.Unsubscribe()
	port := h.relStopNATS()
	total := 0
	for i := range flaps + 1 {
		// Down: a backlog builds up.
		now := h.sb.Now()
		h.sb.LoadOrders(created, now.Add(-time.Hour), now)
		for range 100 {
			mutateBusy(h.sb, rng, busy)
		}
		h.relSyncedSince(h.sb.Now())
		backlog := h.relOutbox()
		total += backlog
		seen.Store(0)
		stopAt.Store(int64(backlog / 6)) // a third of the events (half the messages are KV puts)
		h.relStartNATS(port, h.relNATSDir())
		if i == flaps {
			break
		}
		// Up, and down again once the relay is into the backlog.
		select {
		case <-stop:
		case <-time.After(30 * time.Second):
			t.Fatal("the relay did not flush")
		}
		port = h.relStopNATS()
		t.Logf("flap %d: backlog %d, stopped at %d", i+1, backlog, h.relOutbox())
	}
	h.settle()
	evs := h.relEvents()
	h.checkTruth(evs)
	relReport(t, "NATS stopped mid-flush, again and again", flaps, h.relTally(evs, 0),
		fmt.Sprintf("%d backlogs of about %d messages, NATS stopped a third into each", flaps, total/(flaps+1)))
}

// TestReliabilityNATSMaxPayload: an order larger than the NATS server's
// max_payload (1 MiB by default) cannot be published. The relay does not
// drop it — that would lose the change — so everything behind it waits:
// the bridge says so (a warning naming the limit, the outbox_backlog
// advisory), and once the operator raises max_payload (here: the server
// restarted with 8 MiB) everything comes out, in order, nothing lost.
func TestReliabilityNATSMaxPayload(t *testing.T) {
	if testing.Short() {
		t.Skip("megabytes of events")
	}
	var logs *observer.ObservedLogs
	h := newHarness(t, relObserveLogs(&logs))
	h.sb.CreateOrders(3, salesapitest.OrderSpec{})
	advs := h.watchAdvisories()
	h.start()
	h.settle()
	h.sb.CreateOrder(salesapitest.OrderSpec{ClientComment: strings.Repeat("x", 1200<<10)}) // 1.2 MiB
	h.waitFor("the warning", func() bool { return relWarned(logs, "maximum payload exceeded") })
	later := h.sb.CreateOrder(salesapitest.OrderSpec{}) // small, behind it
	h.waitFor("the later order stored", func() bool {
		_, found, err := h.run.store.Order(later.ID)
		return err == nil && found
	})
	h.waitFor("the outbox_backlog advisory", func() bool {
		s := advs.states(bridge.AdvisoryOutboxBacklog)
		return len(s) > 0 && s[0] == bridge.AdvisoryStarted
	})
	for _, e := range h.relEvents() {
		if orderOf(e) == itoa(later.ID) {
			t.Fatalf("%s published past the order that cannot be", e.CE.ID)
		}
	}
	waiting := h.relOutbox()

	// The operator raises max_payload.
	port := h.relStopNATS()
	h.relStartNATSWith(port, h.relNATSDir(), func(o *server.Options) { o.MaxPayload = 8 << 20 })
	// Each answer holding the big order takes seconds to read under
	// -race: no new sync; the outbox drained is everything the sandbox did.
	h.waitFor("the outbox drained", func() bool { return h.relOutbox() == 0 })
	h.stop()
	evs := h.relEvents()
	h.checkTruth(evs)
	relReport(t, "an order larger than NATS max_payload (1.2 MiB)", 1, h.relTally(evs, 0),
		fmt.Sprintf("%d messages waited behind it (warned, outbox_backlog advisory) until max_payload was raised; then all out", waiting))
}

// mutateBusy changes one of the busy orders: its status, price or comment.
func mutateBusy(sb *salesapitest.Server, rng *rand.Rand, busy map[int64]bool) {
	ids := make([]int64, 0, len(busy))
	for id := range busy {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	id := ids[rng.IntN(len(ids))]
	o, _ := sb.Order(id)
	switch rng.IntN(3) {
	case 0:
		for _, to := range rng.Perm(8) {
			if salesapitest.CanTransition(o.Status, salesapi.Status(to)) {
				_ = sb.SetStatus(id, salesapi.Status(to))
				return
			}
		}
		fallthrough
	case 1:
		_ = sb.SetFinalPrice(id, int64(3_000_000+rng.IntN(20_000_000)))
	default:
		_ = sb.SetComment(id, fmt.Sprintf("звонок %d", rng.IntN(1000)))
	}
}
