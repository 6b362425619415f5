package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PII says how much of the site visitor's personal data (name, e-mail,
// phone) leaves the bridge in events and in the orders KV bucket.
type PII int

const (
	PIIFull PII = iota // as the API gave it
	PIIMask            // masked: "И*** П***", "i***@mail.ru", "+7 (***) ***-**-67"
	PIIOmit            // the three fields are removed
)

// ParsePII reads "full", "mask" or "omit".
func ParsePII(s string) (PII, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "full", "":
		return PIIFull, nil
	case "mask":
		return PIIMask, nil
	case "omit":
		return PIIOmit, nil
	}
	return 0, fmt.Errorf("pii %q: want full, mask or omit", s)
}

func (p PII) String() string {
	switch p {
	case PIIMask:
		return "mask"
	case PIIOmit:
		return "omit"
	}
	return "full"
}

// piiFields are the order's personal-data keys and how each is masked.
var piiFields = map[string]func(string) string{
	"clientName":  maskName,
	"clientEmail": maskEmail,
	"clientPhone": maskPhone,
}

// isPII reports whether a diff field path names personal data.
func isPII(path string) bool {
	_, ok := piiFields[path]
	return ok
}

// order applies p to an order's raw JSON. Under PIIFull it returns raw
// unchanged, so the order reaches consumers exactly as received.
func (p PII) order(raw json.RawMessage) (json.RawMessage, error) {
	if p == PIIFull {
		return raw, nil
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("pii: decode order: %w", err)
	}
	for key := range piiFields {
		v, ok := m[key]
		if !ok {
			continue
		}
		if p == PIIOmit {
			delete(m, key)
			continue
		}
		m[key] = p.value(key, v)
	}
	return json.Marshal(m)
}

// value applies p to one personal-data value (a JSON string or null).
func (p PII) value(key string, v json.RawMessage) json.RawMessage {
	if p == PIIFull {
		return v
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil || s == "" {
		return v // null, or not a string: nothing personal to show
	}
	out, _ := json.Marshal(piiFields[key](s))
	return out
}

// maskName keeps the first letter of each word: "Иванов Иван" → "И*** И***".
func maskName(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		words[i] = string(r) + "***"
	}
	return strings.Join(words, " ")
}

// maskEmail keeps the first letter of the local part and the domain.
func maskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(s)
	return string(r) + "***" + s[at:]
}

// maskPhone keeps the layout, the leading country code and the last two
// digits: "+7 (916) 123-45-67" → "+7 (***) ***-**-67".
func maskPhone(s string) string {
	total := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			total++
		}
	}
	var b strings.Builder
	seen := 0
	lead := strings.HasPrefix(strings.TrimSpace(s), "+")
	for _, r := range s {
		if !unicode.IsDigit(r) {
			b.WriteRune(r)
			continue
		}
		seen++
		if (lead && seen == 1) || seen > total-2 {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
	}
	return b.String()
}
