package salesapitest

import (
	"testing"
	"unicode/utf8"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Any body either is refused or yields a patch the spec allows, and the
// sandbox and the client's own check (salesapi.Patch.Validate) agree on it.
func FuzzDecodePatch(f *testing.F) {
	for _, seed := range []string{`{"status":1}`, `{"finalPrice":6.1e6,"comment":"ок"}`, `{}`, `{"status":"1"}`,
		`{"comment":null,"status":5}`, `[1]`, `{"x":1}`, `{"finalPrice":-0}`, `{"status":1} x`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePatch(body)
		if err != nil {
			return
		}
		if p.status == nil && p.finalPrice == nil && p.comment == nil {
			t.Fatal("accepted an empty patch")
		}
		if p.status != nil && !p.status.Settable() {
			t.Fatalf("accepted status %d", *p.status)
		}
		if p.finalPrice != nil && *p.finalPrice < 0 {
			t.Fatalf("accepted finalPrice %d", *p.finalPrice)
		}
		if p.comment != nil && utf8.RuneCountInString(*p.comment) > salesapi.MaxCommentRunes {
			t.Fatal("accepted a long comment")
		}
		if err := (salesapi.Patch{Status: p.status, FinalPrice: p.finalPrice, Comment: p.comment}).Validate(); err != nil {
			t.Fatalf("the sandbox accepted what the client refuses: %v", err)
		}
	})
}
