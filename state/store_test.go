package state

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/salesbridge/salesbridge/salesapi"
)

func TestOpenCreatesOwnerOnlyFile(t *testing.T) {
	ts := openTest(t)
	fi, err := os.Stat(ts.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode %v, want 0600", got)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(ts.Path()), "*.init-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestOpenRestrictsMode(t *testing.T) {
	ts := openTest(t)
	path := ts.Path()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}

	// Read-only: warns, changes nothing.
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = ro.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("read-only open changed mode to %v", fi.Mode().Perm())
	}

	s, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after open %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenLocked(t *testing.T) {
	ts := openTest(t)
	tests := []struct {
		name    string
		opts    Options
		maxWait time.Duration
	}{
		{"default timeout", Options{}, time.Second},
		{"no wait", Options{Timeout: -1}, 500 * time.Millisecond},
		{"read-only", Options{ReadOnly: true, Timeout: 60 * time.Millisecond}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(ts.Path(), &tt.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("second open succeeded")
			}
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("err %v, want ErrLocked", err)
			}
			if d := time.Since(start); d > tt.maxWait {
				t.Errorf("took %v", d)
			}
		})
	}
	// Released on close.
	path := ts.Path()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	_ = s.Close()
}

func TestOpenBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr error // nil: opens
	}{
		{"missing file is created", func(*testing.T, string) {}, nil},
		{"empty file is initialized", func(t *testing.T, path string) {
			writeFile(t, path, nil)
		}, nil},
		{"short garbage", func(t *testing.T, path string) {
			writeFile(t, path, []byte("definitely not a database"))
		}, ErrCorrupt},
		{"long garbage", func(t *testing.T, path string) {
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(i*7 + i/13)
			}
			writeFile(t, path, b)
		}, ErrCorrupt},
		{"foreign bbolt file", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("widgets"))
				if err != nil {
					return err
				}
				return b.Put([]byte("a"), []byte("b"))
			}); err != nil {
				t.Fatal(err)
			}
		}, ErrCorrupt},
		{"newer schema", func(t *testing.T, path string) {
			s, err := Open(path, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(metaSchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
			}); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
		}, ErrVersion},
		{"missing bucket", func(t *testing.T, path string) {
			s, err := Open(path, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketOutbox) }); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			tt.prepare(t, path)
			s, err := Open(path, &Options{NoSync: true})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				defer s.Close()
				if err := verify(s); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil {
				_ = s.Close()
				t.Fatalf("open succeeded, want %v", tt.wantErr)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			// The file is released after a failed open.
			db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 50 * time.Millisecond, ReadOnly: true})
			if err == nil {
				_ = db.Close()
			} else if errors.Is(err, berrors.ErrTimeout) {
				t.Errorf("file still locked after failed open")
			}
		})
	}
}

func TestOpenDirectory(t *testing.T) {
	if s, err := Open(t.TempDir(), nil); err == nil {
		_ = s.Close()
		t.Fatal("opened a directory")
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestID(t *testing.T) {
	a, b := openTest(t), openTest(t)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a.ID()) {
		t.Errorf("id %q is not 32 hex digits", a.ID())
	}
	if a.ID() == b.ID() {
		t.Errorf("two files with id %s", a.ID())
	}
	id := a.ID()
	a.reopen(t)
	if a.ID() != id {
		t.Errorf("id after reopen %s, want %s", a.ID(), id)
	}
}

func TestReadOnly(t *testing.T) {
	ts := openTest(t)
	ts.apply(t, Batch{
		Orders:   []Order{order(1, 1, salesapi.StatusNew, epoch)},
		Messages: []Message{msg("s.order.created.1", "order/1/created")},
		Cursors:  map[string][]byte{"c": []byte("v")},
	})
	path := ts.Path()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if _, found, err := s.Order(1); err != nil || !found {
		t.Errorf("Order: found %v, err %v", found, err)
	}
	writes := map[string]error{
		"Apply":         s.Apply(Batch{Cursors: map[string][]byte{"c": nil}}),
		"Apply command": s.Apply(Batch{Commands: []Command{{ID: "x"}}}),
		"Ack":           s.Ack(1),
	}
	_, err = s.PruneCommands(epoch)
	writes["PruneCommands"] = err
	for name, err := range writes {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: err %v, want ErrReadOnly", name, err)
		}
	}

	missing := filepath.Join(t.TempDir(), "missing.db")
	if s, err := Open(missing, &Options{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			_ = s.Close()
		}
		t.Errorf("read-only open of a missing file: err %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only open created the file")
	}
}

func TestClosed(t *testing.T) {
	ts := openTest(t)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, _, errOrder := ts.Order(1)
	_, errOrders := ts.Orders([]int64{1})
	_, _, errStatus := ts.OrdersByStatus(salesapi.StatusNew, Key{}, 10)
	_, errCount := ts.Count()
	_, errPending := ts.Pending(0, 10)
	_, _, errOutbox := ts.OutboxStats()
	_, _, errCursor := ts.Cursor("c")
	_, _, errCommand := ts.Command("x")
	_, errPrune := ts.PruneCommands(epoch)
	_, errCmdCount := ts.CommandCount()
	_, errStats := ts.Stats()
	for name, err := range map[string]error{
		"Order": errOrder, "Orders": errOrders, "OrdersByStatus": errStatus, "Count": errCount,
		"Pending": errPending, "OutboxStats": errOutbox, "Cursor": errCursor, "Command": errCommand,
		"PruneCommands": errPrune, "CommandCount": errCmdCount, "Stats": errStats,
		"Apply":        ts.Apply(Batch{Orders: []Order{order(1, 1, 0, epoch)}}),
		"Ack":          ts.Ack(1),
		"ForEachOrder": ts.ForEachOrder(func(Order) error { return nil }),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err %v, want ErrClosed", name, err)
		}
	}
}

// Two Opens racing to create the same file end with one store and one
// ErrLocked, both on the same complete file.
func TestOpenCreateRace(t *testing.T) {
	for i := range 20 {
		path := filepath.Join(t.TempDir(), "state.db")
		type result struct {
			s   *Store
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				s, err := Open(path, &Options{NoSync: true, Timeout: -1})
				results <- result{s, err}
			}()
		}
		var won *Store
		for range 2 {
			r := <-results
			switch {
			case r.err == nil && won == nil:
				won = r.s
			case r.err == nil:
				_ = r.s.Close()
				t.Fatalf("try %d: both opens succeeded", i)
			case !errors.Is(r.err, ErrLocked):
				t.Fatalf("try %d: %v", i, r.err)
			}
		}
		if won == nil {
			t.Fatalf("try %d: no open succeeded", i)
		}
		id := won.ID()
		_ = won.Close()
		s, err := Open(path, &Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if s.ID() != id {
			t.Errorf("try %d: id %s after reopen, winner had %s", i, s.ID(), id)
		}
		_ = s.Close()
	}
}
