package salesapitest_test

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func TestFaults(t *testing.T) {
	type call struct {
		path       string // "orders", "order" or "token"
		wantStatus int    // 0: a transport error
		check      func(t *testing.T, a answer)
	}
	ok := func(path string) call { return call{path: path, wantStatus: 200} }
	wantJSONError := func(status int) func(t *testing.T, a answer) {
		return func(t *testing.T, a answer) { wantSpringError(t, a, status) }
	}
	tests := []struct {
		name    string
		fault   salesapitest.Fault
		advance time.Duration // before the last call
		calls   []call
	}{
		{
			name:  "two 500s",
			fault: salesapitest.Fault{Kind: salesapitest.FaultError, Count: 2},
			calls: []call{{"orders", 500, wantJSONError(500)}, {"order", 500, nil}, ok("orders"), ok("order")},
		},
		{
			name:    "503 until a time",
			fault:   salesapitest.Fault{Kind: salesapitest.FaultError, Status: 503, Until: epoch.Add(10 * time.Second)},
			advance: 10 * time.Second,
			calls:   []call{{"orders", 503, wantJSONError(503)}, {"orders", 503, nil}, ok("orders")},
		},
		{
			name:    "maintenance window",
			fault:   salesapitest.Fault{Kind: salesapitest.FaultMaintenance, Until: epoch.Add(90*time.Second + time.Millisecond)},
			advance: 91 * time.Second,
			calls: []call{{"orders", 503, func(t *testing.T, a answer) {
				wantSpringError(t, a, 503)
				if got := a.header.Get("Retry-After"); got != "91" {
					t.Errorf("Retry-After %q, want 91", got)
				}
			}}, ok("orders")},
		},
		{
			name:  "only the path named",
			fault: salesapitest.Fault{Kind: salesapitest.FaultError, Path: salesapitest.PathOrder},
			calls: []call{ok("orders"), {"order", 500, nil}, ok("token"), ok("orders")},
		},
		{
			name:  "token endpoint down",
			fault: salesapitest.Fault{Kind: salesapitest.FaultError, Status: 503, Path: salesapitest.PathToken, Count: 1},
			calls: []call{ok("orders"), {"token", 503, nil}, ok("token")},
		},
		{
			name:  "malformed JSON",
			fault: salesapitest.Fault{Kind: salesapitest.FaultMalformed, Count: 2},
			calls: []call{{"orders", 200, func(t *testing.T, a answer) {
				if a.header.Get("Content-Type") != salesapitest.ContentType || json.Valid(a.body) || len(a.body) == 0 {
					t.Errorf("want JSON content type and an invalid body, got %q %s", a.header.Get("Content-Type"), a.body)
				}
				if _, err := salesapi.DecodeOrders(a.body); err == nil {
					t.Error("DecodeOrders accepted it")
				}
			}}, {"order", 200, func(t *testing.T, a answer) {
				if json.Valid(a.body) {
					t.Errorf("valid JSON: %s", a.body)
				}
			}}, ok("orders")},
		},
		{
			name:  "truncated body",
			fault: salesapitest.Fault{Kind: salesapitest.FaultTruncated, Count: 1},
			calls: []call{{"orders", 0, nil}, ok("orders")},
		},
		{
			name:  "HTML page with 200",
			fault: salesapitest.Fault{Kind: salesapitest.FaultHTML, Count: 1},
			calls: []call{{"orders", 200, func(t *testing.T, a answer) {
				if !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || !strings.HasPrefix(string(a.body), "<!DOCTYPE html>") {
					t.Errorf("want an HTML page, got %q %.40s", a.header.Get("Content-Type"), a.body)
				}
			}}, ok("orders")},
		},
		{
			name:  "empty 200",
			fault: salesapitest.Fault{Kind: salesapitest.FaultEmpty, Count: 1},
			calls: []call{{"orders", 200, func(t *testing.T, a answer) {
				if len(a.body) != 0 {
					t.Errorf("body %q", a.body)
				}
			}}, ok("orders")},
		},
		{
			name:  "dropped connection",
			fault: salesapitest.Fault{Kind: salesapitest.FaultDrop, Path: salesapitest.PathOrder, Count: 1},
			calls: []call{{"order", 0, nil}, ok("order")},
		},
		{
			// net/http retries a GET once on a dropped kept-alive
			// connection: a window catches the retry too.
			name:    "dropped connections for a while",
			fault:   salesapitest.Fault{Kind: salesapitest.FaultDrop, Until: epoch.Add(time.Second)},
			advance: time.Second,
			calls:   []call{{"orders", 0, nil}, {"order", 0, nil}, ok("orders")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := start(t, salesapitest.Config{Rate: -1})
			o := s.CreateOrder(salesapitest.OrderSpec{CreatedAt: epoch.Add(-time.Hour)})
			c := newClient(t, s)
			c.login()
			s.InjectFault(tt.fault)
			for i, cl := range tt.calls {
				if i == len(tt.calls)-1 && tt.advance > 0 {
					m.Advance(tt.advance)
					c.login()
				}
				var a answer
				switch cl.path {
				case "orders":
					a = c.list("")
				case "order":
					a = c.patch(itoa(o.ID), `{"comment":"к`+itoa(int64(i))+`"}`)
				case "token":
					a = c.tokenCall(c.credentials())
				}
				switch {
				case cl.wantStatus == 0:
					if a.err == nil {
						t.Errorf("call %d (%s): %d, want a transport error", i, cl.path, a.status)
					}
				case a.err != nil || a.status != cl.wantStatus:
					t.Errorf("call %d (%s): %d %v, want %d", i, cl.path, a.status, a.err, cl.wantStatus)
				case cl.check != nil:
					cl.check(t, a)
				}
			}
			// The request log names the fault each call met.
			var met int
			for _, r := range s.Requests() {
				if r.Fault == tt.fault.Kind {
					met++
				}
			}
			if met == 0 {
				t.Errorf("no request logged with fault %v", tt.fault.Kind)
			}
		})
	}
}

