package bridge

import "encoding/json"

// Order applies p to an order's JSON as the bridge does for events and the
// orders KV bucket: under PIIMask the visitor's name, e-mail and phone are
// masked, under PIIOmit they are removed, under PIIFull raw is returned
// unchanged. Other fields, unknown ones included, are kept. It is what
// `salesbridge state export --pii` uses.
func (p PII) Order(raw json.RawMessage) (json.RawMessage, error) { return p.order(raw) }
