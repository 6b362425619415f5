package diff

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Top-level keys with rules of their own.
const (
	keyID            = "id"
	keyStatus        = "status"
	keyFinalPrice    = "finalPrice"
	keyStatusChanges = "statusChanges"
	keyPriceChanges  = "priceChanges"
)

// nullJSON is the value of an absent key.
const nullJSON = "null"

// updated builds the Updated change of prev → cur, if any field changed.
// explained is the status the history explains; lastNewPrice is the price of
// the latest new price entry (nil if none).
func updated(prev, cur *salesapi.Order, prevRev uint64, explained salesapi.Status, lastNewPrice *int64) (Change, bool) {
	pdoc, cdoc := document(prev), document(cur)
	if bytes.Equal(pdoc, cdoc) {
		return Change{}, false
	}
	pm, cm := members(prev, pdoc), members(cur, cdoc)

	var fields []Field
	for _, k := range unionKeys(pm, cm) {
		switch k {
		case keyID, keyStatusChanges, keyPriceChanges, keyStatus, keyFinalPrice: // see below
			continue
		}
		fields = diffValue(fields, k, pm[k], cm[k])
	}
	// status and finalPrice are compared by their typed values, so their
	// Before and After are the typed values too: the status as a number, the
	// price as a number or null.
	if cur.Status != explained {
		fields = append(fields, Field{Path: keyStatus, Before: statusJSON(explained), After: statusJSON(cur.Status)})
	}
	if !samePrice(prev.FinalPrice, cur.FinalPrice) && !(lastNewPrice != nil && samePrice(lastNewPrice, cur.FinalPrice)) {
		fields = append(fields, Field{Path: keyFinalPrice, Before: priceJSON(prev.FinalPrice), After: priceJSON(cur.FinalPrice)})
	}
	if len(fields) == 0 {
		return Change{}, false
	}
	slices.SortStableFunc(fields, func(a, b Field) int { return cmp.Compare(a.Path, b.Path) })
	return Change{ID: updatedID(cur.ID, prevRev, pm, cm), Type: Updated, OrderID: cur.ID, Fields: fields}, true
}

func statusJSON(s salesapi.Status) json.RawMessage {
	return json.RawMessage(strconv.Itoa(int(s)))
}

func priceJSON(p *int64) json.RawMessage {
	if p == nil {
		return json.RawMessage(nullJSON)
	}
	return json.RawMessage(strconv.FormatInt(*p, 10))
}

// samePrice reports whether a and b are both unset or both set to one price.
func samePrice(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// diffValue appends to fields the changes between the JSON values a and b
// (nil: absent, taken as null) at path. Two objects are compared key by key
// with dotted paths; anything else is compared as a whole value, by
// canonical form.
func diffValue(fields []Field, path string, a, b json.RawMessage) []Field {
	if a == nil {
		a = json.RawMessage(nullJSON)
	}
	if b == nil {
		b = json.RawMessage(nullJSON)
	}
	if bytes.Equal(a, b) {
		return fields
	}
	if isObject(a) && isObject(b) {
		var am, bm map[string]json.RawMessage
		if json.Unmarshal(a, &am) == nil && json.Unmarshal(b, &bm) == nil {
			for _, k := range unionKeys(am, bm) {
				fields = diffValue(fields, path+"."+k, am[k], bm[k])
			}
			return fields
		}
	}
	ca, erra := canonical(a)
	cb, errb := canonical(b)
	if erra == nil && errb == nil && bytes.Equal(ca, cb) {
		return fields
	}
	return append(fields, Field{Path: path, Before: compact(a), After: compact(b)})
}

func isObject(v []byte) bool {
	v = bytes.TrimLeft(v, " \t\r\n")
	return len(v) > 0 && v[0] == '{'
}

// unionKeys returns the keys of a and b, sorted, each once.
func unionKeys(a, b map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// compact returns a compacted copy of the JSON value v (null if v is nil).
func compact(v json.RawMessage) json.RawMessage {
	if v == nil {
		return json.RawMessage(nullJSON)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return slices.Clone(v)
	}
	return b.Bytes()
}

// document is o's JSON: Raw, or the typed fields marshalled when Raw is nil.
func document(o *salesapi.Order) []byte {
	if o.Raw != nil {
		return o.Raw
	}
	return marshal(o)
}

func marshal(o *salesapi.Order) []byte {
	b, err := json.Marshal(o)
	if err != nil {
		// Every field of Order marshals; this is unreachable.
		return []byte("{}")
	}
	return b
}

// members decodes doc, o's document, into its top-level members. When doc
// is not a JSON object (a Raw set by hand to something else), it decodes the
// typed fields marshalled instead.
func members(o *salesapi.Order, doc []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err == nil && m != nil {
		return m
	}
	m = nil
	if err := json.Unmarshal(marshal(o), &m); err != nil || m == nil {
		m = map[string]json.RawMessage{}
	}
	return m
}
