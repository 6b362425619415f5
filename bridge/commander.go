package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// Defaults of the command settings of Config.
const (
	DefaultCommandDeadline = time.Hour
	DefaultCommandAckWait  = 2 * time.Minute
	// CommandRetentionMargin is added to the longer of the commands
	// stream's MaxAge and the duplicate window to get the ledger's
	// retention (8 days with the stream defaults).
	CommandRetentionMargin = 24 * time.Hour

	commandPruneEvery  = time.Hour        // clock time between two ledger prunes
	commandFetchWait   = 30 * time.Second // wall-clock life of one pull request
	firstCommandRetry  = 15 * time.Second // clock time before the first retry of a command
	maxCommandRetry    = 5 * time.Minute  // cap of the wait between two retries
	maxConsumeBackoff  = 30 * time.Second // cap of the wait after a failed pull
	ackTimeout         = 5 * time.Second  // wall-clock wait for the ack of an ack
	heartbeatsPerWait  = 3                // progress signals per AckWait while a command runs
	minRedeliveryDelay = time.Millisecond // NakWithDelay floor, wall-clock
)

// Log keys of the commander.
const (
	logCommand = "command"
	logOrder   = "order"
	logOutcome = "outcome"
)

// errCrashed is returned when the test hook asks the commander to behave as
// if the process died after committing an outcome.
var errCrashed = errors.New("simulated crash after the ledger commit")

// withCommandDefaults fills the command settings.
func (c Config) withCommandDefaults() Config {
	if c.CommandDeadline <= 0 {
		c.CommandDeadline = DefaultCommandDeadline
	}
	if c.CommandAckWait <= 0 {
		c.CommandAckWait = DefaultCommandAckWait
	}
	if c.CommandRetention <= 0 {
		o := c.Streams.withDefaults()
		c.CommandRetention = max(o.CommandsMaxAge, o.DuplicateWindow) + CommandRetentionMargin
	}
	return c
}

// validateCommands checks the command settings.
func (c *Config) validateCommands() error {
	if c.CommandDeadline < 0 || c.CommandAckWait < 0 || c.CommandRetention < 0 {
		return errors.New("command deadline, ack wait and retention must not be negative")
	}
	return nil
}

// commander executes commands: from the commands stream (one at a time, in
// stream order) and from the micro endpoint. All executions go through one
// mutex, so the ledger check, the PATCH and the outcome commit of one
// command never interleave with another's.
type commander struct {
	api       OrderPatcher
	store     *state.Store
	apply     *applier
	names     Names
	clk       clock.Clock
	log       *zap.Logger
	metrics   *Metrics
	gate      *pollGate
	deadline  time.Duration // clock time from the first take to giving up
	ackWait   time.Duration // wall-clock
	retention time.Duration // clock time
	// afterLedger, when set, is called after an outcome is committed and
	// before the message is acknowledged; true makes the commander drop the
	// message unacknowledged, as a crash at that point would (tests).
	afterLedger func(id string) bool
	// recover recreates the streams when the commands stream is gone (a
	// NATS server that lost its store); nil: wait for someone else to.
	recover func(context.Context) error

	mu sync.Mutex
}

// commandInput is a command as it arrived.
type commandInput struct {
	subject string
	msgID   string // the Nats-Msg-Id header
	body    []byte
}

// step is what one execution attempt decided.
type step struct {
	out   cmdOutcome
	final bool          // out is the command's outcome
	retry time.Duration // when not final: clock time to wait before the next attempt
}

