package schemas

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Version is the version of the contract: the third part of every schema id
// and the first part of every KV key.
const Version = "v1"

// IDPrefix starts the $id of every schema of this version.
const IDPrefix = "urn:salesbridge:" + Version + ":"

// AsyncAPIFile is the name of the AsyncAPI document among the files.
const AsyncAPIFile = "asyncapi.yaml"

// files holds the contract. go:embed needs a package-level variable; it is
// never written.
//
//go:embed *.json asyncapi.yaml
var files embed.FS

// FS returns the contract's files: one <name>.json per schema and
// asyncapi.yaml, all at the root.
func FS() fs.FS { return files }

// Names lists the names of all schemas (file names without ".json"), sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil { // cannot happen with an embed.FS
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// ID returns the $id of the schema with the given name:
// ID("order") == "urn:salesbridge:v1:order".
func ID(name string) string { return IDPrefix + name }

// DataSchema returns the CloudEvents dataschema attribute of events of the
// given type, which is the $id of their schema:
// DataSchema("order.created") == "urn:salesbridge:v1:order.created".
func DataSchema(eventType string) string { return ID(eventType) }

// The CloudEvents types of the contract.
const (
	TypeOrderSnapshot      = "order.snapshot"
	TypeOrderCreated       = "order.created"
	TypeOrderStatusChanged = "order.status_changed"
	TypeOrderPriceChanged  = "order.price_changed"
	TypeOrderUpdated       = "order.updated"
	TypeCommandSucceeded   = "command.succeeded"
	TypeCommandFailed      = "command.failed"
)

// EventTypes lists every CloudEvents type the bridge publishes; each has a
// schema of the same name.
func EventTypes() []string {
	return []string{TypeOrderSnapshot, TypeOrderCreated, TypeOrderStatusChanged, TypeOrderPriceChanged,
		TypeOrderUpdated, TypeCommandSucceeded, TypeCommandFailed}
}

// KVKey returns the key under which the file of the given name is stored in
// the <prefix>_schemas KV bucket: "v1." + the file name, e.g.
// KVKey("order.json") == "v1.order.json". Only the base name is used.
func KVKey(file string) string { return Version + "." + path.Base(file) }

// schemaName maps a schema name, file name or $id to the schema's name.
func schemaName(s string) string {
	s = strings.TrimPrefix(s, IDPrefix)
	return strings.TrimSuffix(s, ".json")
}
