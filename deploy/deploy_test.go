package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"
)

// TestMain checks for goroutine leaks: nats_test.go starts a NATS server.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requiredFiles are the deployment files the README promises; the walk in
// TestFilesParse must find each of them.
func requiredFiles() []string {
	return []string{
		"Dockerfile",
		"compose.yaml",
		"kubernetes/kustomization.yaml",
		"kubernetes/statefulset.yaml",
		"kubernetes/service.yaml",
		"kubernetes/configmap.yaml",
		"kubernetes/secret.example.yaml",
		"kubernetes/check-job.example.yaml",
		"systemd/salesbridge.service",
		"systemd/salesbridge.env",
		"nats/events-stream.json",
		"nats/commands-stream.json",
		"nats/commands-consumer.json",
		"nats/crm-consumer.example.json",
		"prometheus/alerts.yaml",
		"grafana/salesbridge.json",
	}
}

// TestFilesParse walks deploy/ and parses every YAML file (all documents) and
// every JSON file in it.
func TestFilesParse(t *testing.T) {
	var seen []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		seen = append(seen, filepath.ToSlash(path))
		var parse func([]byte) error
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			parse = yamlParse
		case ".json":
			parse = parseJSON
		default:
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := parse(data); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range requiredFiles() {
		if !slices.Contains(seen, f) {
			t.Errorf("missing %s", f)
		}
	}
}

// TestParsersReject shows the parsers used above catch broken files.
func TestParsersReject(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) error
		in    string
	}{
		{"yaml tab indent", yamlParse, "a:\n\tb: 1\n"},
		{"yaml duplicate key", yamlParse, "a: 1\na: 2\n"},
		{"yaml bad second document", yamlParse, "a: 1\n---\nb: [1, 2\n"},
		{"yaml unknown anchor", yamlParse, "a: *nope\n"},
		{"json trailing value", parseJSON, `{"a": 1} {"b": 2}`},
		{"json trailing comma", parseJSON, `{"a": 1,}`},
		{"json empty", parseJSON, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse([]byte(tt.in)); err == nil {
				t.Errorf("parsed %q without error", tt.in)
			}
		})
	}
	if _, err := yamlDocs([]byte("a: 1\n---\nb: 2\n")); err != nil {
		t.Errorf("two good documents: %v", err)
	}
}

func yamlParse(b []byte) error { _, err := yamlDocs(b); return err }

// yamlDocs parses every document of a YAML stream. Each one is also decoded
// into a generic value, which is where yaml.v3 reports duplicate keys and
// resolves merge keys and aliases.
func yamlDocs(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		docs = append(docs, &n)
	}
}

// parseJSON checks data holds exactly one JSON value.
func parseJSON(data []byte) error {
	var v any
	return decodeJSON(data, &v, false)
}

// decodeJSON decodes exactly one JSON value into v; strict rejects fields v
// does not have.
func decodeJSON(data []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the first JSON value")
	}
	return nil
}

