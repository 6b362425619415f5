package bridge_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// BenchmarkTrack100k runs a bridge process over an account of 100 000
// orders (90 days of them) until its first sync has published a snapshot
// of each, and reports the process's peak resident memory: all of it
// (VmHWM, which counts the pages of the memory-mapped state file it has
// touched) and the largest anonymous part seen, sampled every 100 ms (the
// Go heap and stacks).
//
//	go test -run '^$' -bench BenchmarkTrack100k -benchtime 1x ./bridge/
func BenchmarkTrack100k(b *testing.B) {
	const orders = 100_000
	for range b.N {
		h := newHarness(b, func(_ *harness, c *salesapitest.Config) { c.Rate = -1 })
		now := h.sb.Now()
		h.sb.LoadOrders(orders, now.Add(-89*24*time.Hour), now)
		cmd := h.startChild(b, h.clk.Now(), time.Now(), "SALESBRIDGE_CRASH_RATE=6000", "SALESBRIDGE_CRASH_INITIAL=snapshot")
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		s, err := h.js.Stream(ctx, h.names.EventsStream)
		for err != nil && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			s, err = h.js.Stream(ctx, h.names.EventsStream)
		}
		peakAnon := 0.0
		for ctx.Err() == nil {
			_, anon := procMemory(b, cmd.Process.Pid)
			peakAnon = max(peakAnon, anon)
			info, err := s.Info(ctx)
			if err == nil && info.State.Msgs >= orders {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		elapsed := time.Since(start)
		hwm, anon := procMemory(b, cmd.Process.Pid)
		anon = max(peakAnon, anon)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b.ReportMetric(hwm, "peak-RSS-MiB")
		b.ReportMetric(anon, "anon-RSS-MiB")
		b.ReportMetric(elapsed.Seconds(), "sync-s")
		h.stop()
	}
}

// procMemory reads a process's peak resident set and its anonymous
// resident memory, in MiB, from /proc.
func procMemory(tb testing.TB, pid int) (hwm, anon float64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmHWM:":
			hwm = kb / 1024
		case "RssAnon:":
			anon = kb / 1024
		}
	}
	return hwm, anon
}