// execute makes one attempt at a command. attempt counts the attempts
// (1 for the first); it sets the retry delay. An error means nothing was
// decided (the state file failed, or ctx ended): the command must be tried
// again later.
func (c *commander) execute(ctx context.Context, in commandInput, attempt int) (step, error) {
	cmd, bad := parseCommand(c.names.CommandPatchSubject(), in.msgID, in.body)
	if bad == nil && in.subject != c.names.CommandPatchSubject() && in.subject != c.names.APIPatchSubject() {
		bad = invalid("", "unknown command %q; patch commands go to %s", in.subject, c.names.CommandPatchSubject())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, found, err := c.store.Command(cmd.ID)
	if err != nil {
		return step{}, fmt.Errorf("read ledger: %w", err)
	}
	if found && rec.State == state.CommandDone {
		return c.repeat(cmd, rec)
	}
	now := c.clk.Now()
	taken := now
	if found {
		taken = rec.At // the deadline runs from the first take
	}
	if bad != nil {
		return c.finish(cmd, taken, now, &cmdOutcome{CommandID: cmd.ID, OrderID: cmd.OrderID, Error: bad}, nil)
	}
	deadline := taken.Add(c.deadline)
	if !now.Before(deadline) {
		last := string(rec.Outcome) // a started record keeps the last transient error
		return c.finish(cmd, taken, now, &cmdOutcome{CommandID: cmd.ID, OrderID: cmd.OrderID, Error: c.unavailable(found, last, 0)}, nil)
	}
	if !found {
		start := state.Command{ID: cmd.ID, OrderID: cmd.OrderID, State: state.CommandStarted, At: now}
		if err := c.store.Apply(state.Batch{Commands: []state.Command{start}}); err != nil {
			return step{}, fmt.Errorf("record command start: %w", err)
		}
	}

	pctx, stop, expired := untilClock(ctx, c.clk, deadline)
	order, err := c.api.PatchOrder(salesapi.WithPriority(pctx, salesapi.PriorityCommand), cmd.OrderID, cmd.Patch)
	stop()
	answered := c.clk.Now()
	if err == nil {
		body, perr := c.apply.events.pii.order(order.Raw)
		if perr != nil {
			// The API said yes but its answer cannot be shown: the
			// outcome is still a success; the poll publishes the order.
			c.log.Warn("patched order unreadable", zap.String(logCommand, cmd.ID), zap.Error(perr))
			return c.finish(cmd, taken, answered, &cmdOutcome{CommandID: cmd.ID, OrderID: cmd.OrderID, OK: true}, nil)
		}
		return c.finish(cmd, taken, answered, &cmdOutcome{CommandID: cmd.ID, OrderID: cmd.OrderID, OK: true, Order: body}, &order)
	}
	if ctx.Err() != nil {
		return step{}, ctx.Err() // stopping: the command stays started and runs again
	}
	oe := classify(cmd.OrderID, err)
	if oe == nil && (expired() || !answered.Before(deadline)) {
		last := err.Error()
		if expired() && errors.Is(err, context.Canceled) && !strings.Contains(last, "last attempt") {
			last = "the call was still waiting for the budget or for the API's answer"
		}
		oe = c.unavailable(found, last, httpStatus(err))
	}
	if oe != nil {
		if found && oe.Code == CodeRejected {
			oe.Message += " (an earlier attempt of this command may already have been applied)"
		}
		return c.finish(cmd, taken, answered, &cmdOutcome{CommandID: cmd.ID, OrderID: cmd.OrderID, Error: oe}, nil)
	}
	// Transient: keep the error for the final outcome and try again later.
	c.log.Warn("command failed; will try again", zap.String(logCommand, cmd.ID), zap.Int64(logOrder, cmd.OrderID),
		zap.Int("attempt", attempt), zap.Error(err))
	last := state.Command{ID: cmd.ID, OrderID: cmd.OrderID, State: state.CommandStarted, At: taken, Outcome: []byte(clip(err.Error(), maxOutcomeMessage))}
	if err := c.store.Apply(state.Batch{Commands: []state.Command{last}}); err != nil {
		c.log.Warn("record command error", zap.String(logCommand, cmd.ID), zap.Error(err))
	}
	return step{retry: min(retryDelay(attempt), deadline.Sub(answered))}, nil
}

// unavailable is the error of a command whose deadline passed.
func (c *commander) unavailable(resumed bool, last string, status int) *outcomeError {
	msg := fmt.Sprintf("the API did not take the command within its deadline (%s after the bridge took it)", c.deadline)
	if resumed && last == "" {
		msg += "; an earlier attempt was interrupted, so it may have been applied: check the order"
	}
	if last != "" {
		msg += "; last error: " + clip(last, maxOutcomeMessage)
	}
	return &outcomeError{Code: CodeUnavailable, Message: msg, HTTPStatus: status}
}

func httpStatus(err error) int {
	var ae *salesapi.APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// retryDelay is the wait before attempt n+1: 15 s doubling to 5 min.
func retryDelay(n int) time.Duration {
	d := firstCommandRetry
	for i := 1; i < n && d < maxCommandRetry; i++ {
		d *= 2
	}
	return min(d, maxCommandRetry)
}

// finish commits an outcome: the ledger record, the outcome message and,
// for a successful PATCH, the order's new snapshot with its change events
// (caused by the command), in one transaction. at is when the outcome was
// decided.
func (c *commander) finish(cmd patchCommand, taken, at time.Time, out *cmdOutcome, order *salesapi.Order) (step, error) {
	now := c.clk.Now()
	msg, err := c.apply.events.outcomeMessage(out, at, now)
	if err != nil {
		return step{}, err
	}
	obs := observation{
		commands: []state.Command{{ID: cmd.ID, OrderID: cmd.OrderID, State: state.CommandDone, Outcome: msg.Data}},
		messages: []state.Message{msg},
	}
	if order != nil {
		obs.orders = []salesapi.Order{*order}
		obs.first = diff.FirstCreated
		obs.causedBy = cmd.ID
		err = c.gate.commandWrite(*order, func() error { _, err := c.apply.apply(obs); return err })
	} else {
		_, err = c.apply.apply(obs)
	}
	if err != nil {
		return step{}, fmt.Errorf("record outcome: %w", err)
	}
	c.metrics.commandDone(out.code(), now.Sub(taken))
	c.log.Info("command done", zap.String(logCommand, cmd.ID), zap.Int64(logOrder, cmd.OrderID), zap.String(logOutcome, out.code()))
	if c.afterLedger != nil && c.afterLedger(cmd.ID) {
		return step{}, errCrashed
	}
	return step{out: *out, final: true}, nil
}

// repeat answers a command whose id has an outcome already: the recorded
// outcome is published again (JetStream drops it as a duplicate within its
// window; subscribers of the subject see it) and returned.
func (c *commander) repeat(cmd patchCommand, rec state.Command) (step, error) {
	out, err := recordedOutcome(rec.Outcome)
	if err != nil {
		return step{}, err
	}
	msg := state.Message{
		Subject: c.names.CommandResultSubject(cmd.ID),
		Header:  map[string]string{headerMsgID: outcomeEventID(cmd.ID), headerContentType: contentTypeCE},
		Data:    rec.Outcome,
	}
	if _, err := c.apply.apply(observation{messages: []state.Message{msg}}); err != nil {
		return step{}, fmt.Errorf("republish outcome: %w", err)
	}
	c.log.Info("command repeated; outcome published again", zap.String(logCommand, cmd.ID), zap.String(logOutcome, out.code()))
	return step{out: out, final: true}, nil
}

// executeSync runs a command to its outcome, retrying in place (the micro
// endpoint has no queue to hand it back to).
func (c *commander) executeSync(ctx context.Context, in commandInput) (cmdOutcome, error) {
	for attempt := 1; ; attempt++ {
		st, err := c.execute(ctx, in, attempt)
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, errCrashed)):
			return cmdOutcome{}, err
		case err != nil:
			c.log.Warn("command not executed; will try again", zap.Error(err))
			st.retry = retryDelay(attempt)
		case st.final:
			return st.out, nil
		}
		if err := clock.Sleep(ctx, c.clk, st.retry); err != nil {
			return cmdOutcome{}, err
		}
	}
}

