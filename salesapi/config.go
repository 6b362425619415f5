package salesapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
)

// Defaults of Config.
const (
	DefaultAPIURL  = "https://gateway.domapi.domrf.ru/api/eisgs/sales-module/v2/"
	DefaultAuthURL = "https://xn--80az8a.xn--d1aqf.xn--p1ai/idm-services/auth/realms/external-eisgs-idm/"
	// DefaultTimeout bounds one attempt (connect, send, read the whole
	// answer) and one token fetch, in wall-clock time.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxBodyBytes caps an answer's size, in bytes (32 MiB; a full
	// page of 100 orders is well under 1 MiB).
	DefaultMaxBodyBytes = 32 << 20
	// RateWindow is the window of the spec's rate limit, in clock time.
	RateWindow = time.Minute
	// WindowMargin is added to RateWindow by the Client's budget: a slot is
	// counted for 61 s instead of 60 s, so that clock skew with the server
	// and the time a request spends in transit never make the server count
	// more calls in its window than we did in ours.
	WindowMargin = time.Second
	// TransitMargin is the wall-clock time a request may spend on its way to
	// the server. It is added to the window too, converted to clock time:
	// nothing on a real clock, but on an accelerated one (the demo, the
	// tests) a millisecond of transit is many clock seconds.
	TransitMargin = 20 * time.Millisecond
)

// budgetWindow is the window the Client's budget counts slots in: the
// spec's minute, the skew margin, and the transit margin in clock time.
func budgetWindow(clk clock.Clock) time.Duration {
	w := RateWindow + WindowMargin
	if speed := clock.Speed(clk); speed > 1 {
		w += time.Duration(float64(TransitMargin) * speed)
	}
	return w
}

// Config configures a Client. ClientID and ClientSecret are required; every
// other field has a default, applied by New.
type Config struct {
	// APIURL is the API's base URI, ending in "/v2/" (DefaultAPIURL).
	APIURL string
	// AuthURL is the Keycloak realm's base URI; the token endpoint is
	// AuthURL + TokenPath (DefaultAuthURL).
	AuthURL string
	// ClientID and ClientSecret are the account's credentials. The secret
	// is sent to the token endpoint only, and never logged or quoted.
	ClientID, ClientSecret string
	// Rate is the number of calls allowed per RateWindow, GET and PATCH
	// together (DefaultRate, 10).
	Rate int
	// Clock is the time source of the budget, the retries and token expiry
	// (clock.Real()).
	Clock clock.Clock
	// HTTPClient sends the requests (a client of its own with keep-alive
	// connections, closed by Close). Its Timeout should be zero: attempts
	// are bounded by Timeout.
	HTTPClient *http.Client
	// Timeout bounds one attempt and one token fetch, in wall-clock time
	// (DefaultTimeout, 30 s).
	Timeout time.Duration
	// UserAgent is sent with every request ("salesbridge/<module version>").
	UserAgent string
	// Logger receives debug lines for calls and warnings for retries, rate
	// limits and token failures; never bodies, tokens or the secret
	// (zap.NewNop()).
	Logger *zap.Logger
	// Hooks are called for metrics.
	Hooks Hooks
	// MaxBodyBytes caps the size of an answer, in bytes
	// (DefaultMaxBodyBytes, 32 MiB). A longer answer is an error wrapping
	// ErrTooLarge.
	MaxBodyBytes int64
	// MaxRetries is how many times a call is retried after a retryable
	// failure (DefaultMaxRetries, 4); a negative value disables retries.
	MaxRetries int
	// RetryInitial and RetryMax are the first and the largest backoff
	// interval, in clock time (DefaultRetryInitial 1 s, DefaultRetryMax
	// 30 s). Intervals are jittered by ±50 %, and never shorter than the
	// server's Retry-After.
	RetryInitial, RetryMax time.Duration
}

// Hooks are optional callbacks for metrics. They are called synchronously
// on the calling goroutine, so they must be quick and must not call the
// Client.
type Hooks struct {
	// Call is called after every attempt that was sent (including ones
	// that failed in transit).
	Call func(CallInfo)
	// Retry is called before a call is retried, with the error that made
	// it retry.
	Retry func(method string, err error)
	// Token is called after every token fetch, with nil on success.
	Token func(err error)
	// RateLimited is called on every 429, with the pause it caused.
	RateLimited func(retryAfter time.Duration)
}

// CallInfo describes one attempt of a call.
type CallInfo struct {
	Method     string        // GET or PATCH
	Endpoint   string        // "orders" or "order"
	StatusCode int           // HTTP status, 0 if no answer arrived
	Duration   time.Duration // from sending to the end of the answer, clock time
	Wait       time.Duration // time spent waiting for the budget, clock time
	Attempt    int           // 1 for the first attempt of a call
	Err        error         // nil if the attempt succeeded
}

// Validate reports what is missing or wrong in c. It never quotes the
// secret.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.ClientID) == "" {
		errs = append(errs, errors.New("client id is required"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("client secret is required"))
	}
	for _, u := range []struct{ name, v string }{{"api url", c.APIURL}, {"auth url", c.AuthURL}} {
		if u.v == "" {
			continue // default
		}
		if err := checkURL(u.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
		}
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %d is negative", c.Rate))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", c.Timeout))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max body bytes %d is negative", c.MaxBodyBytes))
	}
	if c.RetryInitial < 0 || c.RetryMax < 0 {
		errs = append(errs, errors.New("retry intervals must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("salesapi config: %w", errors.Join(errs...))
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("scheme %q, want https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("credentials in the URL; use ClientID and ClientSecret")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("a base URL takes no query or fragment")
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if c.AuthURL == "" {
		c.AuthURL = DefaultAuthURL
	}
	c.APIURL = strings.TrimSuffix(c.APIURL, "/") + "/"
	c.AuthURL = strings.TrimSuffix(c.AuthURL, "/") + "/"
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.UserAgent == "" {
		c.UserAgent = "salesbridge/" + version()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = DefaultRetryInitial
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
	c.RetryMax = max(c.RetryMax, c.RetryInitial)
	return c
}

// version is the main module's version as the go command stamped it, or
// "dev" for a build from a work tree.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "dev"
}

// newTransport returns the transport of the Client's own HTTP client:
// keep-alive connections to the two hosts, bounded dial and handshake.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
