package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// TestCorruptStateFile: `salesbridge run` on a damaged state file stops at
// once with a message that names the file and the recovery; following it
// (moving the file aside and starting again) re-reads the window, and
// JetStream's de-duplication hides what the bridge emits again, while a
// change made meanwhile comes out.
func TestCorruptStateFile(t *testing.T) {
	url := startTestNATS(t, nil)
	sb := salesapitest.NewServer(salesapitest.Config{Seed: 5})
	defer sb.Close()
	orders := sb.CreateOrders(3, salesapitest.OrderSpec{})
	dir := t.TempDir()
	path := filepath.Join(dir, "salesbridge.db")
	env := map[string]string{
		"SALESBRIDGE_API_URL": sb.URL, "SALESBRIDGE_AUTH_URL": sb.AuthURL, "SALESBRIDGE_CLIENT_ID": sb.ClientID(),
		"SALESBRIDGE_CLIENT_SECRET": sb.ClientSecret(), "SALESBRIDGE_NATS_URL": url, "SALESBRIDGE_STATE": path,
		"SALESBRIDGE_LOOKBACK": "1d", "SALESBRIDGE_METRICS_ADDR": "", "SALESBRIDGE_INITIAL": "created", "SALESBRIDGE_LOG_LEVEL": "error",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// run starts the daemon and waits for a complete sync with an empty
	// outbox; the returned function stops it.
	run := func() func() {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runDaemon(ctx, nil, io.Discard, io.Discard, lookup) }()
		since := time.Now().UTC()
		deadline := time.Now().Add(20 * time.Second)
		for {
			m, err := nc.Request("salesbridge.api.status", nil, time.Second)
			var st struct {
				LastSync *time.Time `json:"lastSync"`
				Outbox   struct {
					Depth int `json:"depth"`
				} `json:"outbox"`
			}
			if err == nil && json.Unmarshal(m.Data, &st) == nil && st.LastSync != nil && !st.LastSync.Before(since.Add(-time.Second)) && st.Outbox.Depth == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no complete sync: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
		}
	}
	count := func() uint64 {
		t.Helper()
		s, err := js.Stream(context.Background(), "SALESBRIDGE_EVENTS")
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}

	stop := run()
	stop()
	before := count()
	if before != 3 {
		t.Fatalf("%d events after the first run, want 3 order.created", before)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damages := []struct {
		name string
		data []byte
	}{
		{"not a bbolt file", []byte(strings.Repeat("not a state file\n", 600))},
		{"both meta pages zeroed", append(make([]byte, 8192), good[8192:]...)},
		{"truncated to 100 bytes", good[:100]},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			if err := os.WriteFile(path, d.data, 0o600); err != nil {
				t.Fatal(err)
			}
			err := runDaemon(context.Background(), nil, io.Discard, io.Discard, lookup)
			if err == nil {
				t.Fatal("run started on a damaged state file")
			}
			msg := err.Error()
			for _, want := range []string{path, "corrupt", "move the file aside", "mv " + path + " " + path + ".damaged", "start again"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if exitCode(err) != 1 {
				t.Errorf("exit code %d", exitCode(err))
			}
		})
	}

	// The documented recovery.
	if err := os.Rename(path, path+".damaged"); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetStatus(orders[0].ID, salesapi.StatusProgress); err != nil {
		t.Fatal(err)
	}
	stop = run()
	stop()
	if got := count(); got != before+1 {
		t.Errorf("%d events after the recovery, want %d (the re-read hidden, the status change added)", got, before+1)
	}
}