// A damaged answer hides a PATCH that was done; a refused call does nothing;
// SkipCall damages the answer of a call that was not done.
func TestFaultsAndPatchOutcome(t *testing.T) {
	tests := []struct {
		fault   salesapitest.Fault
		applied bool
	}{
		{salesapitest.Fault{Kind: salesapitest.FaultError}, false},
		{salesapitest.Fault{Kind: salesapitest.FaultMaintenance}, false},
		{salesapitest.Fault{Kind: salesapitest.FaultDrop}, true},
		{salesapitest.Fault{Kind: salesapitest.FaultTruncated}, true},
		{salesapitest.Fault{Kind: salesapitest.FaultMalformed}, true},
		{salesapitest.Fault{Kind: salesapitest.FaultDrop, SkipCall: true}, false},
		{salesapitest.Fault{Kind: salesapitest.FaultHTML, SkipCall: true}, false},
	}
	for _, tt := range tests {
		s, _ := start(t, salesapitest.Config{})
		o := s.CreateOrder(salesapitest.OrderSpec{})
		c := newClient(t, s)
		c.login()
		tt.fault.Count = 1
		s.InjectFault(tt.fault)
		c.patch(itoa(o.ID), `{"status":1}`)
		got, _ := s.Order(o.ID)
		if applied := got.Status == salesapi.StatusProgress; applied != tt.applied {
			t.Errorf("%v (skip %v): applied = %v, want %v", tt.fault.Kind, tt.fault.SkipCall, applied, tt.applied)
		}
		if len(s.Faults()) != 0 {
			t.Errorf("%v: fault not spent", tt.fault.Kind)
		}
	}
}

func TestFaultSlow(t *testing.T) {
	t.Run("sandbox clock", func(t *testing.T) {
		// At speed 6000 a minute of sandbox time is 10 ms of real time.
		s, _ := start(t, salesapitest.Config{Clock: clock.Scaled(epoch, 6000)})
		c := newClient(t, s)
		c.login()
		s.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultSlow, Delay: time.Minute, Count: 1})
		before := s.Now()
		if a := c.list(""); a.status != http.StatusNoContent {
			t.Fatalf("status %d", a.status)
		}
		if waited := s.Now().Sub(before); waited < time.Minute {
			t.Errorf("answered after %v of sandbox time, want at least a minute", waited)
		}
	})
	t.Run("real time", func(t *testing.T) {
		s, _ := start(t, salesapitest.Config{})
		c := newClient(t, s)
		c.login()
		s.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultSlow, Delay: 30 * time.Millisecond, RealTime: true, Count: 1})
		began := time.Now()
		if a := c.list(""); a.status != http.StatusNoContent {
			t.Fatalf("status %d", a.status)
		}
		if waited := time.Since(began); waited < 30*time.Millisecond {
			t.Errorf("answered after %v, want at least 30ms", waited)
		}
	})
	t.Run("close ends the wait", func(t *testing.T) {
		m := clock.NewManual(epoch)
		s := salesapitest.NewServer(salesapitest.Config{Clock: m})
		c := newClient(t, s)
		c.login()
		s.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultSlow, Delay: time.Hour})
		base := m.Waiters()
		done := make(chan answer)
		go func() { done <- c.list("") }()
		// Wait until the request waits on the manual clock.
		deadline := time.Now().Add(5 * time.Second)
		for m.Waiters() == base && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if m.Waiters() == base {
			t.Fatal("the slow request never waited on the clock")
		}
		s.Close()
		if a := <-done; a.err == nil && a.status != http.StatusServiceUnavailable {
			t.Errorf("slow request ended with %d", a.status)
		}
	})
}

func TestInjectFaultPanics(t *testing.T) {
	s, _ := start(t, salesapitest.Config{})
	for _, f := range []salesapitest.Fault{{}, {Kind: salesapitest.FaultError, Path: "orderz"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("InjectFault(%+v) did not panic", f)
				}
			}()
			s.InjectFault(f)
		}()
	}
	s.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError})
	s.ClearFaults()
	if len(s.Faults()) != 0 {
		t.Error("ClearFaults left faults")
	}
}
