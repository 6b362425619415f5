package state

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// This file holds the on-disk encoding of keys and values. Every value starts
// with a format byte (valueV1) so that a later schema can change one kind of
// value without rewriting the others; fixed-width integers are big-endian so
// that bbolt's byte order is their numeric order.

// valueV1 is the format byte of every value written by this build.
const valueV1 = 1

// Bucket names. Domain methods are the only users; nobody outside the package
// sees a bucket.
var (
	bucketMeta     = []byte("meta")     // schema, id, created, outbox depth, command count
	bucketOrders   = []byte("orders")   // order id → order
	bucketStatus   = []byte("status")   // status|createdAt|id → empty (the status index)
	bucketCounts   = []byte("counts")   // status → number of orders in it
	bucketOutbox   = []byte("outbox")   // seq → message; the bucket's sequence is the last seq
	bucketCursors  = []byte("cursors")  // name → cursor value
	bucketCommands = []byte("commands") // command id → command
	bucketCmdTime  = []byte("cmdtime")  // at|command id → empty (for PruneCommands)
)

// allBuckets lists every bucket a state file of the current schema has.
var allBuckets = [][]byte{bucketMeta, bucketOrders, bucketStatus, bucketCounts, bucketOutbox, bucketCursors, bucketCommands, bucketCmdTime}

// Keys of the meta bucket.
var (
	metaSchema   = []byte("schema")   // uint32: SchemaVersion
	metaID       = []byte("id")       // 16 random bytes, made with the file
	metaCreated  = []byte("created")  // int64 unix nanos, when the file was made
	metaDepth    = []byte("depth")    // uint64: messages in the outbox
	metaCommands = []byte("commands") // uint64: records in the command ledger
)

// Limits checked by Apply (bbolt's own key limit is 32 KiB).
const (
	maxNameLen = 1024 // bytes of a cursor name or a command id
)

// zeroTimeNanos stands for the zero time.Time, which has no UnixNano.
const zeroTimeNanos = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timeOK reports whether t can be stored: the zero time, or an instant that
// int64 nanoseconds since 1970 can hold (years 1678 to 2262).
func timeOK(t time.Time) bool {
	return t.IsZero() || (!t.Before(minTime) && !t.After(maxTime))
}

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return zeroTimeNanos
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == zeroTimeNanos {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ordered maps a signed integer to an unsigned one with the same order, so
// that big-endian bytes sort like the signed values.
func ordered(v int64) uint64 { return uint64(v) ^ (1 << 63) }

func unordered(u uint64) int64 { return int64(u ^ (1 << 63)) }

// orderKey is the key of an order in the orders bucket.
func orderKey(id int64) []byte { return binary.BigEndian.AppendUint64(nil, ordered(id)) }

func orderKeyID(k []byte) (int64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("order key of %d bytes: %w", len(k), ErrCorrupt)
	}
	return unordered(binary.BigEndian.Uint64(k)), nil
}

// statusKey is the key of an order in the status index.
func statusKey(st salesapi.Status, createdAt time.Time, id int64) []byte {
	k := make([]byte, 0, 17)
	k = append(k, byte(st))
	k = binary.BigEndian.AppendUint64(k, ordered(timeNanos(createdAt)))
	return binary.BigEndian.AppendUint64(k, ordered(id))
}

func parseStatusKey(k []byte) (Key, error) {
	if len(k) != 17 {
		return Key{}, fmt.Errorf("status index key of %d bytes: %w", len(k), ErrCorrupt)
	}
	return Key{
		CreatedAt: nanosTime(unordered(binary.BigEndian.Uint64(k[1:9]))),
		ID:        unordered(binary.BigEndian.Uint64(k[9:17])),
	}, nil
}

// statusOK reports whether st fits the one byte the index gives it.
func statusOK(st salesapi.Status) bool { return st >= 0 && st <= math.MaxUint8 }

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) (uint64, error) {
	if b == nil {
		return 0, nil
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("counter of %d bytes: %w", len(b), ErrCorrupt)
	}
	return binary.BigEndian.Uint64(b), nil
}

// Order value: format | status | rev (8) | createdAt (8) | seenAt (8) | raw JSON.
const orderHeader = 1 + 1 + 8 + 8 + 8

func encodeOrder(o *Order) []byte {
	v := make([]byte, 0, orderHeader+len(o.Raw))
	v = append(v, valueV1, byte(o.Status))
	v = binary.BigEndian.AppendUint64(v, o.Rev)
	v = binary.BigEndian.AppendUint64(v, uint64(timeNanos(o.CreatedAt)))
	v = binary.BigEndian.AppendUint64(v, uint64(timeNanos(o.SeenAt)))
	return append(v, o.Raw...)
}

// decodeOrder decodes v, copying Raw out of it (v belongs to bbolt).
func decodeOrder(id int64, v []byte) (Order, error) {
	if len(v) < orderHeader || v[0] != valueV1 {
		return Order{}, fmt.Errorf("order %d: bad value: %w", id, ErrCorrupt)
	}
	return Order{
		ID:        id,
		Status:    salesapi.Status(v[1]),
		Rev:       binary.BigEndian.Uint64(v[2:10]),
		CreatedAt: nanosTime(int64(binary.BigEndian.Uint64(v[10:18]))),
		SeenAt:    nanosTime(int64(binary.BigEndian.Uint64(v[18:26]))),
		Raw:       slices.Clone(v[orderHeader:]),
	}, nil
}

