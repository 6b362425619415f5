package bridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salesbridge/salesbridge/salesapi"
)

// budgeted is implemented by an API client that owns a call budget.
type budgeted interface {
	Budget() *salesapi.Budget
}

// ReadyWindow is how recent the last successful list call must be, on the
// bridge's clock, for the bridge to be ready.
const ReadyWindow = 5 * time.Minute

// BudgetStatus is the call budget as the status endpoint shows it.
type BudgetStatus struct {
	Rate        int        `json:"rate"`
	Used        int        `json:"used"`
	Free        int        `json:"free"`
	Next        *time.Time `json:"next"`
	PausedUntil *time.Time `json:"pausedUntil"`
}

// OutboxStatus is the outbox as the status endpoint shows it.
type OutboxStatus struct {
	Depth  int        `json:"depth"`
	Oldest *time.Time `json:"oldest"`
}

// OrdersStatus counts the tracked orders.
type OrdersStatus struct {
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"byStatus"`
}

// Status is the reply of the <prefix>.api.status endpoint.
type Status struct {
	Version  string       `json:"version"`
	ClientID string       `json:"clientId"`
	Budget   BudgetStatus `json:"budget"`
	LastSync *time.Time   `json:"lastSync"`
	Outbox   OutboxStatus `json:"outbox"`
	Orders   OrdersStatus `json:"orders"`
	Leader   bool         `json:"leader"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// Status reports the bridge's budget, progress and backlog. It reads the
// state file but spends no API call.
func (b *Bridge) Status() (Status, error) {
	s := Status{Version: b.cfg.Version, ClientID: b.cfg.ClientID, LastSync: timePtr(b.health.LastSync()), Leader: true}
	if bb, ok := b.api.(budgeted); ok {
		bud := bb.Budget()
		s.Budget = BudgetStatus{Rate: bud.Rate(), Used: bud.Used(), Free: bud.Free(), Next: timePtr(bud.Next()), PausedUntil: timePtr(bud.PausedUntil())}
	}
	depth, oldest, err := b.store.OutboxStats()
	if err != nil {
		return s, fmt.Errorf("outbox: %w", err)
	}
	s.Outbox = OutboxStatus{Depth: depth, Oldest: timePtr(oldest)}
	counts, err := b.store.Count()
	if err != nil {
		return s, fmt.Errorf("orders: %w", err)
	}
	s.Orders.ByStatus = map[string]int{}
	for st, n := range counts {
		s.Orders.ByStatus[st.String()] = n
		s.Orders.Total += n
	}
	return s, nil
}

// Ready reports why the bridge is not ready, or nil: NATS connected, the
// streams created, and a successful list call within ReadyWindow.
func (b *Bridge) Ready() error {
	var errs []error
	if b.nc.Status() != nats.CONNECTED {
		errs = append(errs, fmt.Errorf("nats %s", b.nc.Status()))
	}
	if !b.health.isSetUp() {
		errs = append(errs, errors.New("streams not created yet"))
	}
	last := b.health.lastPollSuccess()
	switch {
	case last.IsZero():
		errs = append(errs, errors.New("no successful API call yet"))
	case b.cfg.Clock.Now().Sub(last) > ReadyWindow:
		errs = append(errs, fmt.Errorf("no successful API call for %s", b.cfg.Clock.Now().Sub(last).Round(time.Second)))
	}
	return errors.Join(errs...)
}

// registerGauges adds the metrics read at scrape time.
func (b *Bridge) registerGauges() {
	m := b.cfg.Metrics
	if m == nil {
		return
	}
	if bb, ok := b.api.(budgeted); ok {
		bud := bb.Budget()
		m.gaugeFunc("salesbridge_budget_calls_used", "API calls spent in the current rolling window.", func() float64 { return float64(bud.Used()) })
		m.gaugeFunc("salesbridge_budget_calls_free", "API calls that may be sent now.", func() float64 { return float64(bud.Free()) })
		m.gaugeFunc("salesbridge_budget_rate", "API calls allowed per rolling minute.", func() float64 { return float64(bud.Rate()) })
	}
	m.gaugeFunc("salesbridge_nats_connected", "1 when the NATS connection is up.", func() float64 {
		if b.nc.Status() == nats.CONNECTED {
			return 1
		}
		return 0
	})
	m.register(&stateCollector{
		b:      b,
		depth:  prometheus.NewDesc("salesbridge_outbox_depth", "Messages waiting in the outbox.", nil, nil),
		age:    prometheus.NewDesc("salesbridge_outbox_oldest_age_seconds", "Age of the oldest message waiting in the outbox (0 when empty).", nil, nil),
		orders: prometheus.NewDesc("salesbridge_orders_tracked", "Orders in the state file, by status.", []string{"status"}, nil),
		sync:   prometheus.NewDesc("salesbridge_last_sync_timestamp_seconds", "Unix time when the last complete sync of the tracked window started (absent before the first).", nil, nil),
	})
}

// stateCollector reads the state file's counters at scrape time.
type stateCollector struct {
	b                        *Bridge
	depth, age, orders, sync *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
	ch <- c.orders
	ch <- c.sync
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if t := c.b.health.LastSync(); !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.sync, prometheus.GaugeValue, float64(t.UnixMilli())/1e3)
	}
	if depth, oldest, err := c.b.store.OutboxStats(); err == nil {
		age := 0.0
		if depth > 0 && !oldest.IsZero() {
			age = c.b.cfg.Clock.Now().Sub(oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(depth))
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
	}
	if counts, err := c.b.store.Count(); err == nil {
		for _, st := range salesapi.Statuses() {
			ch <- prometheus.MustNewConstMetric(c.orders, prometheus.GaugeValue, float64(counts[st]), st.String())
		}
	}
}
