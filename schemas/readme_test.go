package schemas

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestREADMECatalog checks the event catalog of the README against the
// schemas: every example there is valid, and every event type has one.
func TestREADMECatalog(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- example: ([a-z._]+) -->\n```json\n(.*?)\n```")
	var seen []string
	for _, m := range re.FindAllSubmatch(readme, -1) {
		name, doc := string(m[1]), m[2]
		seen = append(seen, name)
		if err := v.Validate(name, doc); err != nil {
			t.Errorf("README example of %s: %v", name, err)
		}
		if err := v.ValidateEvent(doc); err != nil {
			t.Errorf("README example of %s as an event: %v", name, err)
		}
	}
	for _, typ := range EventTypes() {
		if !slices.Contains(seen, typ) {
			t.Errorf("the README's event catalog has no example of %s", typ)
		}
	}
}