// orderHead decodes what Apply needs of a stored order without copying Raw.
func orderHead(id int64, v []byte) (o Order, raw []byte, err error) {
	if len(v) < orderHeader || v[0] != valueV1 {
		return Order{}, nil, fmt.Errorf("order %d: bad value: %w", id, ErrCorrupt)
	}
	return Order{
		ID:        id,
		Status:    salesapi.Status(v[1]),
		Rev:       binary.BigEndian.Uint64(v[2:10]),
		CreatedAt: nanosTime(int64(binary.BigEndian.Uint64(v[10:18]))),
	}, v[orderHeader:], nil
}

// Message value: format | added (8) | uvarint len, subject | uvarint count,
// then per header (sorted by key) uvarint len, key, uvarint len, value | data.
func encodeMessage(m *Message) []byte {
	n := 1 + 8 + binary.MaxVarintLen64*2 + len(m.Subject) + len(m.Data)
	for k, v := range m.Header {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, valueV1)
	b = binary.BigEndian.AppendUint64(b, uint64(timeNanos(m.Added)))
	b = appendString(b, m.Subject)
	b = binary.AppendUvarint(b, uint64(len(m.Header)))
	keys := make([]string, 0, len(m.Header))
	for k := range m.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m.Header[k])
	}
	return append(b, m.Data...)
}

func decodeMessage(seq uint64, v []byte) (Message, error) {
	bad := func() (Message, error) {
		return Message{}, fmt.Errorf("outbox message %d: bad value: %w", seq, ErrCorrupt)
	}
	if len(v) < 9 || v[0] != valueV1 {
		return bad()
	}
	m := Message{Seq: seq, Added: nanosTime(int64(binary.BigEndian.Uint64(v[1:9])))}
	r := v[9:]
	var ok bool
	if m.Subject, r, ok = readString(r); !ok {
		return bad()
	}
	n, w := binary.Uvarint(r)
	if w <= 0 || n > uint64(len(r)) {
		return bad()
	}
	r = r[w:]
	if n > 0 {
		m.Header = make(map[string]string, n)
	}
	for range n {
		var k, hv string
		if k, r, ok = readString(r); !ok {
			return bad()
		}
		if hv, r, ok = readString(r); !ok {
			return bad()
		}
		m.Header[k] = hv
	}
	m.Data = slices.Clone(r)
	return m, nil
}

// messageAdded reads only the Added time of a message value.
func messageAdded(seq uint64, v []byte) (time.Time, error) {
	if len(v) < 9 || v[0] != valueV1 {
		return time.Time{}, fmt.Errorf("outbox message %d: bad value: %w", seq, ErrCorrupt)
	}
	return nanosTime(int64(binary.BigEndian.Uint64(v[1:9]))), nil
}

// Command value: format | orderID (8) | at (8) | uvarint len, state | outcome.
func encodeCommand(c *Command) []byte {
	b := make([]byte, 0, 1+16+binary.MaxVarintLen64+len(c.State)+len(c.Outcome))
	b = append(b, valueV1)
	b = binary.BigEndian.AppendUint64(b, uint64(c.OrderID))
	b = binary.BigEndian.AppendUint64(b, uint64(timeNanos(c.At)))
	b = appendString(b, c.State)
	return append(b, c.Outcome...)
}

func decodeCommand(id string, v []byte) (Command, error) {
	if len(v) < 17 || v[0] != valueV1 {
		return Command{}, fmt.Errorf("command record: bad value: %w", ErrCorrupt)
	}
	c := Command{
		ID:      id,
		OrderID: int64(binary.BigEndian.Uint64(v[1:9])),
		At:      nanosTime(int64(binary.BigEndian.Uint64(v[9:17]))),
	}
	st, rest, ok := readString(v[17:])
	if !ok {
		return Command{}, fmt.Errorf("command record: bad value: %w", ErrCorrupt)
	}
	c.State = st
	c.Outcome = slices.Clone(rest)
	return c, nil
}

// cmdTimeKey is the key of a command in the ledger's time index.
func cmdTimeKey(at time.Time, id string) []byte {
	k := make([]byte, 0, 8+len(id))
	k = binary.BigEndian.AppendUint64(k, ordered(timeNanos(at)))
	return append(k, id...)
}

// Cursor value: format | bytes.
func encodeCursor(v []byte) []byte { return append([]byte{valueV1}, v...) }

func decodeCursor(v []byte) ([]byte, error) {
	if len(v) < 1 || v[0] != valueV1 {
		return nil, fmt.Errorf("cursor: bad value: %w", ErrCorrupt)
	}
	return slices.Clone(v[1:]), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return "", nil, false
	}
	return string(b[w : w+int(n)]), b[w+int(n):], true
}
