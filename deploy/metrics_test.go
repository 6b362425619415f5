package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// metric describes one metric salesbridge exports: its type and its labels,
// with the values of the labels whose values are a closed set.
type metric struct {
	kind   string // counter, gauge or histogram
	labels map[string][]string
}

// knownMetrics is the metrics contract the alert rules and the dashboard are
// written against. Keep it in step with what the bridge registers.
func knownMetrics() map[string]metric {
	open := []string(nil)
	return map[string]metric{
		"salesbridge_api_calls_total":             {"counter", map[string][]string{"method": open, "code": open}},
		"salesbridge_api_call_duration_seconds":   {"histogram", map[string][]string{"method": open}},
		"salesbridge_api_retries_total":           {"counter", map[string][]string{"method": open}},
		"salesbridge_api_rate_limited_total":      {"counter", nil},
		"salesbridge_budget_calls_used":           {"gauge", nil},
		"salesbridge_budget_calls_free":           {"gauge", nil},
		"salesbridge_budget_rate":                 {"gauge", nil},
		"salesbridge_token_fetches_total":         {"counter", map[string][]string{"result": {"ok", "error"}}},
		"salesbridge_poll_duration_seconds":       {"histogram", nil},
		"salesbridge_poll_errors_total":           {"counter", nil},
		"salesbridge_coverage_gaps_total":         {"counter", map[string][]string{"status": open}},
		"salesbridge_orders_tracked":              {"gauge", map[string][]string{"status": open}},
		"salesbridge_events_emitted_total":        {"counter", map[string][]string{"type": open}},
		"salesbridge_outbox_depth":                {"gauge", nil},
		"salesbridge_outbox_oldest_age_seconds":   {"gauge", nil},
		"salesbridge_relay_published_total":       {"counter", nil},
		"salesbridge_relay_publish_errors_total":  {"counter", nil},
		"salesbridge_commands_total":              {"counter", map[string][]string{"outcome": {"ok", "invalid", "not_found", "forbidden", "rejected", "unavailable"}}},
		"salesbridge_command_duration_seconds":    {"histogram", nil},
		"salesbridge_last_sync_timestamp_seconds": {"gauge", nil},
		"salesbridge_staleness_seconds":           {"gauge", map[string][]string{"status": open}},
		"salesbridge_coverage_lost":               {"gauge", nil},
		"salesbridge_nats_connected":              {"gauge", nil},
	}
}

var (
	selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	stringRE   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	metricRE   = regexp.MustCompile(`\bsalesbridge_[a-zA-Z0-9_]*`)
)

// resolveMetric maps a series name to the metric that exports it: itself,
// or a histogram for its _bucket, _sum and _count series.
func resolveMetric(name string) (string, metric, bool) {
	known := knownMetrics()
	if m, ok := known[name]; ok {
		return name, m, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if m, found := known[base]; ok && found && m.kind == "histogram" {
			return base, m, true
		}
	}
	return "", metric{}, false
}

// exprMetrics returns the salesbridge metrics a PromQL expression reads, and
// an error for an unknown metric, a label the metric does not have, or an
// exact label value outside a closed set. It is not a PromQL parser: names
// are found outside string literals, selectors by their braces.
func exprMetrics(expr string) ([]string, error) {
	var errs []error
	for _, sel := range selectorRE.FindAllStringSubmatch(expr, -1) {
		name, m, ok := resolveMetric(sel[1])
		if !ok {
			continue // reported below, or not ours (up, …)
		}
		for _, mt := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
			label, op, value := mt[1], mt[2], mt[3]
			if label == "job" || label == "instance" || (label == "le" && m.kind == "histogram") {
				continue
			}
			values, ok := m.labels[label]
			if !ok {
				errs = append(errs, fmt.Errorf("%s has no label %q", name, label))
				continue
			}
			if op == "=" && values != nil && !slices.Contains(values, value) {
				errs = append(errs, fmt.Errorf("%s{%s}: %q is not one of %v", name, label, value, values))
			}
		}
	}
	var names []string
	for _, n := range metricRE.FindAllString(stringRE.ReplaceAllString(expr, `""`), -1) {
		base, _, ok := resolveMetric(n)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown metric %s", n))
			continue
		}
		if !slices.Contains(names, base) {
			names = append(names, base)
		}
	}
	return names, errors.Join(errs...)
}

