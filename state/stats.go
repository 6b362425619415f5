package state

import (
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Stats describes a state file, for `salesbridge state inspect` and metrics.
type Stats struct {
	Orders        map[salesapi.Status]int // orders per status (statuses without orders absent)
	Total         int                     // all orders
	OutboxDepth   int                     // messages waiting in the outbox
	OutboxOldest  time.Time               // when the oldest waiting message was added; zero if none
	Commands      int                     // command ledger records
	Cursors       []string                // names of the sync cursors, sorted
	ID            string                  // the file's id (see Store.ID)
	FileSize      int64                   // bytes on disk
	SchemaVersion int
}

// Stats returns the file's figures from one read transaction. It reads
// counters and the cursor names, never the orders.
func (s *Store) Stats() (Stats, error) {
	st := Stats{ID: s.id, SchemaVersion: s.schema}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if st.Orders, err = readCounts(tx); err != nil {
			return err
		}
		for _, n := range st.Orders {
			st.Total += n
		}
		if st.OutboxDepth, st.OutboxOldest, err = outboxStats(tx); err != nil {
			return err
		}
		cmds, err := getU64(tx.Bucket(bucketMeta).Get(metaCommands))
		if err != nil {
			return err
		}
		st.Commands = int(cmds)
		st.Cursors = []string{}
		if err := tx.Bucket(bucketCursors).ForEach(func(k, _ []byte) error {
			st.Cursors = append(st.Cursors, string(k))
			return nil
		}); err != nil {
			return err
		}
		st.FileSize = tx.Size()
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("state stats: %w", err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileSize = fi.Size()
	}
	return st, nil
}
