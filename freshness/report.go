package freshness

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// WriteTable writes the results as a Markdown table, one row per run, with
// a line per workload that states what was simulated and the lower bounds.
func WriteTable(w io.Writer, results []Result) error {
	var b strings.Builder
	last := ""
	for _, r := range results {
		if r.Workload != last {
			if last != "" {
				b.WriteString("\n")
			}
			last = r.Workload
			measured := fmtDur(r.Measured)
			if r.Seeds > 1 {
				measured = fmt.Sprintf("%d seeds × %s", r.Seeds, fmtDur(r.Measured/time.Duration(r.Seeds)))
			}
			fmt.Fprintf(&b, "**%s** — %d orders over %s at the API, %.0f active (mean); measured %s of simulated time after the first sync; "+
				"call gap %s; ideal sweep of the active orders ⌈%.0f/100⌉ × gap = %s.\n\n",
				r.Workload, r.Orders, fmtDays(r.History), r.Active, measured, fmtDur(r.CallGap), r.Active, fmtDur(r.IdealSweep))
			b.WriteString("| ordering | poller | calls/min | 429s | new orders p50 / p95 / max | new p95 ÷ gap | transitions p50 / p95 / max | transitions p95 ÷ ideal sweep | transitions published | unreachable: published | first sync |\n")
			b.WriteString("| --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |\n")
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %d | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Ordering, r.Planner, r.CallsPerMinute, r.RateLimited,
			fmtLatency(r.New), fmtRatio(r.NewRatio(), r.New),
			fmtLatency(r.Transitions), fmtRatio(r.TransitionRatio(), r.Transitions),
			fmtShare(r.Transitions), fmtShare(r.Unreachable), fmtDur(r.FirstSync))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteNotes writes, per run, what the planner reported it could not cover.
func WriteNotes(w io.Writer, results []Result) error {
	var b strings.Builder
	for _, r := range results {
		if r.Planner != PlannerSync {
			continue
		}
		v := r.View
		fmt.Fprintf(&b, "- %s %s: ordering learnt %s; %d orders tracked, %d active, %d known changed not yet read",
			r.Workload, r.Ordering, v.Ordering, v.Orders, v.Active, v.Moved)
		if len(v.Incomplete) > 0 {
			b.WriteString("; statuses with more than a page, not readable whole in this ordering (orders known):")
			for _, st := range salesapi.Statuses() {
				if n := v.Incomplete[st]; n > 0 {
					fmt.Fprintf(&b, " %s %d", st, n)
				}
			}
		}
		if v.VolumeGap {
			b.WriteString("; coverage lost: more active orders than the budget keeps fresh")
		}
		fmt.Fprintf(&b, "; new orders published %s, prices %s.\n", fmtShare(r.New), fmtShare(r.Prices))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtLatency(l Latency) string {
	if l.Published == 0 {
		return "—"
	}
	return fmtDur(l.P50) + " / " + fmtDur(l.P95) + " / " + fmtDur(l.Max)
}

func fmtRatio(x float64, l Latency) string {
	if l.Published == 0 || math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.2f", x)
}

func fmtShare(l Latency) string {
	if l.Happened == 0 {
		return "—"
	}
	return fmt.Sprintf("%d/%d (%.1f%%)", l.Published, l.Happened, 100*l.Share())
}

// fmtDur writes a duration briefly: 4.2s, 3m10s, 2h05m.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// fmtDays writes a duration of whole days as "90 days", else as fmtDur.
func fmtDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return fmtDur(d)
}