func TestExprMetrics(t *testing.T) {
	tests := []struct {
		expr    string
		want    []string
		wantErr bool
	}{
		{`salesbridge_coverage_lost == 1`, []string{"salesbridge_coverage_lost"}, false},
		{`histogram_quantile(0.95, sum by (le) (rate(salesbridge_poll_duration_seconds_bucket[5m])))`, []string{"salesbridge_poll_duration_seconds"}, false},
		{`increase(salesbridge_commands_total{outcome="unavailable", job=~".*"}[15m])`, []string{"salesbridge_commands_total"}, false},
		{`up{job=~".*salesbridge_x.*"} == 0`, nil, false},
		{`salesbridge_coverage_lost{instance=~"$instance"}`, []string{"salesbridge_coverage_lost"}, false},
		{`salesbridge_outbox_size > 10`, nil, true},
		{`rate(salesbridge_api_calls_total_bucket[5m])`, nil, true},
		{`salesbridge_commands_total{result="ok"}`, nil, true},
		{`salesbridge_commands_total{outcome="failed"}`, nil, true},
		{`salesbridge_token_fetches_total{result="failure"}`, nil, true},
		{`salesbridge_nats_connected{status="x"}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := exprMetrics(tt.expr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// ruleFile is a Prometheus rule file (the spec of a PrometheusRule).
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// wantAlerts are the alerts the README's Operations section explains.
func wantAlerts() []string {
	return []string{
		"SalesbridgeDown",
		"SalesbridgeSyncStale",
		"SalesbridgeOutboxBacklog",
		"SalesbridgeRelayPublishErrors",
		"SalesbridgeAPIRateLimited",
		"SalesbridgeAuthFailing",
		"SalesbridgeAPIUnavailable",
		"SalesbridgeCoverageLost",
		"SalesbridgeCommandsFailing",
		"SalesbridgeNATSDisconnected",
	}
}

// checkRule checks one alerting rule: the metrics it reads, its severity,
// its annotations and its `for`.
func checkRule(r rule) error {
	var errs []error
	names, err := exprMetrics(r.Expr)
	if err != nil {
		errs = append(errs, err)
	}
	if len(names) == 0 && !strings.Contains(r.Expr, "up{") {
		errs = append(errs, errors.New("reads no salesbridge metric"))
	}
	if s := r.Labels["severity"]; s != "critical" && s != "warning" {
		errs = append(errs, fmt.Errorf("severity %q, want critical or warning", s))
	}
	for _, a := range []string{"summary", "description", "runbook_url"} {
		if strings.TrimSpace(r.Annotations[a]) == "" {
			errs = append(errs, fmt.Errorf("no %s annotation", a))
		}
	}
	if u := r.Annotations["runbook_url"]; !strings.HasSuffix(u, "#operations") {
		errs = append(errs, fmt.Errorf("runbook_url %q does not point at the README's #operations", u))
	}
	if r.For != "" {
		if _, err := time.ParseDuration(r.For); err != nil {
			errs = append(errs, fmt.Errorf("for: %w", err))
		}
	}
	return errors.Join(errs...)
}

func TestAlertRules(t *testing.T) {
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "prometheus/alerts.yaml")))
	dec.KnownFields(true)
	var f ruleFile
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule without alert (recording rules belong elsewhere)", g.Name)
				continue
			}
			if slices.Contains(got, r.Alert) {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			got = append(got, r.Alert)
			if err := checkRule(r); err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
		}
	}
	slices.Sort(got)
	want := wantAlerts()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("alerts = %v, want %v", got, want)
	}

	good := rule{
		Alert:       "X",
		Expr:        "salesbridge_nats_connected == 0",
		For:         "2m",
		Labels:      map[string]string{"severity": "critical"},
		Annotations: map[string]string{"summary": "s", "description": "d", "runbook_url": "https://x/#operations"},
	}
	if err := checkRule(good); err != nil {
		t.Fatalf("checkRule(good) = %v", err)
	}
	broken := map[string]func(*rule){
		"unknown metric": func(r *rule) { r.Expr = "salesbridge_nats_up == 0" },
		"no metric":      func(r *rule) { r.Expr = "vector(1)" },
		"severity":       func(r *rule) { r.Labels = map[string]string{"severity": "page"} },
		"no runbook":     func(r *rule) { r.Annotations = map[string]string{"summary": "s", "description": "d"} },
		"runbook anchor": func(r *rule) {
			r.Annotations = map[string]string{"summary": "s", "description": "d", "runbook_url": "https://x/"}
		},
		"bad for": func(r *rule) { r.For = "two minutes" },
		"no description": func(r *rule) {
			r.Annotations = map[string]string{"summary": "s", "runbook_url": "https://x/#operations"}
		},
		"wrong label set": func(r *rule) { r.Expr = `salesbridge_commands_total{outcome="timeout"} > 0` },
	}
	for name, breakIt := range broken {
		r := good
		breakIt(&r)
		if checkRule(r) == nil {
			t.Errorf("%s: checkRule = nil, want an error", name)
		}
	}
}

// dashboard is the part of a Grafana dashboard the test looks at.
type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query any    `json:"query"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// checkDashboard checks the panels: unique ids, no overlap, every query on
// the ${DS_PROMETHEUS} data source and on known metrics, and every known
// metric shown somewhere.
func checkDashboard(d dashboard) error {
	var errs []error
	if d.SchemaVersion < 36 {
		errs = append(errs, fmt.Errorf("schemaVersion %d, want 36 or newer", d.SchemaVersion))
	}
	hasDS := slices.ContainsFunc(d.Templating.List, func(v variable) bool {
		return v.Name == "DS_PROMETHEUS" && v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasDS {
		errs = append(errs, errors.New("no datasource variable DS_PROMETHEUS"))
	}
	shown := map[string]bool{}
	ids := map[int]bool{}
	var placed []panel
	var visit func(ps []panel)
	visit = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				errs = append(errs, fmt.Errorf("panel id %d used twice", p.ID))
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				errs = append(errs, fmt.Errorf("panel %q: bad gridPos %+v", p.Title, g))
			}
			for _, q := range placed {
				h := q.GridPos
				if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
					errs = append(errs, fmt.Errorf("panels %q and %q overlap", p.Title, q.Title))
				}
			}
			placed = append(placed, p)
			if p.Type == "row" {
				visit(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
				errs = append(errs, fmt.Errorf("panel %q: data source is not ${DS_PROMETHEUS}", p.Title))
			}
			if len(p.Targets) == 0 {
				errs = append(errs, fmt.Errorf("panel %q: no query", p.Title))
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil && tg.Datasource.UID != "${DS_PROMETHEUS}" {
					errs = append(errs, fmt.Errorf("panel %q: query data source is not ${DS_PROMETHEUS}", p.Title))
				}
				names, err := exprMetrics(tg.Expr)
				if err != nil {
					errs = append(errs, fmt.Errorf("panel %q: %w", p.Title, err))
				}
				if len(names) == 0 {
					errs = append(errs, fmt.Errorf("panel %q: query %q reads no salesbridge metric", p.Title, tg.Expr))
				}
				for _, n := range names {
					shown[n] = true
				}
			}
		}
	}
	visit(d.Panels)
	for name := range knownMetrics() {
		if !shown[name] {
			errs = append(errs, fmt.Errorf("no panel shows %s", name))
		}
	}
	return errors.Join(errs...)
}

func TestDashboard(t *testing.T) {
	var d dashboard
	if err := decodeJSON(readFile(t, "grafana/salesbridge.json"), &d, false); err != nil {
		t.Fatal(err)
	}
	if err := checkDashboard(d); err != nil {
		t.Error(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both needed for provisioning", d.UID, d.Title)
	}

	// The check can fail: break a copy in a few ways.
	clone := func() dashboard {
		var c dashboard
		if err := decodeJSON(readFile(t, "grafana/salesbridge.json"), &c, false); err != nil {
			t.Fatal(err)
		}
		return c
	}
	firstGraph := func(c *dashboard) *panel {
		for i := range c.Panels {
			if c.Panels[i].Type != "row" && len(c.Panels[i].Targets) > 0 {
				return &c.Panels[i]
			}
		}
		t.Fatal("no graph panel")
		return nil
	}
	broken := map[string]func(*dashboard){
		"unknown metric": func(c *dashboard) { firstGraph(c).Targets[0].Expr = "salesbridge_nope" },
		"fixed data source": func(c *dashboard) {
			firstGraph(c).Datasource = &datasource{Type: "prometheus", UID: "P1809F7CD0C75ACF3"}
		},
		"duplicate id":  func(c *dashboard) { c.Panels[1].ID = c.Panels[0].ID },
		"overlap":       func(c *dashboard) { c.Panels[2].GridPos = c.Panels[1].GridPos },
		"metric hidden": func(c *dashboard) { c.Panels = c.Panels[:3] },
		"old schema":    func(c *dashboard) { c.SchemaVersion = 16 },
	}
	for name, breakIt := range broken {
		c := clone()
		breakIt(&c)
		if checkDashboard(c) == nil {
			t.Errorf("%s: checkDashboard = nil, want an error", name)
		}
	}
}