// readFile reads a file relative to deploy/ (the test's working directory).
func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlKind decodes the first document of the given kind in a YAML file into v.
func yamlKind(t *testing.T, name, kind string, v any) {
	t.Helper()
	docs, err := yamlDocs(readFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, d := range docs {
		var head struct {
			Kind string `yaml:"kind"`
		}
		if err := d.Decode(&head); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if head.Kind == kind {
			if err := d.Decode(v); err != nil {
				t.Fatalf("%s: %s: %v", name, kind, err)
			}
			return
		}
	}
	t.Fatalf("%s: no %s", name, kind)
}

// knownEnv is the configuration contract (DESIGN.md §3): every environment
// variable salesbridge reads. The NATS TLS flags have env twins like all flags.
func knownEnv() []string {
	return []string{
		"SALESBRIDGE_API_URL",
		"SALESBRIDGE_AUTH_URL",
		"SALESBRIDGE_CLIENT_ID",
		"SALESBRIDGE_CLIENT_SECRET",
		"SALESBRIDGE_CLIENT_SECRET_FILE",
		"SALESBRIDGE_NATS_URL",
		"SALESBRIDGE_NATS_CREDS",
		"SALESBRIDGE_NATS_CA",
		"SALESBRIDGE_NATS_CERT",
		"SALESBRIDGE_NATS_KEY",
		"SALESBRIDGE_NATS_CONTEXT",
		"SALESBRIDGE_STATE",
		"SALESBRIDGE_PREFIX",
		"SALESBRIDGE_RATE",
		"SALESBRIDGE_LOOKBACK",
		"SALESBRIDGE_OGRN",
		"SALESBRIDGE_INITIAL",
		"SALESBRIDGE_PII",
		"SALESBRIDGE_METRICS_ADDR",
	}
}

// checkEnvNames reports variables that salesbridge does not read (a typo
// there is silently ignored at run time) and a client secret passed as a
// plain value: deploy files always pass it as a file.
func checkEnvNames(names []string) error {
	var errs []error
	for _, n := range names {
		switch {
		case n == "SALESBRIDGE_CLIENT_SECRET":
			errs = append(errs, errors.New("SALESBRIDGE_CLIENT_SECRET set as a value: use SALESBRIDGE_CLIENT_SECRET_FILE"))
		case strings.HasPrefix(n, "SALESBRIDGE_") && !slices.Contains(knownEnv(), n):
			errs = append(errs, fmt.Errorf("unknown setting %s", n))
		}
	}
	return errors.Join(errs...)
}

// TestEnvNames collects the environment every deploy file sets and checks
// the names against the configuration contract.
func TestEnvNames(t *testing.T) {
	sources := map[string][]string{}

	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	yamlKind(t, "kubernetes/configmap.yaml", "ConfigMap", &cm)
	for k := range cm.Data {
		sources["kubernetes/configmap.yaml"] = append(sources["kubernetes/configmap.yaml"], k)
	}
	var sts statefulSet
	yamlKind(t, "kubernetes/statefulset.yaml", "StatefulSet", &sts)
	for _, c := range sts.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			sources["kubernetes/statefulset.yaml"] = append(sources["kubernetes/statefulset.yaml"], e.Name)
		}
	}
	var job job
	yamlKind(t, "kubernetes/check-job.example.yaml", "Job", &job)
	for _, c := range job.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			sources["kubernetes/check-job.example.yaml"] = append(sources["kubernetes/check-job.example.yaml"], e.Name)
		}
	}
	compose := loadCompose(t)
	for _, s := range compose.Services {
		for k := range s.Environment {
			sources["compose.yaml"] = append(sources["compose.yaml"], k)
		}
	}
	unit, err := parseUnit(readFile(t, "systemd/salesbridge.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range unit["Service"]["Environment"] {
		k, _, _ := strings.Cut(kv, "=")
		sources["systemd/salesbridge.service"] = append(sources["systemd/salesbridge.service"], k)
	}
	envFile, err := parseEnvFile(readFile(t, "systemd/salesbridge.env"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range envFile {
		sources["systemd/salesbridge.env"] = append(sources["systemd/salesbridge.env"], k)
	}
	ins, err := parseDockerfile(readFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		if in.cmd == "ENV" {
			for _, f := range strings.Fields(in.args) {
				k, _, _ := strings.Cut(f, "=")
				sources["Dockerfile"] = append(sources["Dockerfile"], k)
			}
		}
	}

	for src, names := range sources {
		if len(names) == 0 {
			t.Errorf("%s: no environment found", src)
		}
		if err := checkEnvNames(names); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
	if len(sources) != 7 {
		t.Errorf("environment found in %d files, want 7", len(sources))
	}

	for _, bad := range [][]string{
		{"SALESBRIDGE_CLIENT_SECRET"},
		{"SALESBRIDGE_METRIC_ADDR"},
		{"SALESBRIDGE_NATS_URL", "SALESBRIDGE_STATEFILE"},
	} {
		if checkEnvNames(bad) == nil {
			t.Errorf("checkEnvNames(%q) = nil, want an error", bad)
		}
	}
	if err := checkEnvNames([]string{"GOMEMLIMIT", "SALESBRIDGE_PII", "NATS_URL"}); err != nil {
		t.Errorf("checkEnvNames(good) = %v", err)
	}
}

// parseEnvFile parses a systemd EnvironmentFile: KEY=VALUE lines, comments.
func parseEnvFile(data []byte) (map[string]string, error) {
	env := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: not KEY=VALUE", i+1)
		}
		env[k] = v
	}
	return env, nil
}
