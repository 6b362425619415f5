package diff

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// referenceCanonical is the definition of the canonical form: decode with
// UseNumber, marshal again.
func referenceCanonical(v []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the value")
	}
	return json.Marshal(x)
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"b":1,"a":[2,{"d":null,"c":"x"}]}`, `{"a":[2,{"c":"x","d":null}],"b":1}`},
		{" { \"a\" : 1 , \"b\" :\t[ ] }\n", `{"a":1,"b":[]}`},
		{`6100000.0`, `6100000.0`},
		{`[1E5,-0,0.10]`, `[1E5,-0,0.10]`},
		{`"\u0041\/"`, `"A/"`},
		{`"<a&b>"`, `"\u003ca\u0026b\u003e"`},
		{`"\u2028\b\f\u0001"`, `"\u2028\b\f\u0001"`},
		{`"Иван"`, `"Иван"`},
		{`"\u0418"`, `"И"`},
		{"\"\xff\"", "\"\uFFFD\""}, // invalid UTF-8 decodes to U+FFFD, written as is
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`{"<":1}`, `{"\u003c":1}`},
		{`true`, `true`},
		{` null `, `null`},
	}
	for _, tt := range tests {
		got, err := canonical([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("canonical(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
		ref, err := referenceCanonical([]byte(tt.in))
		if err != nil || !bytes.Equal(ref, got) {
			t.Errorf("canonical(%q) = %s, definition says %s (%v)", tt.in, got, ref, err)
		}
	}
	for _, in := range []string{``, ` `, `{`, `[1,]`, `{"a":1} {}`, `1 2`, `"a`, `nul`, `01`, "\"a\x01\""} {
		if got, err := canonical([]byte(in)); err == nil {
			t.Errorf("canonical(%q) = %s, want an error", in, got)
		}
	}
}

// FuzzCanonical checks that canonical agrees with its definition on any
// input, valid or not.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[2,{"d":null,"c":"x"}]}`, `"<\u2028>"`, `6.1e6`, `[{"a":"\ud800"}]`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ref, rerr := referenceCanonical(in)
		got, err := canonical(in)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("canonical(%q): error %v, definition: error %v", in, err, rerr)
		}
		if err == nil && !bytes.Equal(got, ref) {
			t.Fatalf("canonical(%q) = %s, definition says %s", in, got, ref)
		}
	})
}
