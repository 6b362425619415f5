package schemas

import (
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestChannels(t *testing.T) {
	got, err := Channels()
	if err != nil {
		t.Fatal(err)
	}
	p := []string{"prefix"}
	po := []string{"prefix", "orderId"}
	want := []Channel{
		{Name: "advisory", Address: "{prefix}.advisory.{kind}", Parameters: []string{"prefix", "kind"}, Action: ActionSend, Messages: []string{"advisory"}},
		{Name: "apiOrderGet", Address: "{prefix}.api.order.get", Parameters: p, Action: ActionReceive, Messages: []string{"api.order.get.request"}, Replies: []string{"api.order.get.reply"}},
		{Name: "apiOrderPatch", Address: "{prefix}.api.order.patch", Parameters: p, Action: ActionReceive, Messages: []string{"command"}, Replies: []string{"command.outcome"}},
		{Name: "apiStatus", Address: "{prefix}.api.status", Parameters: p, Action: ActionReceive, Messages: []string{"api.status.request"}, Replies: []string{"api.status.reply"}},
		{Name: "commandPatch", Address: "{prefix}.cmd.order.patch", Parameters: p, Action: ActionReceive, Messages: []string{"command"}},
		{Name: "commandResult", Address: "{prefix}.cmd.result.{commandId}", Parameters: []string{"prefix", "commandId"}, Action: ActionSend, Messages: []string{"command.succeeded", "command.failed"}},
		{Name: "orderCreated", Address: "{prefix}.order.created.{orderId}", Parameters: po, Action: ActionSend, Messages: []string{"order.created"}},
		{Name: "orderPriceChanged", Address: "{prefix}.order.price_changed.{orderId}", Parameters: po, Action: ActionSend, Messages: []string{"order.price_changed"}},
		{Name: "orderSnapshot", Address: "{prefix}.order.snapshot.{orderId}", Parameters: po, Action: ActionSend, Messages: []string{"order.snapshot"}},
		{Name: "orderStatusChanged", Address: "{prefix}.order.status_changed.{orderId}", Parameters: po, Action: ActionSend, Messages: []string{"order.status_changed"}},
		{Name: "orderUpdated", Address: "{prefix}.order.updated.{orderId}", Parameters: po, Action: ActionSend, Messages: []string{"order.updated"}},
	}
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w Channel
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("channel %d:\n got %+v\nwant %+v", i, g, w)
			}
		}
	}
}

// TestEventChannelsFollowTheirType: an event of type order.<x> goes to
// {prefix}.order.<x>.{orderId}; every event type has a channel.
func TestEventChannelsFollowTheirType(t *testing.T) {
	chans, err := Channels()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range chans {
		for _, m := range c.Messages {
			if !slices.Contains(EventTypes(), m) {
				continue
			}
			seen[m] = true
			if kind, ok := strings.CutPrefix(m, "order."); ok {
				if want := "{prefix}.order." + kind + ".{orderId}"; c.Address != want {
					t.Errorf("%s on %s, want %s", m, c.Address, want)
				}
			}
			if c.Action != ActionSend {
				t.Errorf("%s: action %s", m, c.Action)
			}
		}
	}
	for _, typ := range EventTypes() {
		if !seen[typ] {
			t.Errorf("event type %s has no channel", typ)
		}
	}
}

