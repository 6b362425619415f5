package bridge_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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
	cfg := bridge.Config{ClientID: env("ID"), Initial: initial, Clock: clk, FlushTimeout: 2 * time.Second}
	if d, err := time.ParseDuration(env("ACKWAIT")); err == nil {
		cfg.CommandAckWait = d
	}
	if d, err := time.ParseDuration(env("DEADLINE")); err == nil {
		cfg.CommandDeadline = d
	}
	if env("LOG") != "" { // warnings as JSON lines on stderr, for the parent to read
		cfg.Logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.Lock(os.Stderr), zap.WarnLevel))
	}
	b, err := bridge.New(cfg, client, store, nc)
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
// commit, between a publish and its ack, between a PATCH and its ledger
// record, anywhere — while orders change and commands arrive, and then
// compares the stream with the sandbox's ground truth: nothing missing,
// nothing duplicated, nothing invented; every command has exactly one
// outcome and no command's change was applied twice.
//
// The kill moments rotate through four aims: a random moment (the child
// lives 20–400 ms, up to four minutes of sandbox time); right after
// JetStream stored an event (before the relay has processed its ack and
// deleted it from the outbox); a few milliseconds after the sandbox
// answered a list call (the poller diffs and commits that answer in one
// bbolt transaction); right after the sandbox answered a PATCH (before the
// outcome is in the ledger).
func TestCrashLoop(t *testing.T) {
	kills := 32
	if testing.Short() {
		kills = 6
	}
	h := newHarness(t, func(h *harness, _ *salesapitest.Config) {
		// The command a killed child held is delivered again after this
		// (wall-clock); the default, two minutes, would outlast the test.
		h.cfg.CommandAckWait = 300 * time.Millisecond
	})
	for range 30 {
		h.sb.CreateOrder(salesapitest.OrderSpec{})
	}
	// Orders only commands change, so that a change applied twice would
	// show in the sandbox's history.
	reserved := map[int64]bool{}
	for _, o := range h.sb.CreateOrders(8, salesapitest.OrderSpec{}) {
		reserved[o.ID] = true
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
			mutateOthers(h.sb, rng, reserved)
		}
	}()

	// Commands arrive on the commands stream, which keeps them while the
	// bridge is down.
	cmds := newCrashCommands(h, reserved)
	stopCommands := make(chan struct{})
	var commanding sync.WaitGroup
	commanding.Add(1)
	go func() {
		defer commanding.Done()
		rng := rand.New(rand.NewPCG(13, 14))
		for {
			select {
			case <-stopCommands:
				return
			case <-time.After(time.Duration(30+rng.IntN(60)) * time.Millisecond):
			}
			cmds.send(rng)
		}
	}()

	// The parent sees each event as JetStream stores it.
	stored := make(chan struct{}, 1)
	sub, err := h.nc.Subscribe(h.names.Prefix+".order.>", func(*nats.Msg) {
		select {
		case stored <- struct{}{}:
		default:
		}
	})
	must(t, err)
	defer sub.Unsubscribe()

	rng := rand.New(rand.NewPCG(3, 4))
	aims := []string{"random", "event stored", "list answered", "PATCH answered"}
	hits := map[string]int{}
	for i := range kills {
		aim := aims[i%len(aims)]
		requests := len(h.sb.Requests())
		drain(stored)
		// A command a killed child held comes back soon; commands outlive
		// the whole loop.
		cmd := h.startChild(t, epoch, start, "SALESBRIDGE_CRASH_ACKWAIT=300ms", "SALESBRIDGE_CRASH_DEADLINE=48h")
		// A random moment: the child's life is between 20 and 400 ms of
		// real time (up to four minutes of sandbox time). An aimed kill
		// waits up to a second for its moment.
		lifetime := time.Duration(20+rng.IntN(380)) * time.Millisecond
		if aim != "random" {
			lifetime = time.Second
		}
		life := time.After(lifetime)
		hit := false
		switch aim {
		case "random":
			<-life
			hit = true
		case "event stored":
			select {
			case <-stored:
				hit = true
			case <-life:
			}
		default:
			method := http.MethodGet
			if aim == "PATCH answered" {
				method = http.MethodPatch
			}
			hit = h.waitRequest(method, requests, life)
			if hit && aim == "list answered" {
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			}
		}
		if hit {
			hits[aim]++
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		_ = cmd.Wait()
	}
	close(stopMutating)
	close(stopCommands)
	mutations.Wait()
	commanding.Wait()

	// A last run with no crash: everything the sandbox did must come out,
	// and every command must have its outcome.
	h.start()
	for _, c := range cmds.sent {
		h.outcome(c.id)
	}
	h.settle()
	evs := h.relEvents()
	h.checkTruth(orderEvents(evs))
	cmds.check(evs)
	var aimed []string
	for _, a := range aims {
		aimed = append(aimed, fmt.Sprintf("%d %s", hits[a], a))
	}
	relReport(t, "SIGKILL of the bridge process", kills, h.relTally(evs, 0),
		fmt.Sprintf("kills aimed at: %s; %d changes in the sandbox", strings.Join(aimed, ", "), len(h.sb.Changes())))
	relReport(t, "SIGKILL with commands in flight", len(cmds.sent), cmds.tally,
		fmt.Sprintf("%d commands, each one outcome (%s); %d PATCH calls, no change applied twice; %d answers 429",
			len(cmds.sent), cmds.outcomes(), h.patches(), h.count429()))
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
func mutate(sb *salesapitest.Server, rng *rand.Rand) { mutateOthers(sb, rng, nil) }

// mutateOthers is mutate that leaves the orders in reserved alone.
func mutateOthers(sb *salesapitest.Server, rng *rand.Rand, reserved map[int64]bool) {
	orders := slices.DeleteFunc(sb.Orders(), func(o salesapi.Order) bool { return reserved[o.ID] })
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
