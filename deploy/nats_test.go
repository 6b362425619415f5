package deploy

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamFile decodes a stream config the way `nats stream add --config`
// reads it, but strictly: a misspelt field is an error here, not a default.
func streamFile(t *testing.T, name string) jetstream.StreamConfig {
	t.Helper()
	var cfg jetstream.StreamConfig
	if err := decodeJSON(readFile(t, name), &cfg, true); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cfg
}

func consumerFile(t *testing.T, name string) jetstream.ConsumerConfig {
	t.Helper()
	var cfg jetstream.ConsumerConfig
	if err := decodeJSON(readFile(t, name), &cfg, true); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cfg
}

const day = 24 * time.Hour

func TestStreamConfigs(t *testing.T) {
	tests := []struct {
		file      string
		name      string
		subjects  []string
		retention jetstream.RetentionPolicy
		maxAge    time.Duration
	}{
		{"nats/events-stream.json", "SALESBRIDGE_EVENTS", []string{"salesbridge.order.>", "salesbridge.cmd.result.>"}, jetstream.LimitsPolicy, 30 * day},
		{"nats/commands-stream.json", "SALESBRIDGE_COMMANDS", []string{"salesbridge.cmd.order.>"}, jetstream.WorkQueuePolicy, 7 * day},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg := streamFile(t, tt.file)
			if cfg.Name != tt.name {
				t.Errorf("name %q, want %q", cfg.Name, tt.name)
			}
			if !slices.Equal(cfg.Subjects, tt.subjects) {
				t.Errorf("subjects %q, want %q", cfg.Subjects, tt.subjects)
			}
			if cfg.Retention != tt.retention {
				t.Errorf("retention %v, want %v", cfg.Retention, tt.retention)
			}
			if cfg.Storage != jetstream.FileStorage {
				t.Errorf("storage %v, want file", cfg.Storage)
			}
			if cfg.MaxAge != tt.maxAge {
				t.Errorf("max_age %v, want %v", cfg.MaxAge, tt.maxAge)
			}
			if cfg.Duplicates != day {
				t.Errorf("duplicate_window %v, want 24h", cfg.Duplicates)
			}
			if cfg.Replicas != 1 {
				t.Errorf("num_replicas %d, want 1 (single server)", cfg.Replicas)
			}
			if cfg.Discard != jetstream.DiscardOld {
				t.Errorf("discard %v, want old", cfg.Discard)
			}
		})
	}
}

func TestConsumerConfigs(t *testing.T) {
	cmd := consumerFile(t, "nats/commands-consumer.json")
	if cmd.Durable != "salesbridge" || cmd.AckPolicy != jetstream.AckExplicitPolicy ||
		cmd.AckWait != 2*time.Minute || cmd.MaxAckPending != 1 || cmd.DeliverSubject != "" ||
		cmd.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Errorf("commands consumer %+v: want durable salesbridge, pull, explicit ack, ack wait 2m, max ack pending 1 (commands run one at a time, in order), deliver all", cmd)
	}
	crm := consumerFile(t, "nats/crm-consumer.example.json")
	want := []string{"salesbridge.order.created.>", "salesbridge.order.status_changed.>"}
	if crm.Durable != "crm" || !slices.Equal(crm.FilterSubjects, want) ||
		crm.AckPolicy != jetstream.AckExplicitPolicy || crm.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Errorf("crm consumer %+v: want durable crm on %q, explicit ack, deliver all", crm, want)
	}
}

// TestConfigsOnServer creates the streams and consumers from the files on a
// real JetStream server, as `nats stream add` / `nats consumer add` would,
// and checks they route, de-duplicate and filter as the README says.
func TestConfigsOnServer(t *testing.T) {
	js := startJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, f := range []string{"nats/events-stream.json", "nats/commands-stream.json"} {
		if _, err := js.CreateStream(ctx, streamFile(t, f)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if _, err := js.CreateConsumer(ctx, "SALESBRIDGE_COMMANDS", consumerFile(t, "nats/commands-consumer.json")); err != nil {
		t.Fatalf("commands consumer: %v", err)
	}
	if _, err := js.CreateConsumer(ctx, "SALESBRIDGE_EVENTS", consumerFile(t, "nats/crm-consumer.example.json")); err != nil {
		t.Fatalf("crm consumer: %v", err)
	}

	// A command sent twice with the same id is stored once.
	for i := range 2 {
		ack, err := js.Publish(ctx, "salesbridge.cmd.order.patch", []byte(`{"id":1,"status":2}`), jetstream.WithMsgID("cmd-1"))
		if err != nil {
			t.Fatal(err)
		}
		if ack.Stream != "SALESBRIDGE_COMMANDS" || ack.Duplicate != (i == 1) {
			t.Errorf("command publish %d: stream %s, duplicate %v", i, ack.Stream, ack.Duplicate)
		}
	}
	// Events and results land in the events stream; the crm consumer sees
	// only created and status_changed.
	for _, subj := range []string{
		"salesbridge.order.snapshot.1",
		"salesbridge.order.created.2",
		"salesbridge.order.status_changed.2",
		"salesbridge.order.updated.2",
		"salesbridge.cmd.result.cmd-1",
	} {
		ack, err := js.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID(subj))
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		if ack.Stream != "SALESBRIDGE_EVENTS" {
			t.Errorf("%s stored in %s", subj, ack.Stream)
		}
	}

	for stream, want := range map[string]uint64{"SALESBRIDGE_COMMANDS": 1, "SALESBRIDGE_EVENTS": 5} {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().State.Msgs; got != want {
			t.Errorf("%s holds %d messages, want %d", stream, got, want)
		}
	}
	for _, c := range []struct {
		stream, consumer string
		pending          uint64
	}{
		{"SALESBRIDGE_COMMANDS", "salesbridge", 1},
		{"SALESBRIDGE_EVENTS", "crm", 2},
	} {
		cons, err := js.Consumer(ctx, c.stream, c.consumer)
		if err != nil {
			t.Fatal(err)
		}
		if got := cons.CachedInfo().NumPending; got != c.pending {
			t.Errorf("%s/%s: %d pending, want %d", c.stream, c.consumer, got, c.pending)
		}
	}
}

// startJetStream runs a JetStream server on a loopback port for one test.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
