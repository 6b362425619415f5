package state

import "errors"

// Sentinel errors returned (wrapped, with context) by the Store. Check them
// with errors.Is.
var (
	// ErrLocked is returned by Open when another Store — in this process or
	// in another one — holds the state file and did not release it within
	// Options.Timeout. One bridge per state file.
	ErrLocked = errors.New("state file is locked by another process")

	// ErrCorrupt is returned when the file is not a salesbridge state file
	// (not a bbolt file, or a bbolt file without our meta data) or when a
	// stored value cannot be decoded.
	ErrCorrupt = errors.New("state file is corrupt or not a salesbridge state file")

	// ErrVersion is returned by Open when the file was written with a newer
	// schema than this build understands; upgrade salesbridge instead of
	// letting an old build rewrite a new file.
	ErrVersion = errors.New("state file schema is newer than this build")

	// ErrConflict is returned by Apply when an order's Rev does not follow
	// the stored one: another writer applied a change first, or the caller
	// worked from a stale snapshot. Nothing of the batch was applied.
	ErrConflict = errors.New("order revision conflict")

	// ErrInvalid is returned by Apply when the batch itself is malformed (an
	// order without id or createdAt, a message without subject, an empty
	// command id or cursor name …). Nothing of the batch was applied.
	ErrInvalid = errors.New("invalid batch")

	// ErrReadOnly is returned by the writing methods of a Store opened with
	// Options.ReadOnly.
	ErrReadOnly = errors.New("state store is read-only")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("state store is closed")
)
