package schemas

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Channel is one subject pattern of asyncapi.yaml, seen from the bridge.
type Channel struct {
	// Name is the channel's key in the document, e.g. "orderStatusChanged".
	Name string
	// Address is the subject pattern with placeholders, e.g.
	// "{prefix}.order.status_changed.{orderId}". The prefix is always the
	// placeholder {prefix}.
	Address string
	// Parameters are the placeholders of Address in order, e.g.
	// ["prefix", "orderId"].
	Parameters []string
	// Action is ActionSend when the bridge publishes on the channel and
	// ActionReceive when it listens on it.
	Action string
	// Messages are the schema names of the payloads the bridge sends or
	// receives here, e.g. ["command.succeeded", "command.failed"].
	Messages []string
	// Replies are the schema names of the replies, for a request/reply
	// (micro) endpoint; nil otherwise.
	Replies []string
}

// The actions of a Channel, from the bridge's point of view.
const (
	ActionSend    = "send"    // the bridge publishes
	ActionReceive = "receive" // the bridge subscribes
)

// ErrAsyncAPI is wrapped by every error about an inconsistent asyncapi.yaml.
var ErrAsyncAPI = errors.New("inconsistent asyncapi document")

// Channels parses asyncapi.yaml and returns its channels that have an
// address, sorted by Address (reply channels, whose address is the
// requester's inbox, are folded into Channel.Replies). It checks the
// document on the way: AsyncAPI 3.0.x, every placeholder declared, every
// reference resolved, every payload an embedded schema, every channel used
// by exactly one operation.
func Channels() ([]Channel, error) {
	b, err := fs.ReadFile(files, AsyncAPIFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", AsyncAPIFile, err)
	}
	var d asyncDoc
	if err := yaml.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("parse %s: %w", AsyncAPIFile, err)
	}
	if !strings.HasPrefix(d.AsyncAPI, "3.0.") {
		return nil, fmt.Errorf("%w: asyncapi version %q, want 3.0.x", ErrAsyncAPI, d.AsyncAPI)
	}
	byChannel := map[string]Channel{}
	replyChannels := map[string]bool{}
	for _, opName := range sortedKeys(d.Operations) {
		op := d.Operations[opName]
		if op.Action != ActionSend && op.Action != ActionReceive {
			return nil, fmt.Errorf("%w: operation %s: action %q", ErrAsyncAPI, opName, op.Action)
		}
		chName, err := d.channelOf(op.Channel)
		if err != nil {
			return nil, fmt.Errorf("operation %s: %w", opName, err)
		}
		if _, dup := byChannel[chName]; dup {
			return nil, fmt.Errorf("%w: channel %s used by two operations", ErrAsyncAPI, chName)
		}
		ch := d.Channels[chName]
		if ch.Address == nil {
			return nil, fmt.Errorf("%w: operation %s: channel %s has no address", ErrAsyncAPI, opName, chName)
		}
		params, err := placeholders(*ch.Address, ch.Parameters)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", chName, err)
		}
		msgs, err := d.payloads(chName, op.Messages)
		if err != nil {
			return nil, fmt.Errorf("operation %s: %w", opName, err)
		}
		c := Channel{Name: chName, Address: *ch.Address, Parameters: params, Action: op.Action, Messages: msgs}
		if op.Reply != nil {
			replyName, err := d.channelOf(op.Reply.Channel)
			if err != nil {
				return nil, fmt.Errorf("operation %s reply: %w", opName, err)
			}
			if replyChannels[replyName] {
				return nil, fmt.Errorf("%w: reply channel %s used twice", ErrAsyncAPI, replyName)
			}
			replyChannels[replyName] = true
			if c.Replies, err = d.payloads(replyName, op.Reply.Messages); err != nil {
				return nil, fmt.Errorf("operation %s reply: %w", opName, err)
			}
		}
		byChannel[chName] = c
	}
	out := make([]Channel, 0, len(byChannel))
	for _, name := range sortedKeys(d.Channels) {
		c, used := byChannel[name]
		if !used && !replyChannels[name] {
			return nil, fmt.Errorf("%w: channel %s is used by no operation", ErrAsyncAPI, name)
		}
		if used {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, nil
}

// Pattern returns the NATS subject to subscribe to for every message of the
// channel under the given prefix: placeholders become "*", except one that
// ends the address, which becomes ">" (a command id may contain dots).
// For example "{prefix}.order.created.{orderId}" gives
// "salesbridge.order.created.>".
func (c Channel) Pattern(prefix string) string {
	toks := strings.Split(c.Address, ".")
	for i, t := range toks {
		switch {
		case t == "{prefix}":
			toks[i] = prefix
		case isPlaceholder(t) && i == len(toks)-1:
			toks[i] = ">"
		case isPlaceholder(t):
			toks[i] = "*"
		}
	}
	return strings.Join(toks, ".")
}

// Match reports whether subject belongs to the channel under the given
// prefix, and returns the values of its placeholders other than prefix.
// Each placeholder stands for one token, except one that ends the address,
// which takes the rest of the subject (one token or more).
func (c Channel) Match(prefix, subject string) (map[string]string, bool) {
	pat := strings.Split(c.Address, ".")
	sub := strings.Split(subject, ".")
	vals := map[string]string{}
	for i, t := range pat {
		if t == "{prefix}" {
			n := strings.Count(prefix, ".") + 1
			if len(sub) < n || strings.Join(sub[:n], ".") != prefix {
				return nil, false
			}
			sub = sub[n:]
			continue
		}
		if len(sub) == 0 {
			return nil, false
		}
		switch {
		case isPlaceholder(t) && i == len(pat)-1:
			for _, s := range sub {
				if s == "" {
					return nil, false
				}
			}
			vals[t[1:len(t)-1]] = strings.Join(sub, ".")
			sub = nil
		case isPlaceholder(t):
			if sub[0] == "" {
				return nil, false
			}
			vals[t[1:len(t)-1]] = sub[0]
			sub = sub[1:]
		default:
			if sub[0] != t {
				return nil, false
			}
			sub = sub[1:]
		}
	}
	if len(sub) > 0 {
		return nil, false
	}
	return vals, true
}

var placeholderRE = regexp.MustCompile(`\{([^{}]*)\}`)

func isPlaceholder(tok string) bool {
	return len(tok) > 2 && tok[0] == '{' && tok[len(tok)-1] == '}'
}

// placeholders lists the placeholders of an address and checks that each is
// a whole token and declared, and that every declared parameter is used.
func placeholders(addr string, declared map[string]yamlRef) ([]string, error) {
	var names []string
	used := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(addr, -1) {
		if _, ok := declared[m[1]]; !ok {
			return nil, fmt.Errorf("%w: placeholder {%s} not declared", ErrAsyncAPI, m[1])
		}
		names = append(names, m[1])
		used[m[1]] = true
	}
	for _, tok := range strings.Split(addr, ".") {
		if strings.ContainsAny(tok, "{}") && !isPlaceholder(tok) {
			return nil, fmt.Errorf("%w: placeholder inside token %q", ErrAsyncAPI, tok)
		}
	}
	if len(names) == 0 || names[0] != "prefix" || !strings.HasPrefix(addr, "{prefix}.") {
		return nil, fmt.Errorf("%w: address %q does not start with {prefix}", ErrAsyncAPI, addr)
	}
	for p := range declared {
		if !used[p] {
			return nil, fmt.Errorf("%w: parameter %s not in the address", ErrAsyncAPI, p)
		}
	}
	return names, nil
}

// asyncDoc is the part of an AsyncAPI 3 document Channels reads.
type asyncDoc struct {
	AsyncAPI   string                  `yaml:"asyncapi"`
	Channels   map[string]asyncChannel `yaml:"channels"`
	Operations map[string]asyncOp      `yaml:"operations"`
	Components struct {
		Messages map[string]asyncMessage `yaml:"messages"`
	} `yaml:"components"`
}

type asyncChannel struct {
	Address    *string            `yaml:"address"` // nil: null or absent (a reply inbox)
	Parameters map[string]yamlRef `yaml:"parameters"`
	Messages   map[string]yamlRef `yaml:"messages"`
}

type asyncOp struct {
	Action   string    `yaml:"action"`
	Channel  yamlRef   `yaml:"channel"`
	Messages []yamlRef `yaml:"messages"`
	Reply    *struct {
		Channel  yamlRef   `yaml:"channel"`
		Messages []yamlRef `yaml:"messages"`
	} `yaml:"reply"`
}

type asyncMessage struct {
	Payload struct {
		SchemaFormat string  `yaml:"schemaFormat"`
		Schema       yamlRef `yaml:"schema"`
	} `yaml:"payload"`
}

type yamlRef struct {
	Ref string `yaml:"$ref"`
}

// channelOf resolves "#/channels/<name>".
func (d *asyncDoc) channelOf(r yamlRef) (string, error) {
	name, ok := strings.CutPrefix(r.Ref, "#/channels/")
	if !ok || strings.Contains(name, "/") {
		return "", fmt.Errorf("%w: %q is not a channel reference", ErrAsyncAPI, r.Ref)
	}
	if _, ok := d.Channels[name]; !ok {
		return "", fmt.Errorf("%w: no channel %s", ErrAsyncAPI, name)
	}
	return name, nil
}

// payloads resolves an operation's message references
// ("#/channels/<channel>/messages/<key>") to the schema names of their
// payloads, checking that each is an embedded JSON Schema 2020-12 file.
func (d *asyncDoc) payloads(channel string, refs []yamlRef) ([]string, error) {
	if len(refs) == 0 {
		return nil, fmt.Errorf("%w: no messages", ErrAsyncAPI)
	}
	var out []string
	for _, r := range refs {
		key, ok := strings.CutPrefix(r.Ref, "#/channels/"+channel+"/messages/")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not a message of channel %s", ErrAsyncAPI, r.Ref, channel)
		}
		cm, ok := d.Channels[channel].Messages[key]
		if !ok {
			return nil, fmt.Errorf("%w: channel %s has no message %s", ErrAsyncAPI, channel, key)
		}
		msgName, ok := strings.CutPrefix(cm.Ref, "#/components/messages/")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not a component message", ErrAsyncAPI, cm.Ref)
		}
		m, ok := d.Components.Messages[msgName]
		if !ok {
			return nil, fmt.Errorf("%w: no component message %s", ErrAsyncAPI, msgName)
		}
		if m.Payload.SchemaFormat != "application/schema+json;version=draft-2020-12" {
			return nil, fmt.Errorf("%w: message %s: schemaFormat %q", ErrAsyncAPI, msgName, m.Payload.SchemaFormat)
		}
		file, ok := strings.CutPrefix(m.Payload.Schema.Ref, "./")
		if !ok || strings.Contains(file, "/") || !strings.HasSuffix(file, ".json") {
			return nil, fmt.Errorf("%w: message %s: payload %q is not a file beside the document", ErrAsyncAPI, msgName, m.Payload.Schema.Ref)
		}
		if _, err := fs.Stat(files, file); err != nil {
			return nil, fmt.Errorf("%w: message %s: payload %s is not embedded", ErrAsyncAPI, msgName, file)
		}
		out = append(out, strings.TrimSuffix(file, ".json"))
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
