package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/schemas"
)

// advisorRig is an advisor on a manual clock whose publish appends to a
// list, with an outbox the test sets.
type advisorRig struct {
	t      *testing.T
	clk    *clock.Manual
	a      *advisor
	v      *schemas.Validator
	got    []string   // "kind state" in publish order
	advs   []Advisory // as published
	depth  int
	oldest time.Time
}

func newAdvisorRig(t *testing.T) *advisorRig {
	t.Helper()
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	r := &advisorRig{t: t, clk: clock.NewManual(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), v: v}
	publish := func(subject string, data []byte) error {
		if err := v.ValidateAdvisory(data); err != nil {
			t.Errorf("advisory breaks the contract: %v\n%s", err, data)
		}
		var adv Advisory
		if err := json.Unmarshal(data, &adv); err != nil {
			t.Fatal(err)
		}
		if want := "salesbridge.advisory." + string(adv.Kind); subject != want {
			t.Errorf("subject %q, want %q", subject, want)
		}
		r.got = append(r.got, string(adv.Kind)+" "+adv.State)
		r.advs = append(r.advs, adv)
		return nil
	}
	outbox := func() (int, time.Time, error) { return r.depth, r.oldest, nil }
	r.a = newAdvisor(NamesFor(DefaultPrefix), r.clk, zap.NewNop(), publish, outbox)
	return r
}

var (
	errUnavailable = fmt.Errorf("list orders: %w", salesapi.ErrUnavailable)
	errMalformed   = fmt.Errorf("list orders: %w", salesapi.ErrMalformed)
	errToken       = fmt.Errorf("list orders: %w", &salesapi.TokenError{ClientID: "c", StatusCode: 401, Code: "unauthorized_client"})
	errForbidden   = fmt.Errorf("list orders: %w", &salesapi.APIError{StatusCode: 403, Method: "GET", Path: "external/orders"})
	errBadRequest  = fmt.Errorf("list orders: %w", &salesapi.APIError{StatusCode: 400, Method: "GET", Path: "external/orders"})
)

func TestAdvisorTransitions(t *testing.T) {
	newStatus := salesapi.StatusNew
	tests := []struct {
		name  string
		steps func(r *advisorRig)
		want  []string
	}{
		{"quiet", func(r *advisorRig) {
			r.a.listDone(nil)
			r.a.listDone(nil)
		}, nil},
		{"auth failing from the token endpoint, once per episode", func(r *advisorRig) {
			r.a.token(errors.New("refused"))
			r.a.token(errors.New("refused"))
			r.a.listDone(errToken)
			r.a.token(nil) // a token alone proves nothing
			r.a.listDone(nil)
			r.a.listDone(nil)
		}, []string{"auth_failing started", "auth_failing ended"}},
		{"auth failing from a 403 on list calls", func(r *advisorRig) {
			r.a.listDone(errForbidden)
			r.a.callOK() // a PATCH that works does not end it
			r.a.listDone(nil)
		}, []string{"auth_failing started", "auth_failing ended"}},
		{"one unavailable poll is not an episode", func(r *advisorRig) {
			r.a.listDone(errUnavailable)
			r.a.listDone(nil)
			r.a.listDone(errMalformed)
			r.a.listDone(nil)
		}, nil},
		{"two unavailable polls in a row", func(r *advisorRig) {
			r.a.listDone(errUnavailable)
			r.a.listDone(errMalformed)
			r.a.listDone(errUnavailable)
			r.a.listDone(nil)
		}, []string{"api_unavailable started", "api_unavailable ended"}},
		{"other errors neither start nor end anything", func(r *advisorRig) {
			r.a.listDone(errBadRequest)
			r.a.listDone(context.Canceled)
			r.a.token(context.Canceled)
		}, nil},
		{"rate limited ends only after the pause and a success", func(r *advisorRig) {
			r.a.rateLimited(time.Minute)
			r.a.rateLimited(30 * time.Second)
			r.clk.Advance(59 * time.Second)
			r.a.callOK() // an answer sent before the pause
			r.clk.Advance(time.Second)
			r.a.listDone(nil)
		}, []string{"rate_limited started", "rate_limited ended"}},
		{"coverage lost ends after a sweep without a gap", func(r *advisorRig) {
			r.a.syncedAt(r.clk.Now().Add(-time.Hour)) // remembered from the state file: no sweep
			r.a.listDone(nil)
			r.a.coverageGap(gap{status: &newStatus, reason: "unpageable", orders: 150})
			r.a.listDone(nil)
			r.a.syncedAt(r.clk.Now())                                // sweep 1 ends…
			r.a.coverageGap(gap{reason: "one instant", orders: 100}) // …with a gap in its last pass
			r.a.listDone(nil)
			r.clk.Advance(time.Minute)
			r.a.syncedAt(r.clk.Now()) // sweep 2 ends without a gap
			r.a.listDone(nil)
			r.a.listDone(nil)
		}, []string{"coverage_lost started", "coverage_lost ended"}},
		{"outbox backlog by depth and by age", func(r *advisorRig) {
			r.depth, r.oldest = AdvisoryBacklogDepth, r.clk.Now()
			r.a.checkOutbox()
			r.depth = AdvisoryBacklogDepth + 1
			r.a.checkOutbox()
			r.a.checkOutbox()
			r.depth = 3
			r.a.checkOutbox()
			r.clk.Advance(AdvisoryBacklogAge + time.Second)
			r.a.checkOutbox()
			r.depth, r.oldest = 0, time.Time{}
			r.a.checkOutbox()
		}, []string{"outbox_backlog started", "outbox_backlog ended", "outbox_backlog started", "outbox_backlog ended"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newAdvisorRig(t)
			tt.steps(r)
			if !slices.Equal(r.got, tt.want) {
				t.Errorf("advisories\n got %v\nwant %v", r.got, tt.want)
			}
		})
	}
}

