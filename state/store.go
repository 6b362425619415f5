package state

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
)

// SchemaVersion is the layout version this build writes into the meta bucket.
// Open refuses a file with a higher one (ErrVersion).
const SchemaVersion = 1

// DefaultTimeout is how long Open waits for another holder of the file's lock
// when Options.Timeout is zero.
const DefaultTimeout = 100 * time.Millisecond

// FileMode is the permission of a state file: it holds personal data of site
// visitors, so only the owner may read it.
const FileMode fs.FileMode = 0o600

// Options configure Open. The zero value (or nil) is right for production.
type Options struct {
	// Timeout is how long Open waits for another Store (another process, or
	// another Open in this one) to release the file's lock before it returns
	// ErrLocked. Zero means DefaultTimeout (100 ms); a negative value means
	// one attempt without waiting. bbolt retries every 50 ms, so the wait is
	// rounded to that step.
	Timeout time.Duration

	// NoSync skips fsync on commit: faster, but a power loss (not a process
	// crash) may lose or corrupt committed batches. For tests and benchmarks
	// only.
	NoSync bool

	// ReadOnly opens an existing file for reading only, with a shared lock,
	// for `salesbridge state inspect`: it fails with ErrLocked while a bridge
	// holds the file, never creates, initializes or chmods it, and the
	// writing methods return ErrReadOnly.
	ReadOnly bool

	// Clock supplies the times the store records itself (Message.Added, and
	// Order.SeenAt or Command.At when the caller leaves them zero). Default
	// clock.Real().
	Clock clock.Clock

	// Logger receives a line on open and a warning when the file's mode is
	// too open. It never receives order contents. Default zap.NewNop().
	Logger *zap.Logger
}

// Store is an open state file. Its methods are safe for concurrent use; bbolt
// runs one writing transaction at a time and any number of readers beside it.
type Store struct {
	db     *bolt.DB
	path   string
	id     string
	schema int
	clock  clock.Clock
	log    *zap.Logger
	notify chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open opens the state file at path, creating it (mode 0600) if it does not
// exist and ReadOnly is not set.
//
// A new file is initialized under a temporary name in the same directory and
// then linked into place, so a crash during the first start leaves either no
// file or a complete one (an orphaned "<name>.init-*" file at worst), and two
// processes racing to create it end up sharing one file.
//
// An existing file whose mode lets the group or others in is chmod-ed to
// owner-only (0600 at most) with a warning in the log: the file holds
// personal data, and tightening is safer than refusing to start. A read-only
// Open only warns.
//
// Open fails with ErrLocked when another Store holds the file, with
// ErrCorrupt when it is not a salesbridge state file, and with ErrVersion when
// it was written by a newer schema.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	timeout := o.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt: 0 would mean "wait forever"
	}

	if !o.ReadOnly {
		if err := create(path, timeout, &o); err != nil {
			return nil, err
		}
	}
	if err := checkMode(path, o.ReadOnly, o.Logger); err != nil {
		return nil, err
	}

	db, err := bolt.Open(path, FileMode, &bolt.Options{
		Timeout:      timeout,
		NoSync:       o.NoSync,
		ReadOnly:     o.ReadOnly,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, openError(path, err)
	}
	s := &Store{
		db:     db,
		path:   path,
		clock:  o.Clock,
		log:    o.Logger,
		notify: make(chan struct{}, 1),
	}
	if err := s.load(!o.ReadOnly); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	s.log.Info("state opened", zap.String("path", path), zap.String("id", s.id),
		zap.Int("schema", s.schema), zap.Bool("readOnly", o.ReadOnly))
	return s, nil
}

// openError translates bbolt's errors into the package's sentinels.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open state %s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return fmt.Errorf("open state %s: %w (%w)", path, ErrCorrupt, err)
	}
	return fmt.Errorf("open state %s: %w", path, err)
}

