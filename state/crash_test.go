package state

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/salesbridge/salesbridge/salesapi"
)

// The crash test re-executes the test binary as a child (TestMain sees
// crashChildEnv) that applies batches in a loop, like the bridge does, and
// acknowledges outbox messages, like the relay does. The parent SIGKILLs it
// at random moments and checks the file after every kill.
//
// Every batch upserts a few orders, each with a Rev one higher than stored,
// and adds exactly one message per order whose Nats-Msg-Id is "<id>/<rev>"
// and whose data is the order's raw JSON; it also advances the cursor
// "batches" and records the command "cmd-<batch>". So after any crash:
//   - the sum of all Revs equals the number of messages ever added (the
//     outbox's last seq): no snapshot without its message, no message without
//     its snapshot;
//   - the acknowledged messages are a prefix: the remaining seqs are one
//     contiguous range ending at the last seq;
//   - per order, the remaining messages carry consecutive revs ending at the
//     stored Rev, and the last one's data is the stored Raw;
//   - the ledger holds exactly the commands cmd-1 … cmd-<batches>;
//   - counts, the status index and counters match a scan (verify).

const (
	crashChildEnv = "STATE_CRASH_CHILD" // path of the state file
	crashSeedEnv  = "STATE_CRASH_SEED"
	crashOrders   = 40 // order ids 1..crashOrders
)

