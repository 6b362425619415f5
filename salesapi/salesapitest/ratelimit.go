package salesapitest

import "time"

// limiter counts calls per client over a rolling RateWindow of the sandbox
// clock. The Server's mutex guards it.
type limiter struct {
	rate  int                    // calls per window; negative = unlimited
	calls map[string][]time.Time // per client, the accepted calls still in the window, oldest first
}

func newLimiter(rate int) *limiter { return &limiter{rate: rate, calls: make(map[string][]time.Time)} }

// allow counts a call of client at now, or refuses it and says how long until
// a slot frees: the oldest counted call leaves the window at its time plus
// RateWindow. A refused call is not counted.
func (l *limiter) allow(client string, now time.Time) (time.Duration, bool) {
	if l.rate < 0 {
		return 0, true
	}
	calls := l.calls[client]
	i := 0
	for i < len(calls) && !calls[i].Add(RateWindow).After(now) {
		i++
	}
	calls = calls[i:]
	if len(calls) >= l.rate {
		l.calls[client] = calls
		return calls[0].Add(RateWindow).Sub(now), false
	}
	l.calls[client] = append(calls, now)
	return 0, true
}

// retryAfter is the Retry-After value for a wait: whole seconds, rounded up,
// at least 1.
func retryAfter(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}
