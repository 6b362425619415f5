//go:build linux

package bridge_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// lockedBuffer collects a child's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// relChild starts a bridge process (see crashChild) whose warnings go to
// stderr.
func (h *harness) relChild(stderr *lockedBuffer, extra ...string) *exec.Cmd {
	h.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"=1",
		"SALESBRIDGE_CRASH_EPOCH="+strconv.FormatInt(h.clk.Now().UnixNano(), 10),
		"SALESBRIDGE_CRASH_START="+strconv.FormatInt(time.Now().UnixNano(), 10),
		"SALESBRIDGE_CRASH_STATE="+h.statePath(),
		"SALESBRIDGE_CRASH_API="+h.sb.URL,
		"SALESBRIDGE_CRASH_AUTH="+h.sb.AuthURL,
		"SALESBRIDGE_CRASH_ID="+h.sb.ClientID(),
		"SALESBRIDGE_CRASH_SECRET="+h.sb.ClientSecret(),
		"SALESBRIDGE_CRASH_NATS="+h.ns.ClientURL(),
		"SALESBRIDGE_CRASH_LOG=1",
	)
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	return cmd
}

// childStatus asks a bridge process for its status over the micro
// endpoint.
func (h *harness) childStatus() (lastSync time.Time, depth int, ok bool) {
	m, err := h.nc.Request(h.names.APIStatusSubject(), nil, time.Second)
	if err != nil {
		return time.Time{}, 0, false
	}
	var st struct {
		LastSync *time.Time `json:"lastSync"`
		Outbox   struct {
			Depth int `json:"depth"`
		} `json:"outbox"`
	}
	if json.Unmarshal(m.Data, &st) != nil || st.LastSync == nil {
		return time.Time{}, 0, false
	}
	return *st.LastSync, st.Outbox.Depth, true
}

// childSettled waits until the bridge process completed a sync that
// started after now and its outbox is empty.
func (h *harness) childSettled() {
	h.t.Helper()
	since := h.sb.Now()
	h.waitFor("the child's sync", func() bool {
		last, depth, ok := h.childStatus()
		return ok && last.After(since) && depth == 0
	})
}

// TestReliabilityDiskFull: the state file's disk fills up under a running
// bridge process. Simulated with RLIMIT_FSIZE set on the process from the
// outside (prlimit): every write past the file's current size fails with
// EFBIG, as on a full disk, while the mapped pages stay readable; bbolt's
// commits that need the file to grow fail and roll back. The bridge keeps
// running, answers its status, keeps the file consistent (bbolt's own
// check passes), logs why, and catches up by itself once the space is
// back: every change of the full period comes out once.
//
// A chmod of the file or its directory cannot simulate this (the file is
// open and mapped), nor can a small tmpfs without privileges; bbolt's
// MaxSize option would, but state.Options does not expose it.
func TestReliabilityDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("a child process and a disk-full period")
	}
	h := newHarness(t)
	now := h.sb.Now()
	h.sb.LoadOrders(20, now.Add(-time.Hour), now)
	var stderr lockedBuffer
	child := h.relChild(&stderr)
	defer func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	}()
	h.childSettled()

	fi, err := os.Stat(h.statePath())
	must(t, err)
	full := uint64(fi.Size())
	must(t, unix.Prlimit(child.Process.Pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: full, Max: unix.RLIM_INFINITY}, nil))
	// The office goes on: far more than the file has room for.
	h.sb.SetExtraFields(map[string]any{"note": strings.Repeat("x", 8<<10)})
	now = h.sb.Now()
	h.sb.LoadOrders(100, now.Add(-time.Hour), now)
	h.waitFor("a failed commit", func() bool { return strings.Contains(stderr.String(), "file too large") })
	// A while with the disk full: the bridge is up and says so.
	start := h.sb.Now()
	h.waitFor("10 minutes with the disk full", func() bool { return h.sb.Now().Sub(start) > 10*time.Minute })
	if _, _, ok := h.childStatus(); !ok {
		t.Error("no status from the bridge while the disk is full")
	}
	if child.ProcessState != nil {
		t.Fatalf("the bridge exited: %v\n%s", child.ProcessState, stderr.String())
	}
	fi, err = os.Stat(h.statePath())
	must(t, err)
	if uint64(fi.Size()) > full {
		t.Errorf("the state file grew from %d to %d bytes", full, fi.Size())
	}
	failedCommits := strings.Count(stderr.String(), "file too large")
	calls := 0
	for _, r := range h.sb.Requests() {
		if !r.At.Before(start) && r.Method == "GET" {
			calls++
		}
	}
	t.Logf("while full: %d list calls; the bridge said:\n%.1500s", calls, stderr.String())

	// Space again: the bridge catches up by itself.
	must(t, unix.Prlimit(child.Process.Pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}, nil))
	h.childSettled()
	must(t, child.Process.Signal(syscall.SIGTERM))
	must(t, child.Wait())

	// The file is consistent, as bbolt checks it.
	db, err := bolt.Open(h.statePath(), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	must(t, err)
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	must(t, db.Close())
	if err != nil {
		t.Fatalf("state file inconsistent after the full disk: %v", err)
	}
	// And nothing was lost or doubled.
	h.start()
	h.settle()
	evs := h.relEvents()
	h.checkTruth(evs)
	relReport(t, "state file's disk full for 10 min (RLIMIT_FSIZE)", failedCommits, h.relTally(evs, 0),
		fmt.Sprintf("%d commits refused (EFBIG, logged), %d list calls in the 10 min, file kept at %d KiB, bbolt check clean, caught up after", failedCommits, calls, full>>10))
}
