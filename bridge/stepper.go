package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// Stepper runs the bridge's poller one API call at a time, on a clock the
// caller moves, so that a simulated day runs in seconds: it is what the
// freshness benchmark drives. Each Step plans a call exactly as the running
// bridge does, makes it with the given API client and applies the answer
// to the state file in one transaction. There is no NATS and no relay: the
// events stay in the state's outbox, where the caller reads (and acks)
// them. Not safe for concurrent use.
type Stepper struct {
	p *poller
}

// StepperConfig configures a Stepper. ClientID is required; the zero value
// of every other field means its default.
type StepperConfig struct {
	ClientID string        // the events' source is "salesbridge/<ClientID>"
	Lookback time.Duration // how far back orders are tracked; default DefaultLookback
	OGRN     []string      // developers to filter by; none = all of the contract
	Initial  diff.First    // what the first sync emits (zero: FirstCreated)
	Rate     int           // calls per minute of the account, for the planner's arithmetic; default salesapi.DefaultRate
	// Naive selects the baseline planner instead of the sync planner: one
	// unfiltered sweep of the window after another, paging as if the
	// server answered oldest first, no head calls, no status filters.
	Naive  bool
	Clock  clock.Clock // default clock.Real()
	Logger *zap.Logger // default zap.NewNop()
}

// StepInfo describes one step.
type StepInfo struct {
	Kind      string         // the rule that chose the call: "sweep", "head" or "window"
	Query     salesapi.Query // the call
	Orders    int            // orders in the answer
	Full      bool           // the answer was a full page
	Events    int            // events added to the outbox
	SweepDone bool           // the step completed a sweep of the whole window
}

// SyncView is the planner's view of the tracked orders.
type SyncView struct {
	Ordering string // as learnt from the answers: "oldest-first", "newest-first", "unordered" or "unknown"
	Orders   int    // tracked
	Active   int    // in an active status
	Moved    int    // known to have changed, whose new state is not read yet
	// Incomplete holds the statuses the last sweep could not read whole
	// (more than a page of orders, and the server not oldest first), each
	// with the number of its orders the planner knows of: at least a page;
	// how many more there are the API does not say.
	Incomplete map[salesapi.Status]int
	// Staleness is, per status, the time since its stalest order was last
	// proved current.
	Staleness map[salesapi.Status]time.Duration
	// VolumeGap: the active orders need more calls per sweep than the
	// budget leaves for them.
	VolumeGap bool
}

// NewStepper returns a stepper polling api into store, resuming from what
// store holds.
func NewStepper(cfg StepperConfig, api OrderLister, store *state.Store) (*Stepper, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("stepper config: client id is required")
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = DefaultLookback
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	h := &health{}
	a := &applier{
		store:  store,
		clk:    cfg.Clock,
		events: events{prefix: DefaultPrefix, source: "salesbridge/" + cfg.ClientID, kvBucket: NamesFor(DefaultPrefix).OrdersBucket},
	}
	p := &poller{
		api: api, store: store, apply: a, clk: cfg.Clock, log: cfg.Logger, lookback: cfg.Lookback, ogrn: cfg.OGRN,
		initial: cfg.Initial, health: h, rate: cfg.Rate, naive: cfg.Naive,
	}
	if err := p.load(); err != nil {
		return nil, fmt.Errorf("stepper: %w", err)
	}
	return &Stepper{p: p}, nil
}

// Step spends one list call and applies its answer. On an error nothing of
// the answer is kept, and the next Step plans again.
func (s *Stepper) Step(ctx context.Context) (StepInfo, error) {
	r, err := s.p.step(ctx)
	return StepInfo{
		Kind: r.call.kind.String(), Query: r.call.query, Orders: r.orders, Full: r.full, Events: r.events, SweepDone: r.sweepDone,
	}, err
}

// LastSync returns when the last complete sweep of the window started.
func (s *Stepper) LastSync() time.Time { return s.p.pl.lastSync() }

// View returns the planner's view of the tracked orders.
func (s *Stepper) View() SyncView {
	now := s.p.clk.Now()
	r := s.p.pl.report(now)
	v := SyncView{
		Ordering: r.Ordering.String(), Orders: r.Orders, Active: r.Active, Moved: r.Moved, VolumeGap: r.VolumeGap,
		Incomplete: map[salesapi.Status]int{}, Staleness: map[salesapi.Status]time.Duration{},
	}
	for _, st := range salesapi.Statuses() {
		if n := r.Unreachable[st]; n > 0 {
			v.Incomplete[st] = n
		}
		if t := r.OldestSeen[st]; !t.IsZero() {
			v.Staleness[st] = now.Sub(t)
		}
	}
	return v
}