// untilClock returns a context that ends at ctx's end or when the clock
// reaches at, a stop function that must be called, and whether the clock
// ended it.
func untilClock(ctx context.Context, clk clock.Clock, at time.Time) (context.Context, func(), func() bool) {
	cctx, cancel := context.WithCancel(ctx)
	var fired atomic.Bool
	t := clk.NewTimer(at.Sub(clk.Now()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-t.C():
			fired.Store(true)
			cancel()
		case <-cctx.Done():
		}
	}()
	stop := func() {
		cancel()
		t.Stop()
		<-done
	}
	return cctx, stop, fired.Load
}

// consumerConfig is the bridge's durable pull consumer on the commands
// stream. MaxAckPending 1 makes it strictly sequential: no command is
// delivered before the one ahead of it is acknowledged, even while that
// one waits for a retry (NakWithDelay), so commands for one order run in
// the order they arrived.
func (c *commander) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       CommandConsumer,
		Description:   "salesbridge: executes the commands in order, one at a time",
		FilterSubject: c.names.Prefix + ".cmd.order.>", // as the stream: other commands get an invalid outcome
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.ackWait,
		MaxDeliver:    -1, // the command's deadline ends it, not a count
		MaxAckPending: 1,
	}
}

// consume takes commands from the commands stream until ctx ends.
func (c *commander) consume(ctx context.Context, js jetstream.JetStream) error {
	log := c.log
	failures := 0
	for ctx.Err() == nil {
		cons, err := js.CreateOrUpdateConsumer(ctx, c.names.CommandsStream, c.consumerConfig())
		if err == nil {
			err = c.pull(ctx, cons)
		}
		if ctx.Err() != nil {
			break
		}
		failures++
		wait := min(time.Duration(failures)*time.Second, maxConsumeBackoff)
		log.Warn("take commands; trying again", zap.Error(err), zap.Duration("retry_in", wait))
		if isStreamMissing(err) && c.recover != nil {
			if rerr := c.recover(ctx); rerr != nil {
				log.Warn("recreate streams", zap.Error(rerr))
			}
		}
		if clock.Sleep(ctx, c.clk, wait) != nil {
			break
		}
	}
	return nil
}

