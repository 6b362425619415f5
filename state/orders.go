package state

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Order is the last-seen snapshot of one tracked order. Times come back in
// UTC, with nanosecond precision and without a monotonic reading.
type Order struct {
	ID int64
	// Raw is the order's JSON as last seen (compact). Returned values own
	// their copy.
	Raw []byte
	// Rev counts the snapshots stored: 1 on first store, +1 each time Raw
	// changes. Apply uses it to detect racing writers (ErrConflict).
	Rev       uint64
	Status    salesapi.Status
	CreatedAt time.Time // the order's createdAt at the API; orders sort by it within a status
	// SeenAt is when the bridge last saw the order; Apply fills the clock's
	// time when it is zero.
	SeenAt time.Time
}

// Key is a position in the status index, where orders of one status sort by
// CreatedAt, then ID. The zero Key is the position before the first order.
type Key struct {
	CreatedAt time.Time
	ID        int64
}

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.CreatedAt.IsZero() && k.ID == 0 }

// Order returns the stored snapshot of order id, and whether there is one.
func (s *Store) Order(id int64) (Order, bool, error) {
	var (
		o     Order
		found bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketOrders).Get(orderKey(id))
		if v == nil {
			return nil
		}
		var err error
		o, err = decodeOrder(id, v)
		found = err == nil
		return err
	})
	if err != nil {
		return Order{}, false, fmt.Errorf("get order %d: %w", id, err)
	}
	return o, found, nil
}

// Orders returns the stored snapshots of the given orders, in one read
// transaction (a page of the API at a time). Orders not stored are absent
// from the map.
func (s *Store) Orders(ids []int64) (map[int64]Order, error) {
	out := make(map[int64]Order, len(ids))
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOrders)
		for _, id := range ids {
			v := b.Get(orderKey(id))
			if v == nil {
				continue
			}
			o, err := decodeOrder(id, v)
			if err != nil {
				return err
			}
			out[id] = o
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get orders: %w", err)
	}
	return out, nil
}

// ForEachOrder calls fn for every stored order, by id, inside one read
// transaction, and stops at fn's first error, which it returns. It streams:
// only one order is decoded at a time. fn must not call the store (a write
// waiting for this read to end would deadlock it) and should be quick: a long
// read delays writes that need to grow the file's memory map.
func (s *Store) ForEachOrder(fn func(Order) error) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOrders).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			id, err := orderKeyID(k)
			if err != nil {
				return err
			}
			o, err := decodeOrder(id, v)
			if err != nil {
				return err
			}
			if err := fn(o); err != nil {
				return err
			}
		}
		return nil
	})
}

// OrdersByStatus returns up to n orders in status st that come after the
// position after, ordered by (CreatedAt, ID), and the position of the last one
// returned (after itself when none is). Fewer than n orders means the end was
// reached. Start with the zero Key, or with Key{CreatedAt: t} to start at the
// orders created at t. n <= 0 returns nothing.
func (s *Store) OrdersByStatus(st salesapi.Status, after Key, n int) ([]Order, Key, error) {
	if n <= 0 || !statusOK(st) {
		return nil, after, nil
	}
	var out []Order
	next := after
	err := s.view(func(tx *bolt.Tx) error {
		orders := tx.Bucket(bucketOrders)
		c := tx.Bucket(bucketStatus).Cursor()
		prefix := byte(st)
		var k []byte
		if after.IsZero() {
			k, _ = c.Seek([]byte{prefix})
		} else {
			from := statusKey(st, after.CreatedAt, after.ID)
			k, _ = c.Seek(from)
			if k != nil && string(k) == string(from) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && k[0] == prefix && len(out) < n; k, _ = c.Next() {
			pos, err := parseStatusKey(k)
			if err != nil {
				return err
			}
			v := orders.Get(orderKey(pos.ID))
			if v == nil {
				return fmt.Errorf("status index names order %d, which is not stored: %w", pos.ID, ErrCorrupt)
			}
			o, err := decodeOrder(pos.ID, v)
			if err != nil {
				return err
			}
			out = append(out, o)
			next = pos
		}
		return nil
	})
	if err != nil {
		return nil, after, fmt.Errorf("orders by status %s: %w", st, err)
	}
	return out, next, nil
}

// Count returns how many stored orders are in each status (statuses without
// orders are absent). Apply maintains the counts, so this reads one small
// bucket, not the orders.
func (s *Store) Count() (map[salesapi.Status]int, error) {
	var out map[salesapi.Status]int
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = readCounts(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("count orders: %w", err)
	}
	return out, nil
}

func readCounts(tx *bolt.Tx) (map[salesapi.Status]int, error) {
	out := make(map[salesapi.Status]int)
	err := tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
		if len(k) != 1 || len(v) != 8 {
			return fmt.Errorf("status count: %w", ErrCorrupt)
		}
		out[salesapi.Status(k[0])] = int(binary.BigEndian.Uint64(v))
		return nil
	})
	return out, err
}
