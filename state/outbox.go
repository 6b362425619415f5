package state

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Message is one entry of the transactional outbox: a NATS message the relay
// is to publish to JetStream.
type Message struct {
	// Seq is assigned by Apply: strictly increasing, never reused, not after
	// Ack and not after a restart. Apply ignores the caller's value.
	Seq     uint64
	Subject string
	Header  map[string]string // e.g. Nats-Msg-Id, Content-Type
	Data    []byte
	// Added is set by Apply from the store's clock.
	Added time.Time
}

// Pending returns up to n messages with Seq > after, oldest first. The relay
// publishes them and then calls Ack; after a crash it starts again from 0, and
// JetStream's de-duplication (Nats-Msg-Id) absorbs what it had published but
// not yet acknowledged. n <= 0 returns nothing.
func (s *Store) Pending(after uint64, n int) ([]Message, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []Message
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < n; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("outbox key of %d bytes: %w", len(k), ErrCorrupt)
			}
			seq := binary.BigEndian.Uint64(k)
			if seq <= after { // after+1 overflowed
				break
			}
			m, err := decodeMessage(seq, v)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending messages: %w", err)
	}
	return out, nil
}

// Ack deletes the given messages from the outbox, in one transaction. Call it
// only after JetStream acknowledged them. Unknown (or already acknowledged)
// seqs are ignored.
func (s *Store) Ack(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		deleted := uint64(0)
		for _, seq := range seqs {
			k := seqKey(seq)
			if b.Get(k) == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			deleted++
		}
		if deleted == 0 {
			return nil
		}
		return addCounter(tx.Bucket(bucketMeta), metaDepth, -int64(deleted))
	})
	if err != nil {
		return fmt.Errorf("ack messages: %w", err)
	}
	return nil
}

// OutboxStats returns how many messages wait in the outbox and when the
// oldest was added (zero when none). It reads a counter and the first key.
func (s *Store) OutboxStats() (depth int, oldest time.Time, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		depth, oldest, err = outboxStats(tx)
		return err
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox stats: %w", err)
	}
	return depth, oldest, nil
}

func outboxStats(tx *bolt.Tx) (int, time.Time, error) {
	d, err := getU64(tx.Bucket(bucketMeta).Get(metaDepth))
	if err != nil {
		return 0, time.Time{}, err
	}
	k, v := tx.Bucket(bucketOutbox).Cursor().First()
	if k == nil {
		return int(d), time.Time{}, nil
	}
	added, err := messageAdded(binary.BigEndian.Uint64(k), v)
	return int(d), added, err
}

// Notify returns a channel that receives a value after every Apply that added
// messages to the outbox (a non-blocking send into a buffer of one, so
// wake-ups coalesce), letting the relay sleep until there is work. It is
// never closed; select on it together with a context.
func (s *Store) Notify() <-chan struct{} { return s.notify }

func (s *Store) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// addCounter adds delta to a uint64 counter in the meta bucket, refusing to
// go below zero (which would mean the counter and the data disagree).
func addCounter(meta *bolt.Bucket, key []byte, delta int64) error {
	v, err := getU64(meta.Get(key))
	if err != nil {
		return err
	}
	n := int64(v) + delta
	if n < 0 {
		return fmt.Errorf("counter %s would be %d: %w", key, n, ErrCorrupt)
	}
	return meta.Put(key, u64(uint64(n)))
}
