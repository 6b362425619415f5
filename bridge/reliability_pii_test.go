package bridge_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// TestReliabilityPII runs the bridge with --pii mask and --pii omit end to
// end: a visitor's name, e-mail and phone, and a change of the name, pass
// through events, the orders KV bucket, a command's outcome (published and
// as the micro endpoint's reply) and api.order.get. Nowhere does the
// personal data appear; masked, each field keeps its mask; omitted, the
// fields are gone, and a change of them alone makes no event.
func TestReliabilityPII(t *testing.T) {
	spec := salesapitest.OrderSpec{ClientName: "Жуковский Дмитрий Николаевич", ClientEmail: "zhukovskiy1995@bk.ru", ClientPhone: "+7 (982) 845-57-23"}
	const newName = "Алексеева Екатерина Петровна"
	personal := []string{"Жуковский", "Дмитрий", "Николаевич", "zhukovskiy1995", "(982)", "845-57", "Алексеева", "Екатерина"}
	masked := map[string]string{"clientName": "Ж*** Д*** Н***", "clientEmail": "z***@bk.ru", "clientPhone": "+7 (***) ***-**-23"}

	for _, mode := range []bridge.PII{bridge.PIIMask, bridge.PIIOmit} {
		t.Run(mode.String(), func(t *testing.T) {
			h := newHarness(t, func(h *harness, _ *salesapitest.Config) { h.cfg.PII = mode })
			a := h.sb.CreateOrder(spec).ID
			b := h.sb.CreateOrder(spec).ID
			h.start()
			h.settle()
			must(t, h.sb.SetStatus(a, salesapi.StatusProgress))
			must(t, h.sb.SetField(b, "clientName", newName)) // personal data only
			h.settle()
			h.sendCommand(patchJSON("pii-1", a, `"finalPrice":7100000`), "")
			outcome := h.outcome("pii-1")
			reply := h.request(h.names.APIPatchSubject(), patchJSON("pii-2", a, `"comment":"договор"`))
			get := h.request(h.names.APIGetSubject(), fmt.Appendf(nil, `{"id":%d}`, a))
			h.settle()

			texts := map[string][]byte{"outcome": outcome.Raw, "patch reply": reply.Data, "get reply": get.Data}
			evs := h.relEvents()
			for _, e := range evs {
				texts["event "+e.CE.ID] = e.Raw
			}
			for id, v := range h.kvValues() {
				texts["kv "+id] = v
			}
			for where, text := range texts {
				for _, p := range personal {
					if strings.Contains(string(text), p) {
						t.Errorf("%s shows %q", where, p)
					}
				}
			}

			// The order in each place: masked fields, or none.
			orders := map[string]json.RawMessage{"kv": texts[fmt.Sprintf("kv %d", a)]}
			var o struct {
				Data struct {
					Order json.RawMessage `json:"order"`
				} `json:"data"`
			}
			must(t, json.Unmarshal(outcome.Raw, &o))
			orders["outcome"] = o.Data.Order
			var r struct {
				Order json.RawMessage `json:"order"`
			}
			must(t, json.Unmarshal(reply.Data, &r))
			orders["patch reply"] = r.Order
			must(t, json.Unmarshal(get.Data, &r))
			orders["get reply"] = r.Order
			for where, raw := range orders {
				var fields map[string]any
				if err := json.Unmarshal(raw, &fields); err != nil {
					t.Fatalf("%s: %v: %s", where, err, raw)
				}
				for key, want := range masked {
					got, present := fields[key]
					switch {
					case mode == bridge.PIIOmit && present:
						t.Errorf("%s: %s present under omit: %v", where, key, got)
					case mode == bridge.PIIMask && got != want:
						t.Errorf("%s: %s %v, want %q", where, key, got, want)
					}
				}
			}

			// The name change of b: masked before and after, or no event.
			var updates []event
			for _, e := range evs {
				if e.CE.Type == "order.updated" && orderOf(e) == itoa(b) {
					updates = append(updates, e)
				}
			}
			switch mode {
			case bridge.PIIOmit:
				if len(updates) != 0 {
					t.Errorf("omit: %d order.updated for a change of personal data only", len(updates))
				}
			case bridge.PIIMask:
				if len(updates) != 1 || !strings.Contains(string(updates[0].CE.Data), `"before":"Ж*** Д*** Н***","after":"А*** Е*** П***"`) {
					t.Errorf("mask: updates of the name %d: %s", len(updates), firstData(updates))
				}
			}
			relReport(t, "--pii "+mode.String()+" end to end", len(texts), relTally{}, fmt.Sprintf("%d messages and replies checked, none with personal data", len(texts)))
		})
	}
}

func firstData(evs []event) string {
	if len(evs) == 0 {
		return ""
	}
	return string(evs[0].CE.Data)
}
