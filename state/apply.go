package state

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Batch is everything one step of the bridge changes, applied all or nothing.
type Batch struct {
	// Orders are upserted in order. Each Rev must follow the stored one: 1
	// for an order not stored yet, stored Rev+1 for a new snapshot, or the
	// stored Rev itself when Raw is unchanged (a touch that only moves
	// SeenAt). Anything else is ErrConflict. An order may appear more than
	// once; each occurrence follows the previous one.
	Orders []Order
	// Messages are appended to the outbox in this order. On success Apply
	// writes the assigned Seq and Added back into this slice.
	Messages []Message
	// Cursors are set; a nil value deletes the cursor.
	Cursors map[string][]byte
	// Commands are put into the ledger, replacing a record with the same ID.
	Commands []Command
}

// Apply writes the batch in one bbolt transaction: the snapshots, their
// status index and counts, the outbox messages, cursors and command records
// all change together or not at all. This is what makes a crash harmless: a
// snapshot never moves ahead of the events that describe the change.
//
// A malformed batch returns ErrInvalid and a Rev that does not follow the
// stored one ErrConflict; both change nothing. An I/O error (disk full, file
// system gone read-only) is returned as is: bbolt rolls the transaction back
// and the file keeps the last committed batch, so the caller may retry the
// same batch later. After every Apply that added messages, Notify fires.
// An empty batch does nothing.
func (s *Store) Apply(b Batch) error {
	if len(b.Orders) == 0 && len(b.Messages) == 0 && len(b.Cursors) == 0 && len(b.Commands) == 0 {
		return nil
	}
	if err := validate(&b); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	now := s.clock.Now()
	if !timeOK(now) {
		return fmt.Errorf("apply: clock time %v: %w", now, ErrInvalid)
	}
	seqs := make([]uint64, len(b.Messages))
	err := s.update(func(tx *bolt.Tx) error {
		for i := range b.Orders {
			if err := putOrder(tx, &b.Orders[i], now); err != nil {
				return err
			}
		}
		if err := appendMessages(tx, b.Messages, seqs, now); err != nil {
			return err
		}
		if err := putCursors(tx, b.Cursors); err != nil {
			return err
		}
		for i := range b.Commands {
			if err := putCommand(tx, &b.Commands[i], now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	for i := range b.Messages {
		b.Messages[i].Seq = seqs[i]
		b.Messages[i].Added = now
	}
	if len(b.Messages) > 0 {
		s.wake()
	}
	return nil
}

// validate checks what can be checked without the stored data.
func validate(b *Batch) error {
	for i := range b.Orders {
		o := &b.Orders[i]
		switch {
		case o.ID == 0:
			return fmt.Errorf("order #%d without id: %w", i, ErrInvalid)
		case len(o.Raw) == 0:
			return fmt.Errorf("order %d without raw JSON: %w", o.ID, ErrInvalid)
		case o.CreatedAt.IsZero() || !timeOK(o.CreatedAt):
			return fmt.Errorf("order %d: createdAt %v out of range: %w", o.ID, o.CreatedAt, ErrInvalid)
		case !timeOK(o.SeenAt):
			return fmt.Errorf("order %d: seenAt %v out of range: %w", o.ID, o.SeenAt, ErrInvalid)
		case !statusOK(o.Status):
			return fmt.Errorf("order %d: status %d out of range 0-255: %w", o.ID, int(o.Status), ErrInvalid)
		}
	}
	for i := range b.Messages {
		m := &b.Messages[i]
		if m.Subject == "" {
			return fmt.Errorf("message #%d without subject: %w", i, ErrInvalid)
		}
		for k := range m.Header {
			if k == "" {
				return fmt.Errorf("message #%d: empty header name: %w", i, ErrInvalid)
			}
		}
	}
	for name := range b.Cursors {
		if name == "" || len(name) > maxNameLen {
			return fmt.Errorf("cursor name of %d bytes: %w", len(name), ErrInvalid)
		}
	}
	for i := range b.Commands {
		c := &b.Commands[i]
		if c.ID == "" || len(c.ID) > maxNameLen {
			return fmt.Errorf("command #%d: id of %d bytes: %w", i, len(c.ID), ErrInvalid)
		}
		if !timeOK(c.At) {
			return fmt.Errorf("command #%d: time %v out of range: %w", i, c.At, ErrInvalid)
		}
	}
	return nil
}

// putOrder upserts o after checking its Rev, keeping the status index and
// the counts in step.
func putOrder(tx *bolt.Tx, o *Order, now time.Time) error {
	orders := tx.Bucket(bucketOrders)
	index := tx.Bucket(bucketStatus)
	key := orderKey(o.ID)

	moved, recount := true, true // index entry and count need changing
	if stored := orders.Get(key); stored == nil {
		if o.Rev != 1 {
			return fmt.Errorf("order %d: rev %d for a new order, want 1: %w", o.ID, o.Rev, ErrConflict)
		}
	} else {
		prev, raw, err := orderHead(o.ID, stored)
		if err != nil {
			return err
		}
		touch := o.Rev == prev.Rev && bytes.Equal(raw, o.Raw)
		if o.Rev != prev.Rev+1 && !touch {
			return fmt.Errorf("order %d: rev %d after stored rev %d: %w", o.ID, o.Rev, prev.Rev, ErrConflict)
		}
		recount = prev.Status != o.Status
		moved = recount || !prev.CreatedAt.Equal(o.CreatedAt)
		if moved {
			if err := index.Delete(statusKey(prev.Status, prev.CreatedAt, o.ID)); err != nil {
				return err
			}
		}
		if recount {
			if err := addCount(tx, prev.Status, -1); err != nil {
				return err
			}
		}
	}
	if moved {
		if err := index.Put(statusKey(o.Status, o.CreatedAt, o.ID), []byte{}); err != nil {
			return err
		}
	}
	if recount {
		if err := addCount(tx, o.Status, 1); err != nil {
			return err
		}
	}
	v := *o
	if v.SeenAt.IsZero() {
		v.SeenAt = now
	}
	return orders.Put(key, encodeOrder(&v))
}

// addCount adds delta to the number of orders in status st, dropping the
// entry at zero.
func addCount(tx *bolt.Tx, st salesapi.Status, delta int64) error {
	b := tx.Bucket(bucketCounts)
	k := []byte{byte(st)}
	v, err := getU64(b.Get(k))
	if err != nil {
		return err
	}
	n := int64(v) + delta
	switch {
	case n < 0:
		return fmt.Errorf("count of status %s would be %d: %w", st, n, ErrCorrupt)
	case n == 0:
		return b.Delete(k)
	}
	return b.Put(k, u64(uint64(n)))
}

// appendMessages adds msgs to the outbox, recording the seqs they got.
func appendMessages(tx *bolt.Tx, msgs []Message, seqs []uint64, now time.Time) error {
	if len(msgs) == 0 {
		return nil
	}
	b := tx.Bucket(bucketOutbox)
	// Appending in key order lets bbolt fill pages completely.
	b.FillPercent = 1.0
	for i := range msgs {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		m := msgs[i]
		m.Added = now
		if err := b.Put(seqKey(seq), encodeMessage(&m)); err != nil {
			return err
		}
		seqs[i] = seq
	}
	return addCounter(tx.Bucket(bucketMeta), metaDepth, int64(len(msgs)))
}

// putCursors sets or deletes cursors.
func putCursors(tx *bolt.Tx, cursors map[string][]byte) error {
	b := tx.Bucket(bucketCursors)
	for name, v := range cursors {
		var err error
		if v == nil {
			err = b.Delete([]byte(name))
		} else {
			err = b.Put([]byte(name), encodeCursor(v))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
