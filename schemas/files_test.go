package schemas

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readSchema returns the schema file of the given name, decoded with
// json.Number numbers.
func readSchema(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := fs.ReadFile(FS(), name+".json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	return m
}

func TestFilesAreWellFormed(t *testing.T) {
	names := Names()
	want := []string{
		"advisory", "api.order.get.reply", "api.order.get.request", "api.status.reply", "api.status.request",
		"cloudevent", "command", "command.failed", "command.outcome", "command.succeeded",
		"order", "order.created", "order.price_changed", "order.snapshot", "order.status_changed", "order.updated",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	for _, name := range names {
		s := readSchema(t, name)
		if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %v", name, s["$schema"])
		}
		if s["$id"] != ID(name) {
			t.Errorf("%s: $id = %v, want %s", name, s["$id"], ID(name))
		}
		for _, k := range []string{"title", "description"} {
			if v, _ := s[k].(string); v == "" {
				t.Errorf("%s: no %s", name, k)
			}
		}
		if ex, _ := s["examples"].([]any); len(ex) == 0 {
			t.Errorf("%s: no examples", name)
		}
	}
	// Every file is either a schema or the AsyncAPI document.
	entries, err := fs.ReadDir(FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(names)+1 {
		t.Errorf("FS has %d files, want %d schemas + %s", len(entries), len(names), AsyncAPIFile)
	}
}

// TestRefsStayInsideTheContract finds every $ref of every schema and checks
// it names an embedded schema (by urn) or a local fragment.
func TestRefsStayInsideTheContract(t *testing.T) {
	var walk func(name string, v any)
	walk = func(name string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				base, _, _ := strings.Cut(r, "#")
				if base != "" && (!strings.HasPrefix(base, IDPrefix) || !slices.Contains(Names(), strings.TrimPrefix(base, IDPrefix))) {
					t.Errorf("%s: $ref %q does not name an embedded schema", name, r)
				}
			}
			for _, x := range v {
				walk(name, x)
			}
		case []any:
			for _, x := range v {
				walk(name, x)
			}
		}
	}
	for _, name := range Names() {
		walk(name, readSchema(t, name))
	}
}

func TestEventTypesHaveSchemas(t *testing.T) {
	for _, typ := range EventTypes() {
		s := readSchema(t, typ)
		props, _ := s["properties"].(map[string]any)
		if c := props["type"].(map[string]any)["const"]; c != typ {
			t.Errorf("%s: type const = %v", typ, c)
		}
		if c := props["dataschema"].(map[string]any)["const"]; c != DataSchema(typ) {
			t.Errorf("%s: dataschema const = %v, want %s", typ, c, DataSchema(typ))
		}
		allOf, _ := s["allOf"].([]any)
		if len(allOf) == 0 || allOf[0].(map[string]any)["$ref"] != ID("cloudevent") {
			t.Errorf("%s: does not build on the cloudevent envelope", typ)
		}
	}
	// And every schema built on the envelope is an event type.
	for _, name := range Names() {
		allOf, _ := readSchema(t, name)["allOf"].([]any)
		if len(allOf) > 0 && allOf[0].(map[string]any)["$ref"] == ID("cloudevent") && !slices.Contains(EventTypes(), name) {
			t.Errorf("%s builds on the envelope but is not in EventTypes", name)
		}
	}
}

func TestIDs(t *testing.T) {
	tests := []struct{ got, want string }{
		{ID("order"), "urn:salesbridge:v1:order"},
		{DataSchema(TypeOrderStatusChanged), "urn:salesbridge:v1:order.status_changed"},
		{DataSchema(TypeCommandFailed), "urn:salesbridge:v1:command.failed"},
		{KVKey("order.status_changed.json"), "v1.order.status_changed.json"},
		{KVKey("asyncapi.yaml"), "v1.asyncapi.yaml"},
		{KVKey("out/command.json"), "v1.command.json"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// kvKey is the rule of NATS KV keys (nats.go: validKeyRe), plus no leading
// or trailing dot.
var kvKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

func TestKVKeysAreValid(t *testing.T) {
	entries, err := fs.ReadDir(FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		k := KVKey(e.Name())
		if !kvKey.MatchString(k) || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
			t.Errorf("KVKey(%q) = %q is not a valid NATS KV key", e.Name(), k)
		}
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			// The key follows from the id: urn:salesbridge:v1:<name> -> v1.<name>.json.
			id := ID(name)
			if want := strings.ReplaceAll(strings.TrimPrefix(id, "urn:salesbridge:"), ":", ".") + ".json"; k != want {
				t.Errorf("KVKey(%q) = %q, want %q derived from %s", e.Name(), k, want, id)
			}
		}
	}
}
