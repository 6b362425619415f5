package bridge_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/state"
)

// The crash test runs the bridge in a child process — this test binary,
// re-executed with crashChildEnv set — and kills it with SIGKILL at random
// moments while the sandbox keeps changing orders.
const crashChildEnv = "SALESBRIDGE_CRASH_CHILD"

// crashChild is the child's side: a bridge configured from the environment,
// run until SIGTERM (or killed).
func crashChild() {
	env := func(k string) string { return os.Getenv("SALESBRIDGE_CRASH_" + k) }
	epochNanos, _ := strconv.ParseInt(env("EPOCH"), 10, 64)
	startNanos, _ := strconv.ParseInt(env("START"), 10, 64)
	// The same accelerated time as the parent's sandbox: the parent's clock
	// showed EPOCH at real time START.
	elapsed := time.Since(time.Unix(0, startNanos))
	clk := clock.Scaled(time.Unix(0, epochNanos).Add(time.Duration(float64(elapsed)*speed)), speed)

	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	store, err := state.Open(env("STATE"), &state.Options{Clock: clk, Timeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	rate, _ := strconv.Atoi(env("RATE")) // 0: the default
	client, err := salesapi.New(salesapi.Config{APIURL: env("API"), AuthURL: env("AUTH"), ClientID: env("ID"), ClientSecret: env("SECRET"), Clock: clk, Rate: rate})
	if err != nil {
		fail(err)
	}
	nc, err := nats.Connect(env("NATS"))
	if err != nil {
		fail(err)
	}
	initial := diff.FirstCreated
	if env("INITIAL") == "snapshot" {
		initial = diff.FirstSnapshot
	}
	b, err := bridge.New(bridge.Config{ClientID: env("ID"), Initial: initial, Clock: clk, FlushTimeout: 2 * time.Second}, client, store, nc)
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := b.Run(ctx); err != nil && ctx.Err() == nil {
		fail(err)
	}
	nc.Close()
	client.Close()
	if err := store.Close(); err != nil {
		fail(err)
	}
}

// TestCrashLoop kills a real bridge process at random moments — in a bbolt
// commit, between a publish and its ack, anywhere — while orders change, and
// then compares the stream with the sandbox's ground truth: nothing missing,
// nothing duplicated, nothing invented.
func TestCrashLoop(t *testing.T) {
	kills := 25
	if testing.Short() {
		kills = 5
	}
	h := newHarness(t)
	for range 30 {
		h.sb.CreateOrder(salesapitest.OrderSpec{})
	}
	epoch := h.clk.Now()
	start := time.Now()

	// The office works orders while the bridge crashes.
	stopMutating := make(chan struct{})
	var mutations sync.WaitGroup
	mutations.Add(1)
	go func() {
		defer mutations.Done()
		rng := rand.New(rand.NewPCG(11, 12))
		for {
			select {
			case <-stopMutating:
				return
			case <-time.After(time.Duration(2+rng.IntN(6)) * time.Millisecond):
			}
			mutate(h.sb, rng)
		}
	}()

	rng := rand.New(rand.NewPCG(3, 4))
	for i := range kills {
		cmd := h.startChild(t, epoch, start)
		// A random moment: the child's life is between 20 and 400 ms of
		// real time (up to four minutes of sandbox time).
		time.Sleep(time.Duration(20+rng.IntN(380)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		_ = cmd.Wait()
	}
	close(stopMutating)
	mutations.Wait()

	// A last run with no crash: everything the sandbox did must come out.
	h.start()
	h.settle()
	evs := h.events()
	h.checkTruth(evs)
	t.Logf("%d kills, %d changes in the sandbox, %d events in the stream", kills, len(h.sb.Changes()), len(evs))
}

// startChild starts a bridge process on the harness's state file. The
// parent's clock showed epoch at real time start; extra are more
// SALESBRIDGE_CRASH_* settings (RATE, INITIAL).
func (h *harness) startChild(tb testing.TB, epoch, start time.Time, extra ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"=1",
		"SALESBRIDGE_CRASH_EPOCH="+strconv.FormatInt(epoch.UnixNano(), 10),
		"SALESBRIDGE_CRASH_START="+strconv.FormatInt(start.UnixNano(), 10),
		"SALESBRIDGE_CRASH_STATE="+h.statePath(),
		"SALESBRIDGE_CRASH_API="+h.sb.URL,
		"SALESBRIDGE_CRASH_AUTH="+h.sb.AuthURL,
		"SALESBRIDGE_CRASH_ID="+h.sb.ClientID(),
		"SALESBRIDGE_CRASH_SECRET="+h.sb.ClientSecret(),
		"SALESBRIDGE_CRASH_NATS="+h.ns.ClientURL(),
	)
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return cmd
}

// mutate makes one random change, as the sales office or a visitor would.
func mutate(sb *salesapitest.Server, rng *rand.Rand) {
	orders := sb.Orders()
	if len(orders) == 0 || rng.IntN(10) == 0 {
		sb.CreateOrder(salesapitest.OrderSpec{})
		return
	}
	o := orders[rng.IntN(len(orders))]
	switch rng.IntN(4) {
	case 0, 1:
		for _, to := range rng.Perm(8) {
			if salesapitest.CanTransition(o.Status, salesapi.Status(to)) {
				_ = sb.SetStatus(o.ID, salesapi.Status(to))
				return
			}
		}
	case 2:
		_ = sb.SetFinalPrice(o.ID, int64(3_000_000+rng.IntN(20_000_000)))
	default:
		_ = sb.SetComment(o.ID, fmt.Sprintf("звонок %d", rng.IntN(1000)))
	}
}
