package state

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Command states recorded in the ledger.
const (
	// CommandStarted is recorded before the PATCH is sent: finding it after a
	// restart means the outcome is unknown (the bridge crashed in between),
	// so the command must not be executed blindly a second time.
	CommandStarted = "started"
	// CommandDone is recorded with the outcome, in the same batch as the
	// outbox message that publishes it.
	CommandDone = "done"
)

// Command is one record of the command ledger, which makes "one execution per
// command id" hold across restarts.
type Command struct {
	ID      string // the command id; at most 1024 bytes
	OrderID int64
	State   string // CommandStarted or CommandDone (any string is stored)
	Outcome []byte // the encoded outcome, to republish for a repeated command
	// At is when the record was made; Apply fills the clock's time when it
	// is zero. PruneCommands removes records by it.
	At time.Time
}

// Command returns the ledger record of command id, and whether there is one.
func (s *Store) Command(id string) (Command, bool, error) {
	var (
		c     Command
		found bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCommands).Get([]byte(id))
		if v == nil {
			return nil
		}
		var err error
		c, err = decodeCommand(id, v)
		found = err == nil
		return err
	})
	if err != nil {
		return Command{}, false, fmt.Errorf("get command: %w", err)
	}
	return c, found, nil
}

// PruneCommands deletes the ledger records made before the given time (the
// ledger's retention) and returns how many it deleted. It walks a time index,
// so it reads only what it deletes.
func (s *Store) PruneCommands(before time.Time) (int, error) {
	if !timeOK(before) {
		return 0, fmt.Errorf("prune commands: time %v: %w", before, ErrInvalid)
	}
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		index := tx.Bucket(bucketCmdTime)
		cmds := tx.Bucket(bucketCommands)
		limit := cmdTimeKey(before, "")
		// Collect first: deleting under a bbolt cursor may skip keys.
		var keys [][]byte
		c := index.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, limit) < 0; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := index.Delete(k); err != nil {
				return err
			}
			if err := cmds.Delete(k[8:]); err != nil {
				return err
			}
		}
		n = len(keys)
		if n == 0 {
			return nil
		}
		return addCounter(tx.Bucket(bucketMeta), metaCommands, -int64(n))
	})
	if err != nil {
		return 0, fmt.Errorf("prune commands: %w", err)
	}
	return n, nil
}

// CommandCount returns the number of records in the ledger (a counter, not a
// scan).
func (s *Store) CommandCount() (int, error) {
	var n uint64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = getU64(tx.Bucket(bucketMeta).Get(metaCommands))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("count commands: %w", err)
	}
	return int(n), nil
}

// putCommand puts c into the ledger, keeping the time index and the count in
// step.
func putCommand(tx *bolt.Tx, c *Command, now time.Time) error {
	cmds := tx.Bucket(bucketCommands)
	index := tx.Bucket(bucketCmdTime)
	v := *c
	if v.At.IsZero() {
		v.At = now
	}
	key := []byte(v.ID)
	if old := cmds.Get(key); old != nil {
		prev, err := decodeCommand(v.ID, old)
		if err != nil {
			return err
		}
		if err := index.Delete(cmdTimeKey(prev.At, v.ID)); err != nil {
			return err
		}
	} else if err := addCounter(tx.Bucket(bucketMeta), metaCommands, 1); err != nil {
		return err
	}
	if err := index.Put(cmdTimeKey(v.At, v.ID), []byte{}); err != nil {
		return err
	}
	return cmds.Put(key, encodeCommand(&v))
}

// Cursor returns the value of the named sync cursor, and whether it is set.
func (s *Store) Cursor(name string) ([]byte, bool, error) {
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketCursors).Get([]byte(name))
		if raw == nil {
			return nil
		}
		var err error
		v, err = decodeCursor(raw)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("get cursor: %w", err)
	}
	return v, v != nil, nil
}
