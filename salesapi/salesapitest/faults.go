package salesapitest

import (
	"fmt"
	"time"
)

// FaultKind is a way the server misbehaves on demand.
type FaultKind int

// The faults. FaultError and FaultMaintenance refuse the call: nothing is
// done (a PATCH changes nothing, no token is issued). The damaging kinds
// (FaultMalformed, FaultTruncated, FaultHTML, FaultEmpty, FaultDrop) perform
// the call — a PATCH takes effect, a token is issued — and damage only the
// answer, the ambiguous case a client must cope with; set Fault.SkipCall to
// damage the answer of a call that was not performed.
const (
	FaultNone        FaultKind = iota
	FaultError                 // answer Fault.Status (default 500) with a Spring-style error body
	FaultMaintenance           // answer 503 with Retry-After: until Fault.Until, else Fault.RetryAfter (default 60 s)
	FaultSlow                  // wait Fault.Delay before answering normally (see Fault.RealTime)
	FaultMalformed             // answer 200, Content-Type JSON, with a body that is not valid JSON
	FaultTruncated             // send headers with the full Content-Length and half the body, then close the connection
	FaultHTML                  // answer 200 with an HTML error page (Content-Type text/html)
	FaultEmpty                 // answer 200 with an empty body (Content-Type JSON)
	FaultDrop                  // close the connection without answering (hijack and close)
)

// Note on FaultDrop: net/http's client retries a GET (not a PATCH) once when
// a kept-alive connection closes before any answer, so a single dropped GET
// may go unnoticed by a Go client; use Until or a Count of 2 to be seen.

var faultNames = [...]string{"none", "error", "maintenance", "slow", "malformed", "truncated", "html", "empty", "drop"}

// String returns the kind's name ("error", "slow" …).
func (k FaultKind) String() string {
	if k >= 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

func (k FaultKind) damages() bool { return k >= FaultMalformed && k <= FaultDrop }

// Paths a fault can apply to.
const (
	PathAll    = ""       // both API paths (orders and order), not the token endpoint
	PathOrders = "orders" // GET external/orders
	PathOrder  = "order"  // PATCH external/order/{id}
	PathToken  = "token"  // POST protocol/openid-connect/token
)

// Fault is a misbehaviour to inject. Faults apply in the order injected;
// a call meets at most one. On the API paths a fault applies after
// authentication and the rate limit, so the call counts against the rate
// limit like any call that reached the server.
type Fault struct {
	Kind FaultKind
	Path string // PathAll, PathOrders, PathOrder or PathToken
	// Count is how many matching calls meet the fault; 0 means no limit.
	Count int
	// Until ends the fault at this sandbox time; zero means no end. A fault
	// with neither Count nor Until lasts until ClearFaults.
	Until time.Time

	Status     int           // FaultError: the status to answer (default 500)
	RetryAfter time.Duration // FaultMaintenance without Until: the Retry-After (default 60 s)
	// Delay is how long FaultSlow waits, on the sandbox clock (with
	// clock.Scaled at speed 600 a minute passes in 100 ms of real time;
	// with clock.Manual the request waits until the test advances the
	// clock), or on the wall clock if RealTime is set. Close ends the wait.
	Delay    time.Duration
	RealTime bool
	// SkipCall makes a damaging fault answer without performing the call.
	SkipCall bool
}

// InjectFault adds a fault. It panics on an unknown kind or path (a mistake
// in the test).
func (s *Server) InjectFault(f Fault) {
	if f.Kind <= FaultNone || int(f.Kind) >= len(faultNames) {
		panic(fmt.Sprintf("salesapitest: InjectFault: unknown kind %d", int(f.Kind)))
	}
	switch f.Path {
	case PathAll, PathOrders, PathOrder, PathToken:
	default:
		panic(fmt.Sprintf("salesapitest: InjectFault: unknown path %q", f.Path))
	}
	if f.Kind == FaultError && f.Status == 0 {
		f.Status = 500
	}
	if f.Kind == FaultMaintenance && f.RetryAfter <= 0 {
		f.RetryAfter = time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Faults returns the faults still active, with their remaining counts.
func (s *Server) Faults() []Fault {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Fault
	for _, f := range s.faults {
		if f.Until.IsZero() || now.Before(f.Until) {
			out = append(out, *f)
		}
	}
	return out
}

// takeFaultLocked returns the fault the call on path meets, if any, and
// spends one of its count.
func (s *Server) takeFaultLocked(path string, now time.Time) Fault {
	kept := s.faults[:0]
	var got *Fault
	for _, f := range s.faults {
		if !f.Until.IsZero() && !now.Before(f.Until) {
			continue // over
		}
		if got == nil && (f.Path == path || f.Path == PathAll && path != PathToken) {
			c := *f
			got = &c
			if f.Count > 0 {
				f.Count--
				if f.Count == 0 {
					continue
				}
			}
		}
		kept = append(kept, f)
	}
	for i := len(kept); i < len(s.faults); i++ {
		s.faults[i] = nil
	}
	s.faults = kept
	if got == nil {
		return Fault{}
	}
	return *got
}
