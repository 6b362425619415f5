package bridge_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// withMetrics gives the harness's bridge a registry; the harness passes its
// API hooks to the client.
func withMetrics(h *harness, _ *salesapitest.Config) { h.cfg.Metrics = bridge.NewMetrics() }

// serveOps serves /metrics and /readyz for the running bridge as
// cmd/salesbridge does, on a loopback port.
func (h *harness) serveOps() string {
	h.t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.cfg.Metrics.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.run.b.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := httptest.NewServer(mux)
	h.t.Cleanup(srv.Close)
	return srv.URL
}

// get fetches url and returns the status and the body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// samples is a scrape.
type samples []sample

// scrape reads /metrics.
func scrape(t *testing.T, base string) samples {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	s, err := parseText(body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parseText reads the sample lines of the Prometheus text format.
func parseText(text string) (samples, error) {
	var out samples
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name = line[:i]
			rest = line[i+1:]
			for !strings.HasPrefix(rest, "}") {
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					return nil, fmt.Errorf("bad labels in %q", line)
				}
				key := strings.TrimPrefix(rest[:eq], ",")
				rest = rest[eq+2:]
				var val strings.Builder
				for len(rest) > 0 && rest[0] != '"' {
					if rest[0] == '\\' && len(rest) > 1 {
						rest = rest[1:]
					}
					val.WriteByte(rest[0])
					rest = rest[1:]
				}
				if rest == "" {
					return nil, fmt.Errorf("unterminated label in %q", line)
				}
				s.labels[key] = val.String()
				rest = strings.TrimPrefix(rest[1:], ",")
			}
			rest = rest[1:]
		} else if i >= 0 {
			s.name, rest = line[:i], line[i:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("value in %q: %w", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, nil
}

// value sums the samples of name whose labels include every pair of kv; ok
// says whether any matched.
func (ss samples) value(name string, kv ...string) (float64, bool) {
	sum, ok := 0.0, false
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				continue next
			}
		}
		sum += s.value
		ok = true
	}
	return sum, ok
}

// TestMetricsScrape scrapes /metrics after a scripted run and checks the
// key series against what happened: the events in the stream, the calls
// the sandbox answered, the orders it holds.
func TestMetricsScrape(t *testing.T) {
	h := newHarness(t, withMetrics)
	for range 6 {
		h.sb.CreateOrder(salesapitest.OrderSpec{})
	}
	h.start()
	base := h.serveOps()
	h.settle()

	orders := h.sb.Orders()
	must(t, h.sb.SetStatus(orders[0].ID, salesapi.StatusProgress))
	must(t, h.sb.SetStatus(orders[1].ID, salesapi.StatusConfirmed))
	must(t, h.sb.SetFinalPrice(orders[2].ID, 7_300_000))
	must(t, h.sb.SetComment(orders[3].ID, "клиент думает"))
	h.sb.CreateOrder(salesapitest.OrderSpec{})
	h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 500, Path: salesapitest.PathOrders, Count: 1})
	h.waitFor("the 500 to be served", func() bool { return len(h.sb.Faults()) == 0 })
	h.settle()

	// Hold the poller's next list call inside the sandbox: no call is in
	// flight between the client and the sandbox while we compare.
	h.sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultSlow, Path: salesapitest.PathOrders, Count: 1, Delay: time.Minute, RealTime: true})
	h.waitFor("a list call to be held", func() bool { return len(h.sb.Faults()) == 0 })

	m := scrape(t, base)
	evs := h.events()
	byType := countTypes(evs)

	var ok200, ok204, got500, tokens int
	for _, r := range h.sb.Requests() {
		switch {
		case r.Method == http.MethodGet && r.ClientID == h.sb.ClientID() && r.Status == http.StatusOK:
			ok200++
		case r.Method == http.MethodGet && r.ClientID == h.sb.ClientID() && r.Status == http.StatusNoContent:
			ok204++
		case r.Method == http.MethodGet && r.Status == http.StatusInternalServerError:
			got500++
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, salesapitest.TokenPath) && r.Status == http.StatusOK:
			tokens++
		}
	}
	status, err := h.run.b.Status()
	must(t, err)
	sandboxCounts := map[string]int{}
	for _, o := range h.sb.Orders() {
		sandboxCounts[o.Status.String()]++
	}

	type check struct {
		what string
		got  float64
		want float64
	}
	val := func(name string, kv ...string) float64 {
		v, found := m.value(name, kv...)
		if !found {
			t.Errorf("no series %s%v", name, kv)
		}
		return v
	}
	opt := func(name string, kv ...string) float64 { v, _ := m.value(name, kv...); return v }
	checks := []check{
		{"GET answered 200 + 204", val("salesbridge_api_calls_total", "method", "GET", "code", "200") + opt("salesbridge_api_calls_total", "method", "GET", "code", "204"), float64(ok200 + ok204)},
		{"GET answered 500", val("salesbridge_api_calls_total", "method", "GET", "code", "500"), float64(got500)},
		{"GET retried", val("salesbridge_api_retries_total", "method", "GET"), float64(got500)},
		{"list calls failed after retries", val("salesbridge_poll_errors_total"), 0},
		{"tokens fetched", val("salesbridge_token_fetches_total", "result", "ok"), float64(tokens)},
		{"outbox depth", val("salesbridge_outbox_depth"), 0},
		{"outbox oldest age", val("salesbridge_outbox_oldest_age_seconds"), 0},
		{"last sync", val("salesbridge_last_sync_timestamp_seconds"), float64(status.LastSync.UnixMilli()) / 1e3},
		{"nats connected", val("salesbridge_nats_connected"), 1},
		{"coverage lost", val("salesbridge_coverage_lost"), 0},
		{"budget rate", val("salesbridge_budget_rate"), salesapi.DefaultRate},
		{"429s", val("salesbridge_api_rate_limited_total"), 0},
	}
	for typ, n := range byType {
		checks = append(checks, check{"events emitted " + typ, val("salesbridge_events_emitted_total", "type", typ), float64(n)})
	}
	if emitted, _ := m.value("salesbridge_events_emitted_total"); emitted != float64(len(evs)) {
		t.Errorf("events emitted %v, stream holds %d", emitted, len(evs))
	}
	for _, st := range salesapi.Statuses() {
		checks = append(checks, check{"orders tracked " + st.String(), val("salesbridge_orders_tracked", "status", st.String()), float64(sandboxCounts[st.String()])})
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: metric %v, want %v", c.what, c.got, c.want)
		}
	}
	// The relay publishes the events and the orders bucket's updates.
	if published := val("salesbridge_relay_published_total"); published < float64(len(evs)) {
		t.Errorf("relay published %v messages, the stream holds %d events", published, len(evs))
	}
	if ok200 == 0 || got500 != 1 || tokens == 0 || byType["order.created"] != 7 || byType["order.status_changed"] != 2 {
		t.Errorf("the script did not run as planned: 200s %d, 500s %d, tokens %d, events %v", ok200, got500, tokens, byType)
	}
	if _, found := m.value("salesbridge_poll_duration_seconds_count"); !found {
		t.Error("no poll duration histogram")
	}
}

