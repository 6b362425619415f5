package salesapitest_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func TestRateLimit(t *testing.T) {
	s, m := start(t, salesapitest.Config{})
	o := s.CreateOrder(salesapitest.OrderSpec{})
	c := newClient(t, s)
	c.login()
	call := func(i int) answer {
		if i%2 == 0 { // GET and PATCH share the budget
			return c.list("")
		}
		return c.patch(itoa(o.ID), `{"comment":"звонок `+strconv.Itoa(i)+`"}`)
	}
	// Ten calls two seconds apart, at 0 s to 18 s.
	for i := range 10 {
		if a := call(i); a.status != http.StatusOK {
			t.Fatalf("call %d: %d %s", i+1, a.status, a.body)
		}
		if i < 9 {
			m.Advance(2 * time.Second)
		}
	}
	// Token calls are not counted.
	if a := c.tokenCall(c.credentials()); a.status != http.StatusOK {
		t.Fatalf("token call: %d", a.status)
	}
	steps := []struct {
		at         time.Duration // since the first call
		want       int
		retryAfter string
	}{
		{18 * time.Second, 429, "42"},
		{20 * time.Second, 429, "40"},
		{59*time.Second + 500*time.Millisecond, 429, "1"}, // ceil(0.5 s)
		{59*time.Second + 999*time.Millisecond, 429, "1"},
		{60 * time.Second, 200, ""}, // the first call left the window; 429s were not counted
		{60 * time.Second, 429, "2"},
		{62 * time.Second, 200, ""},
		{62 * time.Second, 429, "2"},
	}
	t0 := epoch
	for i, st := range steps {
		m.Set(t0.Add(st.at))
		a := c.list("")
		if st.want == 429 {
			wantSpringError(t, a, http.StatusTooManyRequests)
			if got := a.header.Get("Retry-After"); got != st.retryAfter {
				t.Errorf("step %d at %v: Retry-After %q, want %q", i, st.at, got, st.retryAfter)
			}
			continue
		}
		if a.status != st.want {
			t.Errorf("step %d at %v: %d, want %d", i, st.at, a.status, st.want)
		}
	}
}

func TestRateConfigurable(t *testing.T) {
	tests := []struct {
		rate, calls, want int // want: how many of calls succeed
	}{
		{3, 5, 3},
		{-1, 40, 40},
	}
	for _, tt := range tests {
		s, _ := start(t, salesapitest.Config{Rate: tt.rate})
		c := newClient(t, s)
		c.login()
		ok := 0
		for range tt.calls {
			a := c.list("limit=abc") // refused with 400, still counted
			if a.status == http.StatusBadRequest {
				ok++
			} else if a.status != http.StatusTooManyRequests {
				t.Fatalf("status %d", a.status)
			}
		}
		if ok != tt.want {
			t.Errorf("rate %d: %d of %d calls answered, want %d", tt.rate, ok, tt.calls, tt.want)
		}
		// The request log knows the client and the outcome of every call.
		n := 0
		for _, r := range s.Requests() {
			if r.Method == http.MethodGet {
				n++
				if r.ClientID != s.ClientID() || (r.Status != 400 && r.Status != 429) || !r.At.Equal(epoch) || r.Query != "limit=abc" {
					t.Errorf("request %+v", r)
				}
			}
		}
		if n != tt.calls {
			t.Errorf("%d requests logged, want %d", n, tt.calls)
		}
	}
}