// crashChild is the child's main; it runs until killed.
func crashChild() int {
	path := os.Getenv(crashChildEnv)
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 42))
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 3
	}
	// NoSync: a SIGKILL, unlike a power loss, keeps every completed write in
	// the page cache, so fsync does not change what survives; without it the
	// test does not depend on how busy the disk is.
	s, err := Open(path, &Options{Timeout: 5 * time.Second, NoSync: true})
	if err != nil {
		return fail(err)
	}
	cur, _, err := s.Cursor("batches")
	if err != nil {
		return fail(err)
	}
	var batch uint64
	if len(cur) == 8 {
		batch = binary.BigEndian.Uint64(cur)
	}
	out := bufio.NewWriter(os.Stdout)
	for {
		if rng.IntN(3) == 0 { // the relay's turn
			msgs, err := s.Pending(0, 1+rng.IntN(12))
			if err != nil {
				return fail(err)
			}
			seqs := make([]uint64, len(msgs))
			for i, m := range msgs {
				seqs[i] = m.Seq
			}
			if err := s.Ack(seqs...); err != nil {
				return fail(err)
			}
		}

		batch++
		ids := rng.Perm(crashOrders)[:1+rng.IntN(8)]
		want := make([]int64, len(ids))
		for i, id := range ids {
			want[i] = int64(id + 1)
		}
		stored, err := s.Orders(want)
		if err != nil {
			return fail(err)
		}
		b := Batch{
			Cursors:  map[string][]byte{"batches": binary.BigEndian.AppendUint64(nil, batch)},
			Commands: []Command{{ID: fmt.Sprintf("cmd-%d", batch), OrderID: want[0], State: CommandDone, Outcome: []byte(`{"ok":true}`)}},
		}
		for _, id := range want {
			rev := stored[id].Rev + 1
			// Few distinct createdAt values, so the index has ties to order by id.
			created := epoch.Add(time.Duration(rng.IntN(4)) * time.Minute)
			st := salesapi.Status(rng.IntN(8))
			raw := fmt.Appendf(nil, `{"id":%d,"rev":%d,"status":%d,"pad":%q}`, id, rev, st, strings.Repeat("x", rng.IntN(3000)))
			b.Orders = append(b.Orders, Order{ID: id, Rev: rev, Status: st, CreatedAt: created, Raw: raw})
			b.Messages = append(b.Messages, Message{
				Subject: fmt.Sprintf("crash.order.updated.%d", id),
				Header:  map[string]string{"Nats-Msg-Id": fmt.Sprintf("%d/%d", id, rev)},
				Data:    raw,
			})
		}
		if err := s.Apply(b); err != nil {
			return fail(err)
		}
		fmt.Fprintln(out, batch)
		if err := out.Flush(); err != nil {
			return 0 // the parent went away
		}
	}
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	const rounds = 25
	rng := rand.New(rand.NewPCG(7, 7))
	var lastSeq, lastBatch, lastFirst uint64
	start := time.Now()
	for round := range rounds {
		// Kill after k committed batches; k = 0 kills during start-up
		// (in the first round, while the file is being created).
		k := rng.IntN(30)
		if round < 2 {
			k = 0
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashSeedEnv+"="+strconv.Itoa(round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		for i := 0; i < k; i++ {
			if !lines.Scan() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: child ended after %d batches: %s", round, i, stderr.String())
			}
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if strings.Contains(stderr.String(), "crash child:") {
			t.Fatalf("round %d: child failed: %s", round, stderr.String())
		}

		seq, batch, first := checkCrashInvariants(t, path)
		if seq < lastSeq || batch < lastBatch || first < lastFirst {
			t.Fatalf("round %d went back: seq %d→%d, batch %d→%d, first pending %d→%d",
				round, lastSeq, seq, lastBatch, batch, lastFirst, first)
		}
		lastSeq, lastBatch, lastFirst = seq, batch, first
	}
	t.Logf("%d kills, %d batches, %d messages in %v", rounds, lastBatch, lastSeq, time.Since(start).Round(time.Millisecond))
	if lastBatch == 0 {
		t.Error("no batch was ever applied")
	}
}

// checkCrashInvariants opens the file the child left and checks it; it
// returns the last seq, the number of batches and the first pending seq.
func checkCrashInvariants(t *testing.T, path string) (lastSeq, batches, firstPending uint64) {
	t.Helper()
	s, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	if err := verify(s); err != nil {
		t.Fatalf("after kill: %v", err)
	}

	revs := map[int64]uint64{}
	raws := map[int64][]byte{}
	var sumRev uint64
	if err := s.ForEachOrder(func(o Order) error {
		revs[o.ID], raws[o.ID] = o.Rev, o.Raw
		sumRev += o.Rev
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		lastSeq = tx.Bucket(bucketOutbox).Sequence()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if sumRev != lastSeq {
		t.Fatalf("sum of revs %d, messages ever added %d", sumRev, lastSeq)
	}

	msgs, err := s.Pending(0, int(lastSeq)+1)
	if err != nil {
		t.Fatal(err)
	}
	depth, _, err := s.OutboxStats()
	if err != nil {
		t.Fatal(err)
	}
	if depth != len(msgs) {
		t.Fatalf("depth %d, pending %d", depth, len(msgs))
	}
	firstPending = lastSeq + 1
	if len(msgs) > 0 {
		firstPending = msgs[0].Seq
	}
	lastRev := map[int64]uint64{}
	for i, m := range msgs {
		if want := firstPending + uint64(i); m.Seq != want {
			t.Fatalf("pending seq %d at position %d, want %d (acks must remove a prefix)", m.Seq, i, want)
		}
		var id int64
		var rev uint64
		if _, err := fmt.Sscanf(m.Header["Nats-Msg-Id"], "%d/%d", &id, &rev); err != nil {
			t.Fatalf("message %d: header %v: %v", m.Seq, m.Header, err)
		}
		if prev, ok := lastRev[id]; ok && rev != prev+1 {
			t.Fatalf("order %d: pending rev %d after %d", id, rev, prev)
		}
		lastRev[id] = rev
		if rev == revs[id] && !bytes.Equal(m.Data, raws[id]) {
			t.Fatalf("order %d rev %d: message data differs from the stored snapshot", id, rev)
		}
	}
	for id, rev := range lastRev {
		if rev != revs[id] {
			t.Fatalf("order %d: last pending rev %d, stored rev %d", id, rev, revs[id])
		}
	}

	cur, found, err := s.Cursor("batches")
	if err != nil {
		t.Fatal(err)
	}
	if found {
		batches = binary.BigEndian.Uint64(cur)
	}
	n, err := s.CommandCount()
	if err != nil {
		t.Fatal(err)
	}
	if uint64(n) != batches {
		t.Fatalf("%d commands for %d batches", n, batches)
	}
	if batches > 0 {
		if _, ok, _ := s.Command(fmt.Sprintf("cmd-%d", batches)); !ok {
			t.Fatalf("command of the last batch %d missing", batches)
		}
	}
	if _, ok, _ := s.Command(fmt.Sprintf("cmd-%d", batches+1)); ok {
		t.Fatalf("command of batch %d present, cursor says %d", batches+1, batches)
	}
	return lastSeq, batches, firstPending
}
