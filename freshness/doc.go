// Package freshness measures how soon the bridge sees what happens at the
// API — a new order, a status change — under the real budget of 10 calls a
// minute, and compares it with the lower bound of the same workload and
// with a naive poller.
//
// It runs the real parts: the sandbox (salesapitest) over HTTP on a
// loopback port, the real API client with its call budget, the real state
// store, and the bridge's poller and sync planner through bridge.Stepper —
// all on one clock.Manual that the benchmark moves itself, one call slot
// (the budget's window ÷ rate, 6.1 s) at a time, so that a simulated day
// takes seconds. Detection latency is measured against the sandbox's ground
// truth: from when a change happened (Changes, with its time) to when the
// bridge's outbox got its event (the clock time of the call whose answer
// produced it).
//
// `salesbridge bench freshness` prints the table; `go test -bench
// Freshness ./freshness/` runs the same engine; the package's tests run a
// small workload in every server ordering as a check of the planner.
package freshness
