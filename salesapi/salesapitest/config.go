package salesapitest

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
)

// Defaults of Config.
const (
	DefaultClientID     = "app-ext-sandbox.1027700000001.eisgs"
	DefaultClientSecret = "sandbox-secret-8f3a1c" // a fixed, public sandbox secret
	DefaultTokenTTL     = 300 * time.Second
	DefaultMaxTokens    = 20
	DefaultRate         = salesapi.DefaultRate // calls per RateWindow per client
	DefaultAddr         = "127.0.0.1:0"

	// RateWindow is the rolling window of the rate limit, on the sandbox clock.
	RateWindow = time.Minute
	// UnprocessedAfter is how long an order stays NEW before the system
	// marks it UNPROCESSED (spec §6.4).
	UnprocessedAfter = 72 * time.Hour
	// DefaultListWindow is the default of beginCreatedAt: orders of the last
	// 24 hours of the sandbox clock.
	DefaultListWindow = 24 * time.Hour
)

// Paths of the server, as in the spec; URL and AuthURL end in them.
const (
	APIPath   = "/api/eisgs/sales-module/v2/"
	AuthPath  = "/idm-services/auth/realms/external-eisgs-idm/"
	TokenPath = "protocol/openid-connect/token" // under AuthPath
)

// DefaultOGRNs returns the developers of the default contract.
func DefaultOGRNs() []string { return []string{"1027700000001", "1037700000002"} }

// Ordering is the order in which a list answer gives orders. The spec does not
// say; the bridge must cope with each.
type Ordering int

// The orderings. The limit applies after ordering: OldestFirst returns the
// oldest orders created at or after beginCreatedAt, NewestFirst the newest,
// Shuffled a seeded random choice.
const (
	OldestFirst Ordering = iota // by createdAt, ties by id ascending
	NewestFirst                 // by createdAt descending, ties by id descending
	Shuffled                    // a random permutation, seeded by Config.Seed
)

var orderingNames = [...]string{"oldest", "newest", "shuffled"}

// String returns "oldest", "newest" or "shuffled".
func (o Ordering) String() string {
	if o >= 0 && int(o) < len(orderingNames) {
		return orderingNames[o]
	}
	return fmt.Sprintf("Ordering(%d)", int(o))
}

// ParseOrdering accepts "oldest", "newest" or "shuffled".
func ParseOrdering(s string) (Ordering, error) {
	for i, n := range orderingNames {
		if strings.EqualFold(s, n) {
			return Ordering(i), nil
		}
	}
	return 0, fmt.Errorf("unknown ordering %q (want oldest, newest or shuffled)", s)
}

// Config configures a Server. The zero value is a quiet sandbox on the real
// clock with the default account and contract, no generated traffic.
type Config struct {
	Clock        clock.Clock   // default clock.Real()
	ClientID     string        // default DefaultClientID
	ClientSecret string        // default DefaultClientSecret
	OGRNs        []string      // the contract's developers; default DefaultOGRNs()
	Rate         int           // calls per RateWindow per client; 0 = DefaultRate; negative = unlimited
	TokenTTL     time.Duration // lifetime of a token; default DefaultTokenTTL (300 s)
	MaxTokens    int           // unexpired tokens per client; default DefaultMaxTokens
	Order        Ordering      // of list answers; default OldestFirst
	Seed         int64         // seeds generated data, traffic and Shuffled
	Addr         string        // listen address; default DefaultAddr
	Logger       *zap.Logger   // default zap.NewNop(); personal data is never logged

	// Listener, if set, is served instead of listening on Addr.
	Listener net.Listener
	// Traffic, if set, runs the traffic generator (see Traffic). Nil gives a
	// quiet sandbox: orders change only through the API, the direct
	// mutation methods, Populate, and the system's UNPROCESSED rule.
	Traffic *Traffic
	// ExtraFields are added to every order the API writes, to test that
	// clients pass unknown fields through. A key "flat.x" or "object.x" adds
	// x inside that object; any other key is added at the top level. Values
	// are encoded with encoding/json. SetExtraFields changes them later.
	ExtraFields map[string]any
}

// Traffic configures the traffic generator. Zero fields take the defaults;
// negative rates and shares mean none.
type Traffic struct {
	// Orders is how many orders are seeded at start, created at random times
	// over the History before now, and lived up to now.
	Orders int
	// History is how far back the seeded orders go; default 30 days.
	History time.Duration
	// OrdersPerDay is how many orders visitors create per day of the
	// sandbox clock from start on (a Poisson process); default 1000,
	// which at --speed 60 makes a few changes a second.
	OrdersPerDay float64
	// OfficeReaction is the mean time before the office first works a new
	// order; default 3 h.
	OfficeReaction time.Duration
	// OfficeStep is the mean time between two steps of the office on an
	// order (status, price, comment); default 12 h.
	OfficeStep time.Duration
	// Neglect is the share of orders the office leaves alone for more than
	// three days, so they turn UNPROCESSED; default 0.12.
	Neglect float64
	// Cancel is the share of orders their visitors cancel; default 0.08.
	Cancel float64
}

// Defaults of Traffic.
const (
	DefaultHistory        = 30 * 24 * time.Hour
	DefaultOrdersPerDay   = 1000.0
	DefaultOfficeReaction = 3 * time.Hour
	DefaultOfficeStep     = 12 * time.Hour
	DefaultNeglect        = 0.12
	DefaultCancel         = 0.08
)

func (t Traffic) withDefaults() Traffic {
	if t.History <= 0 {
		t.History = DefaultHistory
	}
	if t.OrdersPerDay == 0 {
		t.OrdersPerDay = DefaultOrdersPerDay
	}
	if t.OfficeReaction <= 0 {
		t.OfficeReaction = DefaultOfficeReaction
	}
	if t.OfficeStep <= 0 {
		t.OfficeStep = DefaultOfficeStep
	}
	if t.Neglect == 0 {
		t.Neglect = DefaultNeglect
	}
	if t.Cancel == 0 {
		t.Cancel = DefaultCancel
	}
	return t
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.ClientSecret == "" {
		c.ClientSecret = DefaultClientSecret
	}
	if len(c.OGRNs) == 0 {
		c.OGRNs = DefaultOGRNs()
	} else {
		c.OGRNs = append([]string(nil), c.OGRNs...)
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = DefaultMaxTokens
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// encodeExtra encodes extra fields once, so that writing an order does not.
func encodeExtra(m map[string]any) (map[string]json.RawMessage, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("extra field %q: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}
