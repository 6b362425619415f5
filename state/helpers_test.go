package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	goleak.VerifyTestMain(m)
}

// epoch is the start of the manual clocks of the tests.
var epoch = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// testStore is an open Store in a temporary directory with its manual clock.
type testStore struct {
	*Store
	clock *clock.Manual
	opts  Options
}

// openTest opens a new store in t.TempDir() (NoSync, a manual clock). When the
// test ends it closes the store if still open, reopens the file and checks
// its consistency (bbolt's tx.Check and the package's own invariants), like
// bbolt's internal/btesting does.
func openTest(t testing.TB) *testStore {
	t.Helper()
	c := clock.NewManual(epoch)
	opts := Options{NoSync: true, Clock: c}
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, &opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	ts := &testStore{Store: s, clock: c, opts: opts}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if _, err := os.Stat(path); err != nil {
			return // the test removed it
		}
		re, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrVersion) {
				return // the test damaged it on purpose
			}
			t.Errorf("reopen for check: %v", err)
			return
		}
		defer re.Close()
		if err := verify(re); err != nil {
			t.Errorf("consistency check: %v", err)
		}
	})
	return ts
}

// reopen closes the store and opens the same file again.
func (ts *testStore) reopen(t testing.TB) {
	t.Helper()
	if err := ts.Store.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s, err := Open(ts.Path(), &ts.opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	ts.Store = s
	t.Cleanup(func() { _ = s.Close() })
}

// apply applies b or fails the test.
func (ts *testStore) apply(t testing.TB, b Batch) {
	t.Helper()
	if err := ts.Apply(b); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// verify checks a store's file against everything the package promises to
// maintain: bbolt's own consistency, every value decodable, the status index
// and counts matching the orders, the counters matching the buckets, the
// command time index matching the ledger, and no outbox seq above the last one
// given.
func verify(s *Store) error {
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("bbolt check: %w", err)
		}
		counts := map[salesapi.Status]int{}
		index := map[string]bool{}
		err := tx.Bucket(bucketOrders).ForEach(func(k, v []byte) error {
			id, err := orderKeyID(k)
			if err != nil {
				return err
			}
			o, err := decodeOrder(id, v)
			if err != nil {
				return err
			}
			if o.Rev == 0 {
				return fmt.Errorf("order %d with rev 0", id)
			}
			counts[o.Status]++
			index[string(statusKey(o.Status, o.CreatedAt, id))] = true
			return nil
		})
		if err != nil {
			return err
		}
		n := 0
		err = tx.Bucket(bucketStatus).ForEach(func(k, _ []byte) error {
			n++
			if !index[string(k)] {
				pos, _ := parseStatusKey(k)
				return fmt.Errorf("status index entry %d/%v/%d without a matching order", k[0], pos.CreatedAt, pos.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(index) {
			return fmt.Errorf("status index has %d entries, orders %d", n, len(index))
		}
		stored, err := readCounts(tx)
		if err != nil {
			return err
		}
		if fmt.Sprint(stored) != fmt.Sprint(counts) {
			return fmt.Errorf("counts %v, scan %v", stored, counts)
		}

		meta := tx.Bucket(bucketMeta)
		outbox := tx.Bucket(bucketOutbox)
		depth, _ := getU64(meta.Get(metaDepth))
		msgs := 0
		err = outbox.ForEach(func(k, v []byte) error {
			msgs++
			seq := binary.BigEndian.Uint64(k)
			if seq == 0 || seq > outbox.Sequence() {
				return fmt.Errorf("outbox seq %d outside 1..%d", seq, outbox.Sequence())
			}
			_, err := decodeMessage(seq, v)
			return err
		})
		if err != nil {
			return err
		}
		if uint64(msgs) != depth {
			return fmt.Errorf("outbox depth counter %d, messages %d", depth, msgs)
		}

		cmdCount, _ := getU64(meta.Get(metaCommands))
		cmds := 0
		times := map[string]bool{}
		err = tx.Bucket(bucketCommands).ForEach(func(k, v []byte) error {
			cmds++
			c, err := decodeCommand(string(k), v)
			if err != nil {
				return err
			}
			times[string(cmdTimeKey(c.At, c.ID))] = true
			return nil
		})
		if err != nil {
			return err
		}
		if uint64(cmds) != cmdCount {
			return fmt.Errorf("command counter %d, records %d", cmdCount, cmds)
		}
		n = 0
		err = tx.Bucket(bucketCmdTime).ForEach(func(k, _ []byte) error {
			n++
			if !times[string(k)] {
				return fmt.Errorf("command time index entry %q without a record", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != cmds {
			return fmt.Errorf("command time index has %d entries, ledger %d", n, cmds)
		}
		return tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
			_, err := decodeCursor(v)
			return err
		})
	})
}

// order builds a test order; raw is derived from the arguments so that any
// difference in them is a difference in Raw.
func order(id int64, rev uint64, st salesapi.Status, created time.Time) Order {
	return Order{
		ID:        id,
		Rev:       rev,
		Status:    st,
		CreatedAt: created,
		Raw:       fmt.Appendf(nil, `{"id":%d,"status":%d,"createdAt":%q,"rev":%d}`, id, st, salesapi.FormatTime(created), rev),
	}
}

// msg builds a test outbox message.
func msg(subject, id string) Message {
	return Message{
		Subject: subject,
		Header:  map[string]string{"Nats-Msg-Id": id, "Content-Type": "application/cloudevents+json"},
		Data:    []byte(`{"id":"` + id + `"}`),
	}
}

// snapshot is everything a store holds, for comparing before and after.
func snapshot(t testing.TB, s *Store) string {
	t.Helper()
	var buf bytes.Buffer
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			fmt.Fprintf(&buf, "%s seq=%d\n", name, b.Sequence())
			return b.ForEach(func(k, v []byte) error {
				fmt.Fprintf(&buf, "  %x=%x\n", k, v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return buf.String()
}
