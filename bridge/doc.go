// Package bridge is the running part of salesbridge: it polls the Sales
// Module API within its call budget, turns what changed into typed events,
// and publishes them to NATS JetStream.
//
// The parts meet only at the state file. The poller asks the API for a page
// of orders (the planner decides which page is worth the call), diffs each
// order against its stored snapshot, and commits the new snapshots together
// with the CloudEvents of their changes — the outbox — in one bbolt
// transaction. The relay publishes the outbox in order, with Nats-Msg-Id set
// to each event's id, and deletes a message only after JetStream acknowledged
// it. A crash at any point therefore loses nothing (the outbox survives) and
// duplicates nothing (JetStream drops a re-published id within its
// de-duplication window).
package bridge
