package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names derives every NATS name of the contract from the prefix.
type Names struct {
	Prefix         string
	EventsStream   string // <PREFIX>_EVENTS: <prefix>.order.> and <prefix>.cmd.result.>
	CommandsStream string // <PREFIX>_COMMANDS: <prefix>.cmd.order.>
	OrdersBucket   string // <prefix>_orders
	SchemasBucket  string // <prefix>_schemas
}

// NamesFor returns the names for prefix (e.g. "salesbridge" →
// SALESBRIDGE_EVENTS, salesbridge_orders).
func NamesFor(prefix string) Names {
	token := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, prefix)
	return Names{
		Prefix:         prefix,
		EventsStream:   strings.ToUpper(token) + "_EVENTS",
		CommandsStream: strings.ToUpper(token) + "_COMMANDS",
		OrdersBucket:   token + "_orders",
		SchemasBucket:  token + "_schemas",
	}
}

// EventSubjects are the subjects the events stream captures.
func (n Names) EventSubjects() []string {
	return []string{n.Prefix + ".order.>", n.Prefix + ".cmd.result.>"}
}

// CommandSubjects are the subjects the commands stream captures.
func (n Names) CommandSubjects() []string { return []string{n.Prefix + ".cmd.order.>"} }

// StreamOptions tunes the streams and buckets the bridge creates.
type StreamOptions struct {
	Replicas        int           // 1 on a single server, 3 in a cluster
	EventsMaxAge    time.Duration // how long events are kept; default 30 days
	CommandsMaxAge  time.Duration // how long an unexecuted command waits; default 7 days
	DuplicateWindow time.Duration // de-duplication by Nats-Msg-Id; default 24 h
}

// Defaults of StreamOptions.
const (
	DefaultEventsMaxAge    = 30 * 24 * time.Hour
	DefaultCommandsMaxAge  = 7 * 24 * time.Hour
	DefaultDuplicateWindow = 24 * time.Hour
)

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.EventsMaxAge <= 0 {
		o.EventsMaxAge = DefaultEventsMaxAge
	}
	if o.CommandsMaxAge <= 0 {
		o.CommandsMaxAge = DefaultCommandsMaxAge
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	return o
}

// EventsStreamConfig is the configuration the bridge gives the events
// stream: file storage, limits retention by age, de-duplication long enough
// to cover a restart.
func (n Names) EventsStreamConfig(o StreamOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:        n.EventsStream,
		Description: "salesbridge: order events and command outcomes",
		Subjects:    n.EventSubjects(),
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.EventsMaxAge,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
	}
}

// CommandsStreamConfig is the configuration of the commands stream: a work
// queue, so that each command is held until the bridge has executed it.
func (n Names) CommandsStreamConfig(o StreamOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:        n.CommandsStream,
		Description: "salesbridge: commands waiting to be executed",
		Subjects:    n.CommandSubjects(),
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.CommandsMaxAge,
		Duplicates:  o.DuplicateWindow,
		Replicas:    o.Replicas,
	}
}

// ensureStreams creates or updates the streams and KV buckets of the
// contract.
func ensureStreams(ctx context.Context, js jetstream.JetStream, n Names, o StreamOptions) error {
	o = o.withDefaults()
	for _, cfg := range []jetstream.StreamConfig{n.EventsStreamConfig(o), n.CommandsStreamConfig(o)} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	for _, kv := range []jetstream.KeyValueConfig{
		{Bucket: n.OrdersBucket, Description: "salesbridge: the latest state of every tracked order", History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas},
		{Bucket: n.SchemasBucket, Description: "salesbridge: the message schemas of the running version", History: 5, Storage: jetstream.FileStorage, Replicas: o.Replicas},
	} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
			return fmt.Errorf("kv bucket %s: %w", kv.Bucket, err)
		}
	}
	return nil
}
