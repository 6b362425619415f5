package diff

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"unicode/utf8"
)

// canonical returns the canonical form of one JSON value: the bytes
// json.Marshal writes for the value decoded with UseNumber. Object keys are
// sorted and whitespace and string escapes are normalised, while numbers
// keep their literal (6100000 and 6100000.0 stay different). Order ids hash
// this form, so it must never change; canonical_test.go checks it against
// the definition.
func canonical(v []byte) ([]byte, error) {
	return appendCanonical(make([]byte, 0, len(v)), v)
}

// appendCanonical appends the canonical form of the JSON value v to dst. It
// builds the same bytes as decoding into interfaces and marshalling again,
// with far fewer allocations: numbers and literals are copied, strings that
// json.Marshal would write unchanged are copied, and only objects and arrays
// are taken apart.
func appendCanonical(dst, v []byte) ([]byte, error) {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return dst, errors.New("empty JSON value")
	}
	switch v[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return dst, err
		}
		return appendMembers(dst, m)
	case '[':
		var a []json.RawMessage
		if err := json.Unmarshal(v, &a); err != nil {
			return dst, err
		}
		dst = append(dst, '[')
		for i, e := range a {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendCanonical(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case '"':
		if lit := bytes.TrimRight(v, " \t\r\n"); len(lit) >= 2 && lit[len(lit)-1] == '"' &&
			bytes.IndexByte(lit[1:len(lit)-1], '\\') < 0 && plain(string(lit[1:len(lit)-1])) {
			return append(dst, lit...), nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return dst, err
		}
		return appendString(dst, s), nil
	default: // a number, true, false or null: json.Marshal writes the literal
		if !json.Valid(v) {
			return dst, errors.New("invalid JSON value")
		}
		return append(dst, bytes.TrimRight(v, " \t\r\n")...), nil
	}
}

// appendMembers appends the canonical form of an object given by its
// members.
func appendMembers(dst []byte, m map[string]json.RawMessage) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendCanonical(dst, m[k]); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendString appends s as json.Marshal writes it: quoted, with
// HTML-sensitive characters, control characters, U+2028, U+2029 escaped and
// invalid UTF-8 replaced. A string none of that applies to is copied as is.
func appendString(dst []byte, s string) []byte {
	if plain(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, err := json.Marshal(s)
	if err != nil {
		// Marshalling a string cannot fail.
		return append(dst, `""`...)
	}
	return append(dst, b...)
}

// plain reports whether json.Marshal writes s with no escape.
func plain(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}
