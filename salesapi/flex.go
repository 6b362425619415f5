package salesapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// flexInt decodes a JSON integer written as a number (6100000, 6.1e6,
// 6100000.0) or a string of one; null is zero. A fractional value or one
// beyond int64 is an error: the API's ids and prices are integers, and a
// rounded id would name the wrong order.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var err error
		if s, err = unquote(b); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*f = 0
			return nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*f = flexInt(n)
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Errorf("not an integer: %.40q", s)
	}
	if v != math.Trunc(v) || v >= math.MaxInt64 || v < math.MinInt64 {
		return fmt.Errorf("not an int64 integer: %.40q", s)
	}
	*f = flexInt(v)
	return nil
}

// flexString decodes a JSON string; null is empty, and a number or boolean is
// kept as its literal text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		s, err := unquote(b)
		if err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		return fmt.Errorf("expected a string, got %c", b[0])
	default:
		*f = flexString(b)
		return nil
	}
}

// flexTime decodes a timestamp in any form ParseTime accepts; null is zero.
type flexTime struct{ time.Time }

func (f *flexTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		f.Time = time.Time{}
		return nil
	}
	s, err := unquote(b)
	if err != nil {
		return fmt.Errorf("time: expected a string")
	}
	t, err := ParseTime(s)
	if err != nil {
		return err
	}
	f.Time = t
	return nil
}

// unquote returns the text of the JSON string b. A string without escapes
// (nearly every string the API sends) is taken as it is, sparing a second
// pass of encoding/json over bytes the decoder has just validated; anything
// else goes through encoding/json.
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		in, plain, ascii := b[1:len(b)-1], true, true
		for _, c := range in {
			if c == '"' || c == '\\' || c < 0x20 {
				plain = false
				break
			}
			if c >= utf8.RuneSelf {
				ascii = false
			}
		}
		if plain && (ascii || utf8.Valid(in)) {
			return string(in), nil
		}
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}
