package salesapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// epoch is where the sandbox clock of every integration test starts.
var epoch = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// defaultSpeed is how much faster than real time the shared clock of the
// client and the sandbox runs: a budget window of 61 s passes in about
// 100 ms, a token of 300 s lives 0.5 s.
const defaultSpeed = 600

// sent is one HTTP request as the client's transport sent it.
type sent struct {
	method, path string
	header       http.Header
	form         url.Values // the token request's form body
	reused       bool       // went over a kept-alive connection
}

// recorder is the client's transport: the real one, with a note of each
// request taken on the way (not a mock: every request goes to the sandbox
// over TCP on 127.0.0.1).
type recorder struct {
	base *http.Transport
	mu   sync.Mutex
	reqs []sent
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	s := sent{method: req.Method, path: req.URL.Path, header: req.Header.Clone()}
	if strings.HasSuffix(req.URL.Path, salesapi.TokenPath) && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		s.form, _ = url.ParseQuery(string(b))
	}
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		s.reused = info.Reused
		mu.Unlock()
	}}
	resp, err := r.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	mu.Lock()
	r.mu.Lock()
	r.reqs = append(r.reqs, s)
	r.mu.Unlock()
	mu.Unlock()
	return resp, err
}

func (r *recorder) sent() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.reqs...)
}

// rig is one sandbox and one client sharing a clock, with everything the
// client reported through hooks and logs.
type rig struct {
	t    *testing.T
	clk  clock.Clock
	srv  *salesapitest.Server
	c    *salesapi.Client
	rec  *recorder
	logs *observer.ObservedLogs

	mu      sync.Mutex
	calls   []salesapi.CallInfo
	retries []error
	tokens  []error
	limited []time.Duration
	errs    []error // every error a call returned
	onCall  func(salesapi.CallInfo)
	onLimit func(time.Duration)
}

type rigOptions struct {
	speed   float64       // of the shared clock.Scaled; defaultSpeed if 0
	manual  *clock.Manual // if set, the shared clock instead
	sandbox func(*salesapitest.Config)
	client  func(*salesapi.Config)
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	speed := o.speed
	if speed == 0 {
		speed = defaultSpeed
	}
	r := &rig{t: t, clk: clock.Scaled(epoch, speed)}
	if o.manual != nil {
		r.clk = o.manual
	}
	// Tokens live an hour unless a test is about their expiry: at speed
	// 600 the spec's 300 s pass in half a second of real time, less than
	// a busy machine may stall.
	scfg := salesapitest.Config{Clock: r.clk, Seed: 1, TokenTTL: time.Hour}
	if o.sandbox != nil {
		o.sandbox(&scfg)
	}
	r.srv = salesapitest.NewServer(scfg)
	r.rec = &recorder{base: &http.Transport{MaxIdleConnsPerHost: 4}}
	core, logs := observer.New(zapcore.DebugLevel)
	r.logs = logs
	cfg := salesapi.Config{
		APIURL:       r.srv.URL,
		AuthURL:      r.srv.AuthURL,
		ClientID:     r.srv.ClientID(),
		ClientSecret: r.srv.ClientSecret(),
		Clock:        r.clk,
		HTTPClient:   &http.Client{Transport: r.rec},
		Timeout:      5 * time.Second,
		Logger:       zap.New(core),
		Hooks: salesapi.Hooks{
			Call: func(ci salesapi.CallInfo) {
				r.mu.Lock()
				r.calls = append(r.calls, ci)
				f := r.onCall
				r.mu.Unlock()
				if f != nil {
					f(ci)
				}
			},
			Retry: func(_ string, err error) {
				r.mu.Lock()
				defer r.mu.Unlock()
				r.retries = append(r.retries, err)
			},
			Token: func(err error) {
				r.mu.Lock()
				defer r.mu.Unlock()
				r.tokens = append(r.tokens, err)
			},
			RateLimited: func(d time.Duration) {
				r.mu.Lock()
				r.limited = append(r.limited, d)
				f := r.onLimit
				r.mu.Unlock()
				if f != nil {
					f(d)
				}
			},
		},
	}
	if o.client != nil {
		o.client(&cfg)
	}
	c, err := salesapi.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.c = c
	t.Cleanup(r.close)
	return r
}