// TestAsyncAPIDocument reads asyncapi.yaml generically: the version, every
// file reference, every message's name, and that every schema is reachable.
func TestAsyncAPIDocument(t *testing.T) {
	b, err := fs.ReadFile(FS(), AsyncAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if v, _ := doc["asyncapi"].(string); !strings.HasPrefix(v, "3.0.") {
		t.Errorf("asyncapi = %q, want 3.0.x", v)
	}
	for _, k := range []string{"info", "servers", "channels", "operations", "components"} {
		if doc[k] == nil {
			t.Errorf("no %s", k)
		}
	}
	if p := doc["servers"].(map[string]any)["local"].(map[string]any)["protocol"]; p != "nats" {
		t.Errorf("server protocol %v, want nats", p)
	}
	desc := doc["info"].(map[string]any)["description"].(string)
	for _, s := range []string{"{prefix}_orders", "{prefix}_schemas", "v1.order.status_changed.json", "SALESBRIDGE_EVENTS", "SALESBRIDGE_COMMANDS"} {
		if !strings.Contains(desc, s) {
			t.Errorf("info.description does not mention %s", s)
		}
	}

	// Every reference to a file names an embedded schema; every internal
	// reference resolves.
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	payloads := map[string]bool{}
	for _, r := range refs {
		if file, ok := strings.CutPrefix(r, "./"); ok {
			if _, err := fs.Stat(FS(), file); err != nil {
				t.Errorf("$ref %s: not embedded", r)
			}
			payloads[strings.TrimSuffix(file, ".json")] = true
			continue
		}
		if resolve(doc, r) == nil {
			t.Errorf("$ref %s does not resolve", r)
		}
	}
	// Every schema is a payload, except the building blocks.
	for _, name := range Names() {
		if !payloads[name] && name != "cloudevent" && name != "order" {
			t.Errorf("schema %s is not the payload of any message", name)
		}
	}
	// A message's name is the name of its payload's schema.
	msgs := doc["components"].(map[string]any)["messages"].(map[string]any)
	for _, key := range slices.Sorted(maps.Keys(msgs)) {
		m := msgs[key].(map[string]any)
		ref := m["payload"].(map[string]any)["schema"].(map[string]any)["$ref"].(string)
		if want := "./" + m["name"].(string) + ".json"; ref != want {
			t.Errorf("message %s: payload %s, want %s", key, ref, want)
		}
	}
}

// resolve follows a local JSON pointer reference ("#/a/b") in doc.
func resolve(doc map[string]any, ref string) any {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, tok := range strings.Split(ptr, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
	}
	return cur
}

func TestPatternAndMatch(t *testing.T) {
	chans, err := Channels()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Channel{}
	for _, c := range chans {
		byName[c.Name] = c
	}
	tests := []struct {
		channel, prefix, subject string
		wantPattern              string
		want                     map[string]string // nil: no match
	}{
		{"orderStatusChanged", "salesbridge", "salesbridge.order.status_changed.481516", "salesbridge.order.status_changed.>", map[string]string{"orderId": "481516"}},
		{"orderStatusChanged", "salesbridge", "salesbridge.order.price_changed.481516", "salesbridge.order.status_changed.>", nil},
		{"orderStatusChanged", "salesbridge", "salesbridge.order.status_changed", "salesbridge.order.status_changed.>", nil},
		{"orderStatusChanged", "salesbridge", "other.order.status_changed.481516", "salesbridge.order.status_changed.>", nil},
		{"orderCreated", "acme.sales", "acme.sales.order.created.7", "acme.sales.order.created.>", map[string]string{"orderId": "7"}},
		{"orderCreated", "acme.sales", "acme.order.created.7", "acme.sales.order.created.>", nil},
		{"commandResult", "salesbridge", "salesbridge.cmd.result.cmd-42", "salesbridge.cmd.result.>", map[string]string{"commandId": "cmd-42"}},
		{"commandResult", "salesbridge", "salesbridge.cmd.result.crm.7f3c:1", "salesbridge.cmd.result.>", map[string]string{"commandId": "crm.7f3c:1"}},
		{"commandResult", "salesbridge", "salesbridge.cmd.result.crm..1", "salesbridge.cmd.result.>", nil},
		{"commandPatch", "salesbridge", "salesbridge.cmd.order.patch", "salesbridge.cmd.order.patch", map[string]string{}},
		{"commandPatch", "salesbridge", "salesbridge.cmd.order.patch.x", "salesbridge.cmd.order.patch", nil},
		{"apiStatus", "sb", "sb.api.status", "sb.api.status", map[string]string{}},
		{"advisory", "salesbridge", "salesbridge.advisory.rate_limited", "salesbridge.advisory.>", map[string]string{"kind": "rate_limited"}},
	}
	for _, tt := range tests {
		c, ok := byName[tt.channel]
		if !ok {
			t.Fatalf("no channel %s", tt.channel)
		}
		if p := c.Pattern(tt.prefix); p != tt.wantPattern {
			t.Errorf("%s.Pattern(%q) = %q, want %q", tt.channel, tt.prefix, p, tt.wantPattern)
		}
		got, ok := c.Match(tt.prefix, tt.subject)
		if ok != (tt.want != nil) || !maps.Equal(got, tt.want) {
			t.Errorf("%s.Match(%q, %q) = %v, %v; want %v", tt.channel, tt.prefix, tt.subject, got, ok, tt.want)
		}
	}
}

// TestSubjectsAreDisjoint: no subject of one channel matches another, so a
// subject tells which schema applies.
func TestSubjectsAreDisjoint(t *testing.T) {
	chans, err := Channels()
	if err != nil {
		t.Fatal(err)
	}
	sample := map[string]string{"orderId": "481516", "commandId": "cmd-42", "kind": "rate_limited"}
	for _, c := range chans {
		subject := strings.ReplaceAll(c.Address, "{prefix}", "salesbridge")
		for k, v := range sample {
			subject = strings.ReplaceAll(subject, "{"+k+"}", v)
		}
		for _, other := range chans {
			if _, ok := other.Match("salesbridge", subject); ok != (other.Name == c.Name) {
				t.Errorf("%s matches channel %s: %v", subject, other.Name, ok)
			}
		}
	}
}

func TestPlaceholdersAreChecked(t *testing.T) {
	tests := []struct {
		addr     string
		declared []string
		ok       bool
	}{
		{"{prefix}.order.created.{orderId}", []string{"prefix", "orderId"}, true},
		{"{prefix}.order.created.{orderId}", []string{"prefix"}, false},
		{"{prefix}.order.created", []string{"prefix", "orderId"}, false},
		{"x.{prefix}.order", []string{"prefix"}, false},
		{"{prefix}.order_{orderId}", []string{"prefix", "orderId"}, false},
	}
	for _, tt := range tests {
		decl := map[string]yamlRef{}
		for _, d := range tt.declared {
			decl[d] = yamlRef{}
		}
		_, err := placeholders(tt.addr, decl)
		if (err == nil) != tt.ok {
			t.Errorf("placeholders(%q, %v) err = %v", tt.addr, tt.declared, err)
		}
	}
}