// pull fetches and handles one command at a time until ctx ends or the
// consumer fails.
func (c *commander) pull(ctx context.Context, cons jetstream.Consumer) error {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, commandFetchWait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return fmt.Errorf("fetch command: %w", err)
		}
		for msg := range batch.Messages() {
			c.handle(ctx, msg)
		}
		err = batch.Error()
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("fetch command: %w", err)
		}
	}
	return nil
}

// handle executes a command from the stream and settles its message: ack
// once the outcome is committed, a delayed redelivery for a retry, an
// immediate one when the bridge is stopping.
func (c *commander) handle(ctx context.Context, msg jetstream.Msg) {
	n := 1
	if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 0 {
		n = int(meta.NumDelivered)
	}
	stopBeat := heartbeat(msg, c.ackWait/heartbeatsPerWait)
	st, err := c.execute(ctx, commandInput{subject: msg.Subject(), msgID: msg.Headers().Get(headerMsgID), body: msg.Data()}, n)
	stopBeat()
	var serr error
	switch {
	case errors.Is(err, errCrashed):
		return // left unacknowledged, as by a crash: JetStream redelivers it after AckWait
	case err != nil && ctx.Err() != nil:
		serr = msg.Nak() // for the next start, without waiting for AckWait
	case err != nil:
		c.log.Warn("command not executed; will try again", zap.Error(err))
		serr = msg.NakWithDelay(c.wallClock(retryDelay(n)))
	case !st.final:
		serr = msg.NakWithDelay(c.wallClock(st.retry))
	default:
		actx, cancel := context.WithTimeout(context.Background(), ackTimeout)
		serr = msg.DoubleAck(actx)
		cancel()
	}
	if serr != nil {
		// A lost ack means a redelivery, which the ledger answers.
		c.log.Warn("settle command message", zap.Error(serr))
	}
}

// wallClock converts a clock duration into wall-clock time (for JetStream,
// which runs on the wall clock).
func (c *commander) wallClock(d time.Duration) time.Duration {
	return max(time.Duration(float64(d)/clock.Speed(c.clk)), minRedeliveryDelay)
}

// heartbeat tells JetStream every interval (wall-clock) that msg is still
// being worked on, so a long execution does not reach AckWait. The
// returned function stops it.
func heartbeat(msg jetstream.Msg, every time.Duration) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(max(every, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// prune removes ledger records older than the retention, now and then
// every hour, until ctx ends.
func (c *commander) prune(ctx context.Context) error {
	for {
		n, err := c.store.PruneCommands(c.clk.Now().Add(-c.retention))
		switch {
		case err != nil:
			c.log.Warn("prune command ledger", zap.Error(err))
		case n > 0:
			c.log.Info("pruned command ledger", zap.Int("records", n))
		}
		if clock.Sleep(ctx, c.clk, commandPruneEvery) != nil {
			return nil
		}
	}
}