// close stops everything and checks the rules that hold for every test:
// the sandbox saw exactly the attempts the client counted (no hidden
// resend), and no error, hook or log line carries the secret, a token or
// a visitor's personal data.
func (r *rig) close() {
	t := r.t
	if t.Failed() {
		for _, q := range r.srv.Requests() {
			t.Logf("sandbox: %s %s %s %d %s", q.At.Sub(epoch), q.Method, q.Path, q.Status, q.Fault)
		}
		for _, ci := range r.callInfos() {
			t.Logf("attempt: %+v", ci)
		}
		t.Logf("token fetches: %v", r.tokenErrs())
	}
	r.c.Close()
	r.srv.Close()
	r.rec.base.CloseIdleConnections()

	if got, want := len(r.apiRequests()), len(r.callInfos()); got != want {
		t.Errorf("the sandbox saw %d API requests, the client reported %d attempts", got, want)
	}
	secrets := []string{r.srv.ClientSecret()}
	for _, s := range r.rec.sent() {
		if tok, ok := strings.CutPrefix(s.header.Get("Authorization"), "Bearer "); ok {
			secrets = append(secrets, tok)
		}
	}
	for _, o := range r.srv.Orders() {
		for _, pii := range []string{o.ClientName, o.ClientEmail, o.ClientPhone} {
			if len(pii) > 3 {
				secrets = append(secrets, pii)
			}
		}
	}
	var texts []string
	r.mu.Lock()
	for _, e := range append(append(append([]error{}, r.errs...), r.retries...), r.tokens...) {
		if e != nil {
			texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
		}
	}
	for _, ci := range r.calls {
		if ci.Err != nil {
			texts = append(texts, ci.Err.Error())
		}
	}
	r.mu.Unlock()
	for _, e := range r.logs.All() {
		texts = append(texts, e.Message, fmt.Sprint(e.ContextMap()))
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret, token or personal datum leaked into %q", text)
			}
		}
	}
}

func (r *rig) list(ctx context.Context, q salesapi.Query) ([]salesapi.Order, error) {
	orders, err := r.c.ListOrders(ctx, q)
	r.note(err)
	return orders, err
}

func (r *rig) patch(ctx context.Context, id int64, p salesapi.Patch) (salesapi.Order, error) {
	o, err := r.c.PatchOrder(ctx, id, p)
	r.note(err)
	return o, err
}

func (r *rig) note(err error) {
	if err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}
}

func (r *rig) callInfos() []salesapi.CallInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]salesapi.CallInfo(nil), r.calls...)
}

func (r *rig) retryErrs() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.retries...)
}

func (r *rig) tokenErrs() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.tokens...)
}

// apiRequests are the requests the sandbox answered on the API paths.
func (r *rig) apiRequests() []salesapitest.Request {
	var out []salesapitest.Request
	for _, q := range r.srv.Requests() {
		if strings.HasPrefix(q.Path, salesapitest.APIPath) {
			out = append(out, q)
		}
	}
	return out
}

// tokenRequests are the requests the sandbox answered on the token endpoint.
func (r *rig) tokenRequests() []salesapitest.Request {
	var out []salesapitest.Request
	for _, q := range r.srv.Requests() {
		if strings.HasSuffix(q.Path, salesapitest.TokenPath) {
			out = append(out, q)
		}
	}
	return out
}

func statuses(reqs []salesapitest.Request) []int {
	var out []int
	for _, q := range reqs {
		out = append(out, q.Status)
	}
	return out
}

// waiting blocks until n callers of priority p wait for the budget.
func (r *rig) waiting(p salesapi.Priority, n int) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.c.Budget().Waiting()[p] < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("%d callers of priority %v never waited", n, p)
		}
		runtime.Gosched()
	}
}

func isAPIError(err error, status int) bool {
	var ae *salesapi.APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}
