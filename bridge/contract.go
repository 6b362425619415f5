package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/salesbridge/salesbridge/schemas"
)

// publishSchemas puts the contract of this version (every JSON Schema and
// the AsyncAPI document) into the schemas bucket, so a consumer can fetch
// the exact contract of the running bridge. Unchanged files are left alone.
func publishSchemas(ctx context.Context, js jetstream.JetStream, bucket string) error {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return fmt.Errorf("schemas bucket: %w", err)
	}
	files := schemas.FS()
	names, err := fs.Glob(files, "*")
	if err != nil {
		return err
	}
	for _, name := range names {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		key := schemas.KVKey(name)
		cur, err := kv.Get(ctx, key)
		if err == nil && bytes.Equal(cur.Value(), data) {
			continue
		}
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("schema %s: %w", key, err)
		}
		if _, err := kv.Put(ctx, key, data); err != nil {
			return fmt.Errorf("schema %s: %w", key, err)
		}
	}
	return nil
}
