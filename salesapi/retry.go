package salesapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/salesbridge/salesbridge/clock"
)

// Retry defaults. Intervals are clock time.
const (
	DefaultMaxRetries   = 4                // retries after the first attempt
	DefaultRetryInitial = 1 * time.Second  // first backoff interval
	DefaultRetryMax     = 30 * time.Second // cap of one backoff interval
	retryMultiplier     = 2.0
	retryRandomization  = 0.5 // each interval is drawn from ±50 % of its nominal value
)

// retryable reports whether a failed attempt may succeed if repeated:
// 429, 500, 502, 503, 504, a malformed 200, a timeout or a dropped
// connection, or a token endpoint that did not answer properly. Refusals
// (400, 401, 403, 404, 406, a refused secret) are final.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.temporary()
	}
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnavailable)
}

// newBackOff returns the policy of one call: exponential with jitter,
// capped, at most maxRetries retries, never shorter than *floor (the
// server's last Retry-After), and stopped when ctx ends.
func newBackOff(ctx context.Context, clk clock.Clock, initial, maxInterval time.Duration, maxRetries int, floor *time.Duration) backoff.BackOffContext {
	exp := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(maxInterval),
		backoff.WithMultiplier(retryMultiplier),
		backoff.WithRandomizationFactor(retryRandomization),
		backoff.WithMaxElapsedTime(0), // bounded by maxRetries and ctx
		backoff.WithClockProvider(clk),
	)
	var b backoff.BackOff = exp
	if maxRetries >= 0 {
		b = backoff.WithMaxRetries(b, uint64(maxRetries))
	}
	return backoff.WithContext(&floorBackOff{BackOff: b, floor: floor}, ctx)
}

// floorBackOff makes every interval at least *floor.
type floorBackOff struct {
	backoff.BackOff
	floor *time.Duration
}

func (f *floorBackOff) NextBackOff() time.Duration {
	d := f.BackOff.NextBackOff()
	if d == backoff.Stop {
		return d
	}
	return max(d, *f.floor)
}

// clockTimer is a backoff.Timer on a clock.Clock, so that backoff waits in
// the same time as everything else (clock.Manual in tests, Scaled in the
// demo).
type clockTimer struct {
	clk clock.Clock
	t   clock.Timer
}

func (c *clockTimer) Start(d time.Duration) {
	if c.t != nil {
		c.t.Stop()
	}
	c.t = c.clk.NewTimer(d)
}

func (c *clockTimer) Stop() {
	if c.t != nil {
		c.t.Stop()
	}
}

func (c *clockTimer) C() <-chan time.Time { return c.t.C() }
