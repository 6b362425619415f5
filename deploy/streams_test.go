package deploy

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salesbridge/salesbridge/bridge"
)

// TestStreamFilesMatchTheBridge: the bridge creates or updates its streams
// at start, so the files operators create them from must say what the
// bridge would set, or the two would undo each other.
func TestStreamFilesMatchTheBridge(t *testing.T) {
	names := bridge.NamesFor(bridge.DefaultPrefix)
	for _, tt := range []struct {
		file string
		want jetstream.StreamConfig
	}{
		{"nats/events-stream.json", names.EventsStreamConfig(bridge.StreamOptions{})},
		{"nats/commands-stream.json", names.CommandsStreamConfig(bridge.StreamOptions{})},
	} {
		data, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		var got jetstream.StreamConfig
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		w := tt.want
		if got.Name != w.Name || !slices.Equal(got.Subjects, w.Subjects) || got.Retention != w.Retention ||
			got.Storage != w.Storage || got.Discard != w.Discard || got.MaxAge != w.MaxAge ||
			got.Duplicates != w.Duplicates || got.Replicas != w.Replicas {
			t.Errorf("%s says %+v\nthe bridge sets %+v", tt.file, got, w)
		}
	}
}
