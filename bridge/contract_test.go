package bridge

import (
	"testing"

	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/schemas"
)

// TestSubjectsMatchAsyncAPI cross-checks the AsyncAPI document with the
// subjects the code really uses: every subject the bridge publishes to or
// listens on matches exactly one documented channel, and every documented
// channel is used.
func TestSubjectsMatchAsyncAPI(t *testing.T) {
	channels, err := schemas.Channels()
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{DefaultPrefix, "acme.crm"} {
		n := NamesFor(prefix)
		ev := events{prefix: prefix}
		var used []string
		for _, typ := range diff.Types() {
			used = append(used, ev.eventSubject(typ, 481516))
		}
		used = append(used, n.CommandPatchSubject(), n.CommandResultSubject("cmd-42"),
			n.APIPatchSubject(), n.APIGetSubject(), n.APIStatusSubject())
		for _, k := range AdvisoryKinds() {
			used = append(used, n.AdvisorySubject(k))
		}
		matched := map[string]bool{}
		for _, s := range used {
			var hits []string
			for _, c := range channels {
				if _, ok := c.Match(prefix, s); ok {
					hits = append(hits, c.Name)
					matched[c.Name] = true
				}
			}
			if len(hits) != 1 {
				t.Errorf("prefix %q: subject %s matches channels %v, want exactly one", prefix, s, hits)
			}
		}
		for _, c := range channels {
			if !matched[c.Name] {
				t.Errorf("prefix %q: channel %s (%s) is documented but the bridge never uses it", prefix, c.Name, c.Address)
			}
		}
	}
}
