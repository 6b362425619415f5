package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/state"
)

// tokenSpy is the API client's transport: it remembers every access token
// the token endpoint issued and every one sent to the API.
type tokenSpy struct {
	rt     *http.Transport
	mu     sync.Mutex
	tokens map[string]bool
}

func (s *tokenSpy) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		s.add(tok)
	}
	resp, err := s.rt.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, salesapitest.TokenPath) || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &tok) == nil {
		s.add(tok.AccessToken)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (s *tokenSpy) add(tok string) {
	if tok == "" {
		return
	}
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
}

func (s *tokenSpy) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

// startLogged is start with every part logging to h.log (the state file
// too) and the API client's transport spied on.
func (h *harness) startLogged(spy *tokenSpy) *running {
	h.t.Helper()
	return h.startWith(state.Options{Logger: h.log.Named("state")}, func(c *salesapi.Config) {
		c.HTTPClient = &http.Client{Transport: spy}
	})
}

// logText renders an entry as everything a log sink could show: the JSON
// line of `salesbridge run` and the raw field values (unescaped).
func logText(e observer.LoggedEntry) string {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	buf, err := enc.EncodeEntry(e.Entry, e.Context)
	var b strings.Builder
	if err == nil {
		b.WriteString(buf.String())
		buf.Free()
	}
	fmt.Fprintf(&b, "%s %s %v", e.LoggerName, e.Message, e.ContextMap())
	return b.String()
}

// leaks returns the secrets found in text.
func leaks(text string, secrets []string) []string {
	var found []string
	for _, s := range secrets {
		if strings.Contains(text, s) {
			found = append(found, s)
		}
	}
	return found
}

var nonDigits = regexp.MustCompile(`\D`)

// personalData lists every visitor name (and each word of it), e-mail,
// phone (as written and as digits), visitor comment and office comment the
// sandbox ever held: the orders as they are, and every value a change
// replaced.
func personalData(sb *salesapitest.Server) []string {
	set := map[string]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if utf8.RuneCountInString(s) >= 4 {
			set[s] = true
		}
	}
	addName := func(s string) {
		add(s)
		for _, w := range strings.Fields(s) {
			add(w)
		}
	}
	addPhone := func(s string) {
		add(s)
		if d := nonDigits.ReplaceAllString(s, ""); len(d) >= 10 {
			add(d)
		}
	}
	for _, o := range sb.Orders() {
		addName(o.ClientName)
		add(o.ClientEmail)
		addPhone(o.ClientPhone)
		add(o.ClientComment)
		add(o.Comment)
	}
	for _, c := range sb.Changes() {
		for _, raw := range []json.RawMessage{c.From, c.To} {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				continue
			}
			switch c.Field {
			case "clientName":
				addName(s)
			case "clientPhone":
				addPhone(s)
			case "comment", "clientComment", "clientEmail":
				add(s)
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestLogsHoldNoPersonalData runs the bridge at debug level against the
// sandbox's live traffic (Russian visitors, office comments), with faults
// of every kind and commands, and searches every log line for every piece
// of personal data the sandbox held, for the client secret and for every
// access token.
func TestLogsHoldNoPersonalData(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	logged := zap.New(core)
	traffic := func(h *harness, sc *salesapitest.Config) {
		h.log = logged
		h.cfg.Logger = logged
		h.cfg.Metrics = bridge.NewMetrics()
		sc.Traffic = &salesapitest.Traffic{Orders: 60, OrdersPerDay: 2000, OfficeReaction: 20 * time.Minute, OfficeStep: time.Hour}
	}
	h := newHarness(t, traffic)
	spy := &tokenSpy{rt: http.DefaultTransport.(*http.Transport).Clone(), tokens: map[string]bool{}}
	t.Cleanup(spy.rt.CloseIdleConnections)
	results := make(chan *nats.Msg, 16)
	sub, err := h.nc.ChanSubscribe(h.names.Prefix+".cmd.result.>", results)
	must(t, err)
	defer sub.Unsubscribe()

	h.startLogged(spy)
	h.settle()

	// Faults on every path, one after the other.
	for _, f := range []salesapitest.Fault{
		{Kind: salesapitest.FaultError, Status: 500, Path: salesapitest.PathOrders, Count: 2},
		{Kind: salesapitest.FaultMalformed, Path: salesapitest.PathOrders, Count: 1},
		{Kind: salesapitest.FaultHTML, Path: salesapitest.PathOrders, Count: 1},
		{Kind: salesapitest.FaultTruncated, Path: salesapitest.PathOrders, Count: 1},
		{Kind: salesapitest.FaultDrop, Path: salesapitest.PathOrders, Count: 2},
		{Kind: salesapitest.FaultEmpty, Path: salesapitest.PathOrders, Count: 1},
		{Kind: salesapitest.FaultMaintenance, Path: salesapitest.PathOrders, Count: 1, RetryAfter: 30 * time.Second},
		{Kind: salesapitest.FaultError, Status: 429, Path: salesapitest.PathOrders, Count: 1},
		{Kind: salesapitest.FaultError, Status: 401, Path: salesapitest.PathToken, Count: 1},
	} {
		h.sb.InjectFault(f)
		if f.Path == salesapitest.PathToken {
			h.sb.RevokeTokens()
		}
		h.waitFor("fault "+f.Kind.String()+" to be met", func() bool { return len(h.sb.Faults()) == 0 })
	}

	// Commands: a status with a comment, a price, and two that fail
	// (an order that does not exist, a status PATCH may not set) —
	// one of them while the API fails the PATCH once.
	orders := h.sb.Orders()
	var target salesapi.Order
	for _, o := range orders {
		if o.Status == salesapi.StatusNew || o.Status == salesapi.StatusUnprocessed {
			target = o
			break
		}
	}
	if target.ID == 0 {
		t.Fatal("no NEW order in the sandbox")
	}
	h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 500, Path: salesapitest.PathOrder, Count: 1})
	commands := []string{
		fmt.Sprintf(`{"commandId":"log-1","id":%d,"status":1,"comment":"Клиентка Смирнова просила перезвонить на +7 (999) 000-11-22"}`, target.ID),
		fmt.Sprintf(`{"commandId":"log-2","id":%d,"finalPrice":%d}`, orders[0].ID, orders[0].Price-100_000),
		`{"commandId":"log-3","id":999999999,"comment":"нет такой заявки"}`,
		fmt.Sprintf(`{"commandId":"log-4","id":%d,"status":7}`, target.ID),
	}
	for _, c := range commands {
		_, err := h.js.Publish(context.Background(), h.names.CommandPatchSubject(), []byte(c))
		must(t, err)
	}
	deadline := time.After(30 * time.Second)
	for range commands {
		select {
		case <-results:
		case <-deadline:
			t.Fatal("timed out waiting for the command outcomes")
		}
	}
	h.settle()
	h.stop()

	secrets := append(personalData(h.sb), h.sb.ClientSecret())
	tokens := spy.all()
	if len(tokens) < 2 {
		t.Fatalf("%d access tokens seen; the token fault should have caused a second", len(tokens))
	}
	secrets = append(secrets, tokens...)
	if len(secrets) < 150 {
		t.Fatalf("only %d strings to look for: the sandbox data is too thin for the test to mean much", len(secrets))
	}

	entries := logs.All()
	counts := map[zapcore.Level]int{}
	warned := map[string]bool{} // loggers that warned
	var messages []string
	for _, e := range entries {
		counts[e.Level]++
		if e.Level == zapcore.WarnLevel {
			warned[e.LoggerName] = true
		}
		messages = append(messages, e.LoggerName+": "+e.Message)
		text := logText(e)
		if found := leaks(text, secrets); len(found) > 0 {
			t.Errorf("log line holds personal data or a secret %q:\n%s", found, text)
		}
		if e.Level >= zapcore.ErrorLevel {
			t.Errorf("transient faults logged at %s: %s", e.Level, text)
		}
	}
	// The run went through the paths whose lines matter.
	all := strings.Join(messages, "\n")
	for _, want := range []string{"api: API call", "api: retrying API call", "api: rate limited by the API", "api: token request failed",
		"advisory: advisory started", "advisory: advisory ended", "commander: command done"} {
		if !strings.Contains(all, want) {
			t.Errorf("no log line %q", want)
		}
	}
	if !warned["poller"] {
		t.Error("the poller logged no failed poll")
	}
	t.Logf("%d log lines (debug %d, info %d, warn %d) searched for %d strings", len(entries),
		counts[zapcore.DebugLevel], counts[zapcore.InfoLevel], counts[zapcore.WarnLevel], len(secrets))

	// The search can fail: a line with a visitor's name is caught.
	var name string
	for _, o := range h.sb.Orders() {
		if o.ClientName != "" {
			name = o.ClientName
			break
		}
	}
	probe := observer.LoggedEntry{Entry: zapcore.Entry{Message: "probe"}, Context: []zap.Field{zap.Error(fmt.Errorf("order of %s", name))}}
	if len(leaks(logText(probe), secrets)) == 0 {
		t.Error("the search misses a name in an error field")
	}
}