// TestCoverageLostNumbers: an account that outgrows the budget is told so
// with the numbers an operator needs to judge it.
func TestCoverageLostNumbers(t *testing.T) {
	r := newAdvisorRig(t)
	r.a.coverageGap(gap{reason: "more active orders than the budget keeps fresh", orders: 7000, need: 70, avail: 60})
	if len(r.advs) != 1 {
		t.Fatalf("advisories %v", r.got)
	}
	adv := r.advs[0]
	want := map[string]any{"orders": 7000.0, "callsPerSweep": 70.0, "callsAvailable": 60.0, "freshTarget": freshTarget.String(),
		"reason": "more active orders than the budget keeps fresh"}
	for k, v := range want {
		if adv.Details[k] != v {
			t.Errorf("details[%q] = %v, want %v", k, adv.Details[k], v)
		}
	}
	if !strings.Contains(adv.Message, "7000 active orders need 70 calls a sweep") {
		t.Errorf("message %q", adv.Message)
	}
}

// TestAdvisorWatchOutbox: the periodic check runs on the bridge's clock.
func TestAdvisorWatchOutbox(t *testing.T) {
	r := newAdvisorRig(t)
	r.depth, r.oldest = 1, r.clk.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.a.watchOutbox(ctx) }()
	// Each round: wait until the watcher sleeps again (its check is done),
	// then move the clock by one period.
	for step := 0; ; step++ {
		waitTimer(t, r.clk)
		if r.a.isActive(AdvisoryOutboxBacklog) {
			break
		}
		if step > 1000 {
			t.Fatal("outbox_backlog never started")
		}
		r.clk.Advance(AdvisoryCheckEvery)
	}
	if since := r.clk.Now().Sub(r.oldest); since <= AdvisoryBacklogAge || since > AdvisoryBacklogAge+AdvisoryCheckEvery {
		t.Errorf("started %s after the message was added, want within one check after %s", since, AdvisoryBacklogAge)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.Join(r.got, ","), "outbox_backlog started") {
		t.Errorf("advisories %v", r.got)
	}
}

// waitTimer waits until a goroutine waits on clk.
func waitTimer(t *testing.T, clk *clock.Manual) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Waiters() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing waits on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAdvisoryKindsMatchSchema: every kind the bridge can publish is one the
// contract names, in both states.
func TestAdvisoryKindsMatchSchema(t *testing.T) {
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	valid := func(kind AdvisoryKind, state string) error {
		data, err := json.Marshal(Advisory{Kind: kind, State: state, At: salesapi.FormatTime(time.Now()), Message: "m", Details: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		return v.ValidateAdvisory(data)
	}
	for _, kind := range AdvisoryKinds() {
		for _, state := range []string{AdvisoryStarted, AdvisoryEnded} {
			if err := valid(kind, state); err != nil {
				t.Errorf("%s %s: %v", kind, state, err)
			}
		}
	}
	if valid("disk_full", AdvisoryStarted) == nil {
		t.Error("an unknown kind passes the schema: the check cannot fail")
	}
}
