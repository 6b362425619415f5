// Package state is the bridge's memory: a single bbolt file holding the
// last-seen snapshot of every tracked order, the transactional outbox of
// events not yet acknowledged by JetStream, the sync planner's cursors and the
// command ledger.
//
// It exists so that a crash at any moment loses nothing and duplicates
// nothing (DESIGN.md §4). The bridge turns what it saw into one Batch — new
// snapshots plus the events describing the change, cursors, ledger records —
// and Apply writes it in one bbolt transaction, so the snapshot never moves
// ahead of its events. The relay reads Pending messages, publishes them with
// Nats-Msg-Id, and calls Ack only after JetStream acknowledged them; after a
// crash it republishes from the oldest pending message and JetStream's
// de-duplication drops what had already arrived.
//
// The package offers domain operations, not buckets. Reads that serve the
// running bridge are bounded (a page of ids, n messages, n orders of one
// status); only ForEachOrder walks all orders, streaming one at a time.
// Counters (orders per status, outbox depth, ledger size) are kept in the
// same transactions that change the data, so statistics never scan.
//
// # Layout and encoding
//
// Buckets: meta (schema version, the file's random id, counters), orders
// (id → snapshot), status (status|createdAt|id index), counts (status →
// orders), outbox (seq → message; the bucket's sequence is the last seq ever
// given, so seqs are never reused), cursors, commands and cmdtime (the
// ledger and its time index). Integer keys are big-endian (signed ones with
// the sign bit flipped) so that bbolt iterates in numeric order. Every value
// starts with a format byte (1), followed by a fixed binary header and the
// payload: an order's raw JSON, a message's data, a command's outcome. Times
// are int64 Unix nanoseconds and come back in UTC.
//
// # Caveats
//
// Everything returned is a copy; nothing aliases bbolt's memory map. A Store
// holds an exclusive lock on its file (flock): a second Open, even in the same
// process, fails with ErrLocked after Options.Timeout. The file is created
// 0600 and an existing file readable by others is restricted to its owner.
// When the disk is full or the file system turns read-only, Apply and Ack
// return the error and the file keeps its last committed state; the Store
// stays usable for reads and a later retry. A ForEachOrder callback must not
// call the Store.
package state