// create makes a complete, empty state file at path unless one exists.
func create(path string, timeout time.Duration, o *Options) error {
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // exists (or cannot be examined: let bolt.Open say why)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".init-*") // mode 0600
	if err != nil {
		return fmt.Errorf("create state %s: %w", path, err)
	}
	tmp := f.Name()
	_ = f.Close()
	defer os.Remove(tmp)

	db, err := bolt.Open(tmp, FileMode, &bolt.Options{Timeout: timeout, NoSync: o.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("create state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return initialize(tx, o.Clock.Now()) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create state %s: %w", path, err)
	}
	// Link fails if another process created the file meanwhile: then both
	// use that one. Where hard links are not supported, fall back to letting
	// bolt.Open create and initialize the file in place.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil
	}
	if !o.NoSync {
		syncDir(dir) // make the new name durable
	}
	return nil
}

// syncDir flushes a directory's entries; failures are ignored (some file
// systems do not support it, and the file itself is already durable).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// checkMode keeps the file owner-only.
func checkMode(path string, readOnly bool, log *zap.Logger) error {
	fi, err := os.Stat(path)
	if err != nil {
		if readOnly && errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("open state %s: %w", path, err)
		}
		return nil // bolt.Open creates it 0600, or reports why it cannot
	}
	if fi.IsDir() {
		return fmt.Errorf("open state %s: is a directory", path)
	}
	mode := fi.Mode().Perm()
	if mode&0o077 == 0 {
		return nil
	}
	if readOnly {
		log.Warn("state file is readable by group or others; it holds personal data",
			zap.String("path", path), zap.String("mode", mode.String()))
		return nil
	}
	if err := os.Chmod(path, mode&^0o077); err != nil {
		return fmt.Errorf("open state %s: restrict mode %s: %w", path, mode, err)
	}
	log.Warn("state file was readable by group or others; restricted to the owner",
		zap.String("path", path), zap.String("was", mode.String()), zap.String("now", (mode&^0o077).String()))
	return nil
}

// initialize creates the buckets and meta data of a new state file.
func initialize(tx *bolt.Tx, now time.Time) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(metaID) != nil {
		return nil
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("make state id: %w", err)
	}
	for _, kv := range [][2][]byte{
		{metaSchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)},
		{metaID, id},
		{metaCreated, u64(uint64(timeNanos(now)))},
		{metaDepth, u64(0)},
		{metaCommands, u64(0)},
	} {
		if err := meta.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// load checks the file's meta data, initializing a bbolt file without any
// bucket (a file that bolt.Open itself created) when writable.
func (s *Store) load(writable bool) error {
	fresh := false
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Cursor().First()
		fresh = k == nil
		return nil
	})
	if err != nil {
		return err
	}
	if fresh {
		if !writable {
			return fmt.Errorf("empty bbolt file: %w", ErrCorrupt)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error { return initialize(tx, s.clock.Now()) }); err != nil {
			return err
		}
	}
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("no salesbridge meta data: %w", ErrCorrupt)
		}
		v := meta.Get(metaSchema)
		if len(v) != 4 {
			return fmt.Errorf("no schema version: %w", ErrCorrupt)
		}
		s.schema = int(binary.BigEndian.Uint32(v))
		if s.schema > SchemaVersion {
			return fmt.Errorf("schema %d, this build knows %d: %w", s.schema, SchemaVersion, ErrVersion)
		}
		// Schema 1 is the first; a later build migrates older files here.
		id := meta.Get(metaID)
		if len(id) == 0 {
			return fmt.Errorf("no store id: %w", ErrCorrupt)
		}
		s.id = hex.EncodeToString(id)
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bucket %q missing: %w", name, ErrCorrupt)
			}
		}
		return nil
	})
}

// Close releases the file. It waits for running transactions. Calling it
// again returns the first call's result; every other method then returns
// ErrClosed. The Notify channel is not closed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

// Path returns the path the store was opened with.
func (s *Store) Path() string { return s.path }

// ID returns the random id (32 hex digits) made when the file was created.
// It stays the same for the file's life, so it tells a restored or replaced
// file from the one a process saw before.
func (s *Store) ID() string { return s.id }

// view runs a read transaction, translating bbolt's errors.
func (s *Store) view(fn func(tx *bolt.Tx) error) error { return boltError(s.db.View(fn)) }

// update runs a write transaction, translating bbolt's errors.
func (s *Store) update(fn func(tx *bolt.Tx) error) error { return boltError(s.db.Update(fn)) }

func boltError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	case errors.Is(err, berrors.ErrDatabaseReadOnly):
		return ErrReadOnly
	}
	return err
}
