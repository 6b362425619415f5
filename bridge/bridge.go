package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/state"
)

// Defaults of Config.
const (
	DefaultPrefix   = "salesbridge"
	DefaultLookback = 90 * 24 * time.Hour
)

// Config holds the bridge's settings. The zero value of every optional field
// means its default.
type Config struct {
	Prefix   string        // subject prefix; default DefaultPrefix
	ClientID string        // the API account; the events' source is "salesbridge/<ClientID>" (required)
	Lookback time.Duration // how far back orders are tracked; default 90 days
	OGRN     []string      // developers to filter by; none = all of the contract
	Initial  diff.First    // what the first sync emits; default FirstSnapshot
	PII      PII           // personal data in events and KV; default PIIFull

	Streams      StreamOptions
	FlushTimeout time.Duration // how long a stopping bridge keeps publishing; default 10 s
	RelayBatch   int           // outbox messages published at a time (acks in flight); default 512

	Version string // shown by the status endpoint and the micro service

	// Commands (see command.go).
	CommandDeadline  time.Duration // clock time from when the bridge first takes a command until it fails as unavailable; default 1 h
	CommandAckWait   time.Duration // AckWait of the commands consumer, wall-clock; default 2 min
	CommandRetention time.Duration // clock time the command ledger remembers an id; default the longer of Streams.CommandsMaxAge and Streams.DuplicateWindow, plus a day

	// afterLedger is a test hook (set by export_test.go): see commander.
	afterLedger func(id string) bool

	Clock   clock.Clock // default clock.Real()
	Logger  *zap.Logger // default zap.NewNop()
	Metrics *Metrics    // nil: no metrics
}

// Validate checks the settings that have no default.
func (c *Config) Validate() error {
	var errs []error
	if c.ClientID == "" {
		errs = append(errs, errors.New("client id is required"))
	}
	if c.Lookback < 0 {
		errs = append(errs, fmt.Errorf("lookback %s is negative", c.Lookback))
	}
	if c.Initial < diff.FirstCreated || c.Initial > diff.FirstNone {
		errs = append(errs, fmt.Errorf("initial mode %d unknown", c.Initial))
	}
	if err := c.validateCommands(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Lookback == 0 {
		c.Lookback = DefaultLookback
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.RelayBatch <= 0 {
		c.RelayBatch = DefaultRelayBatch
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c.withCommandDefaults()
}

// Bridge is the running salesbridge: the poller, the relay and their shared
// state. Create it with New and run it with Run.
type Bridge struct {
	cfg    Config
	names  Names
	api    API
	store  *state.Store
	nc     *nats.Conn
	js     jetstream.JetStream
	health *health
	apply  *applier
	cmd    *commander
	sync   *syncStats // the sync planner's last report
}

// New returns a bridge that polls api, keeps its state in store and
// publishes through nc. The caller keeps ownership of store and nc and
// closes them after Run returns.
func New(cfg Config, api API, store *state.Store, nc *nats.Conn) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bridge config: %w", err)
	}
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*cfg.RelayBatch), jetstream.WithPublishAsyncTimeout(publishAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	names := NamesFor(cfg.Prefix)
	h := newHealth(cfg, nc, store)
	b := &Bridge{cfg: cfg, names: names, api: api, store: store, nc: nc, js: js, health: h}
	b.apply = &applier{
		store:   store,
		clk:     cfg.Clock,
		events:  events{prefix: cfg.Prefix, source: "salesbridge/" + cfg.ClientID, pii: cfg.PII, kvBucket: names.OrdersBucket},
		emitted: h.eventsEmitted,
	}
	b.cmd = &commander{
		api: api, store: store, apply: b.apply, names: names, clk: cfg.Clock, log: cfg.Logger.Named("commander"),
		metrics: cfg.Metrics, gate: newPollGate(api), deadline: cfg.CommandDeadline, ackWait: cfg.CommandAckWait,
		retention: cfg.CommandRetention, afterLedger: cfg.afterLedger,
	}
	b.registerGauges()
	b.sync = &syncStats{}
	b.registerSyncMetrics()
	return b, nil
}

// Names returns the NATS names the bridge uses.
func (b *Bridge) Names() Names { return b.names }

// Run creates or updates the streams and buckets, then polls and publishes
// until ctx ends. On the way out it stops polling, publishes what it can of
// the outbox within the flush timeout and returns; what is left is
// published at the next start.
func (b *Bridge) Run(ctx context.Context) error {
	log := b.cfg.Logger
	if err := b.setup(ctx); err != nil {
		return err
	}
	log.Info("bridge running", zap.String("events_stream", b.names.EventsStream), zap.String("prefix", b.cfg.Prefix))
	g, gctx := errgroup.WithContext(ctx)
	p := &poller{
		api: b.cmd.gate, store: b.store, apply: b.apply, clk: b.cfg.Clock, log: log.Named("poller"),
		lookback: b.cfg.Lookback, ogrn: b.cfg.OGRN, initial: b.cfg.Initial, health: b.health,
		rate: b.rate(), stats: b.sync,
	}
	r := &relay{
		store: b.store, js: b.js, clk: b.cfg.Clock, log: log.Named("relay"), prefix: b.cfg.Prefix, batch: b.cfg.RelayBatch,
		flush: b.cfg.FlushTimeout, health: b.health, recover: b.recreate,
	}
	b.cmd.recover = b.recreate
	g.Go(func() error {
		defer b.cmd.gate.release()
		return p.run(gctx)
	})
	g.Go(func() error { return r.run(gctx) })
	g.Go(func() error { return b.cmd.consume(gctx, b.js) })
	g.Go(func() error { return b.cmd.prune(gctx) })
	g.Go(func() error { return b.serve(gctx) })
	g.Go(func() error { return b.health.watch(gctx) })
	err := g.Wait()
	log.Info("bridge stopped")
	return err
}

// recreate creates the streams and buckets again, with the schemas, after
// NATS lost them (a server that came back without its store).
func (b *Bridge) recreate(ctx context.Context) error {
	if err := ensureStreams(ctx, b.js, b.names, b.cfg.Streams); err != nil {
		return err
	}
	return publishSchemas(ctx, b.js, b.names.SchemasBucket)
}

// setup creates the streams and buckets, retrying while NATS is unreachable.
func (b *Bridge) setup(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := ensureStreams(sctx, b.js, b.names, b.cfg.Streams)
		if err == nil {
			err = publishSchemas(sctx, b.js, b.names.SchemasBucket)
		}
		cancel()
		if err == nil {
			b.health.markSetUp()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := min(time.Duration(attempt)*2*time.Second, 30*time.Second)
		b.cfg.Logger.Warn("create streams; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		if err := clock.Sleep(ctx, b.cfg.Clock, wait); err != nil {
			return err
		}
	}
}