// restartNATS stops the harness's nats-server, calls down while it is
// stopped, and starts a new one on the same port and store directory; the
// harness's connection (and the bridge's) reconnects by itself.
func (h *harness) restartNATS(down func()) {
	h.t.Helper()
	port := h.ns.Addr().(*net.TCPAddr).Port
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	down()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: filepath.Join(h.dir, "nats"), NoLog: true, NoSigs: true})
	if err != nil {
		h.t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		h.t.Fatal("nats-server did not restart")
	}
	h.ns = ns
	// Runs before the harness's own cleanup: stop the bridge while NATS is
	// still up, then this server.
	h.t.Cleanup(func() {
		h.stop()
		h.nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
}

// TestReadyzFollowsNATS: /readyz goes unready when NATS goes away and ready
// again when it is back; events that piled up meanwhile raise the
// outbox_backlog advisory, which ends once they are published.
func TestReadyzFollowsNATS(t *testing.T) {
	h := newHarness(t, withMetrics)
	h.sb.CreateOrder(salesapitest.OrderSpec{})
	advs := h.watchAdvisories()
	h.start()
	base := h.serveOps()
	h.settle()
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before: %d %s", code, body)
	}
	before := len(h.events())

	h.restartNATS(func() {
		h.waitFor("/readyz to go unready", func() bool {
			code, body := get(t, base+"/readyz")
			return code == http.StatusServiceUnavailable && strings.Contains(body, "nats")
		})
		if v, _ := scrape(t, base).value("salesbridge_nats_connected"); v != 0 {
			t.Errorf("nats_connected %v while NATS is down", v)
		}
		for range 3 {
			h.sb.CreateOrder(salesapitest.OrderSpec{})
		}
		// Events wait in the outbox longer than the advisory allows.
		h.waitFor("events to wait in the outbox", func() bool {
			st, err := h.run.b.Status()
			return err == nil && st.Outbox.Oldest != nil && h.clk.Now().Sub(*st.Outbox.Oldest) > bridge.AdvisoryBacklogAge+2*bridge.AdvisoryCheckEvery
		})
	})
	h.waitFor("/readyz to be ready again", func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK
	})
	h.settle()
	if got := len(h.events()); got != before+3 {
		t.Errorf("after the outage: %d events, want %d", got, before+3)
	}
	advs.expect(bridge.AdvisoryOutboxBacklog, bridge.AdvisoryStarted)
	advs.expect(bridge.AdvisoryOutboxBacklog, bridge.AdvisoryEnded)
	advs.none()
	h.stop()
}
