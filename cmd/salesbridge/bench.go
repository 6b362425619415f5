package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/salesbridge/salesbridge/freshness"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// runBench is `salesbridge bench freshness`: the sandbox, the real API
// client, the state store and the bridge's sync planner on a simulated
// clock, for each workload and server ordering, next to a naive poller;
// it prints how soon new orders and status changes were seen, against the
// lower bounds of the same workload.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "freshness" {
		fmt.Fprintln(stderr, "usage: salesbridge bench freshness [flags]")
		return &exitError{2, errors.New("bench: the only benchmark is \"freshness\"")}
	}
	fs := newFlagSet("bench freshness", stderr)
	workloads := fs.String("workloads", "S,M,L", "workloads to run: S (200 orders), M (3 000), L (30 000), each over 90 days")
	orderings := fs.String("orderings", "oldest,newest,shuffled", "server orderings of list answers to run")
	naive := fs.Bool("naive", true, "also run the naive poller on each workload, for comparison")
	seed := fs.Int64("seed", 1, "seed of the sandbox's data and traffic")
	seeds := fs.Int("seeds", 1, "repeat each run with this many seeds (seed, seed+1, …) and pool the samples")
	measure := fs.Duration("measure", 0, "simulated time to measure per workload (default: 24h for S and M, 4h for L)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("bench: unexpected arguments %q", fs.Args())}
	}
	if *seeds < 1 {
		return &exitError{2, fmt.Errorf("bench: --seeds %d: want at least 1", *seeds)}
	}
	cfg := freshness.Config{Seed: *seed, Seeds: *seeds, Planners: []freshness.Planner{freshness.PlannerSync}}
	if *naive {
		cfg.Planners = append(cfg.Planners, freshness.PlannerNaive)
	}
	for _, name := range strings.Split(*workloads, ",") {
		w, err := freshness.WorkloadNamed(name)
		if err != nil {
			return &exitError{2, fmt.Errorf("bench: %w", err)}
		}
		if *measure > 0 {
			w.Measure = *measure
		}
		cfg.Workloads = append(cfg.Workloads, w)
	}
	for _, name := range strings.Split(*orderings, ",") {
		o, err := salesapitest.ParseOrdering(strings.TrimSpace(name))
		if err != nil {
			return &exitError{2, fmt.Errorf("bench: %w", err)}
		}
		cfg.Orderings = append(cfg.Orderings, o)
	}
	start := time.Now()
	var mu sync.Mutex // runs report from their goroutines
	cfg.Progress = func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "[%s] %s\n", time.Since(start).Round(time.Second), msg)
	}
	results, err := freshness.Run(ctx, cfg)
	if err != nil {
		return err
	}
	seedsText := fmt.Sprintf("seed %d", *seed)
	if *seeds > 1 {
		seedsText = fmt.Sprintf("seeds %d–%d pooled", *seed, *seed+int64(*seeds)-1)
	}
	fmt.Fprintf(stdout, "salesbridge bench freshness (%s; sandbox traffic: office reaction 3 h, steps 12 h; 10 calls a minute)\n\n", seedsText)
	if err := freshness.WriteTable(stdout, results); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	return freshness.WriteNotes(stdout, results)
}
