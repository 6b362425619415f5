// Package schemas is salesbridge's published contract (v1): a JSON Schema
// (draft 2020-12) for every message the bridge publishes or accepts, and an
// AsyncAPI 3.0 document, asyncapi.yaml, that ties them to NATS subjects.
//
// The files are the contract; the Go code only serves them. They are embedded
// (FS) so that the binary can print them (`salesbridge schemas`), publish them
// to the <prefix>_schemas KV bucket on start, and validate documents in tests
// without touching the network: every schema has the $id
// urn:salesbridge:v1:<name>, the schemas refer to each other only by those
// ids, and NewValidator resolves them from the embedded files alone.
//
// # Files and names
//
// A schema's name is its file name without ".json": "order",
// "order.status_changed", "command", "command.outcome", "advisory",
// "api.order.get.request" … . The name of an event's schema is the event's
// CloudEvents type, and its id is the event's dataschema attribute:
// DataSchema("order.status_changed") == "urn:salesbridge:v1:order.status_changed".
// "cloudevent" is the envelope every event schema builds on with allOf.
//
// # KV keys
//
// In the <prefix>_schemas bucket a file is stored under KVKey(file) =
// "v1." + file name ("v1.order.status_changed.json", "v1.asyncapi.yaml"):
// every character of the file names is valid in a NATS KV key, and the
// version comes first so that a watcher on "v1.>" sees one version of the
// contract and a later v2 can be published beside it.
//
// # Subjects
//
// Channels parses asyncapi.yaml into address patterns such as
// "{prefix}.order.status_changed.{orderId}"; the prefix (flag --prefix,
// default "salesbridge") is always written as the placeholder {prefix}.
// Channel.Pattern and Channel.Match turn them into NATS subjects, so the code
// that publishes and subscribes can be checked against the document.
//
// # Validation
//
// A Validator is compiled once and is safe for concurrent use. Its errors
// wrap ErrInvalid and are *ValidationError values whose messages never
// quote the values of the document: a failing order may carry a visitor's
// name, e-mail or phone, and those must never reach a log line.
//
// # Versioning
//
// Within v1 the contract only grows: optional fields, new event types, new
// advisory kinds, new enum values of outputs. Consumers must ignore what they
// do not know. Removing or renaming a field, making an optional field
// required, changing a type, a subject or an id scheme needs v2 (new $id
// prefix urn:salesbridge:v2:, new KV keys "v2.…").
package schemas
