package salesapi

import (
	"encoding/json"
	"testing"
)

// FuzzUnquote: for any JSON string, unquote (which takes plain strings as
// they are) gives exactly what encoding/json gives; for anything else it
// fails as encoding/json does.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{
		`""`, `"Иванов Иван"`, `"a\"b"`, `"tab\there"`, `"\u0418\u0432"`, `"\ud83d\ude00"`,
		"\"\xff\xfe\"", "\"raw\x01control\"", `"unterminated`, `"a"b"`, `12`, `null`, `"/\/"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want string
		wantErr := json.Unmarshal(b, &want)
		if wantErr == nil && (len(b) == 0 || b[0] != '"') {
			return // a JSON value, not a string: callers never pass one
		}
		got, err := unquote(b)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("unquote(%q): error %v, encoding/json: %v", b, err, wantErr)
		}
		if err == nil && got != want {
			t.Fatalf("unquote(%q) = %q, encoding/json: %q", b, got, want)
		}
	})
}
