package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/schemas"
	"github.com/salesbridge/salesbridge/state"
)

// visitor is the personal data of one test order.
type visitor struct{ name, email, phone string }

var testVisitors = []visitor{
	{"Смирнова Анна Павловна", "anna.smirnova@mail.ru", "+7 (916) 123-45-67"},
	{"Кузнецов Пётр", "petr.k@yandex.ru", "+7 (903) 765-43-21"},
	{"Орлова Мария", "m.orlova@example.com", "+7 (926) 555-12-34"},
}

// orderJSON builds an order as the API writes it.
func orderJSON(id int64, st salesapi.Status, created time.Time, v visitor) []byte {
	return fmt.Appendf(nil, `{"id":%d,"number":"З-%d","status":%d,"clientName":%q,"clientEmail":%q,"clientPhone":%q,`+
		`"clientComment":"позвоните вечером","comment":null,"price":6500000,"finalPrice":null,"createdAt":%q,`+
		`"object":{"externalId":77,"name":"ЖК Тестовый","address":"г. Москва"},"flat":{"id":9,"id_ods":"9","number":"12","entrance":"1","floor":3},`+
		`"statusChanges":[{"id":%d,"status":0,"createdAt":%q}],"priceChanges":[],"futureField":"kept"}`,
		id, id, int(st), v.name, v.email, v.phone, salesapi.FormatTime(created), id*10, salesapi.FormatTime(created))
}

// writeStateFile makes a state file as a bridge would leave it: three
// orders, a planner cursor, the first sync done, two events waiting, a
// command record.
func writeStateFile(t *testing.T, path string) time.Time {
	t.Helper()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	store, err := state.Open(path, &state.Options{Clock: clock.NewManual(now)})
	must(t, err)
	defer func() { must(t, store.Close()) }()
	statuses := []salesapi.Status{salesapi.StatusNew, salesapi.StatusNew, salesapi.StatusConfirmed}
	var b state.Batch
	for i, v := range testVisitors {
		id := int64(481516 + i)
		created := now.Add(-time.Duration(i+1) * time.Hour)
		b.Orders = append(b.Orders, state.Order{ID: id, Raw: orderJSON(id, statuses[i], created, v), Rev: 1, Status: statuses[i], CreatedAt: created})
	}
	b.Messages = []state.Message{
		{Subject: "salesbridge.order.created.481516", Data: []byte(`{}`)},
		{Subject: "salesbridge.order.created.481517", Data: []byte(`{}`)},
	}
	lastSync := now.Add(-10 * time.Minute)
	b.Cursors = map[string][]byte{
		"plan":    fmt.Appendf(nil, `{"lastSync":%q,"sweeps":4,"split":-1}`, salesapi.FormatTime(lastSync)),
		"initial": []byte(salesapi.FormatTime(now.Add(-time.Hour))),
	}
	b.Commands = []state.Command{{ID: "cmd-1", OrderID: 481516, State: state.CommandDone, Outcome: []byte(`{}`)}}
	must(t, store.Apply(b))
	return lastSync
}

// runStateCmd runs `salesbridge state args…`.
func runStateCmd(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	err := stateCommand(context.Background(), args, &out, &errOut, lookup)
	return out.String(), errOut.String(), err
}

func TestStateInspect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "salesbridge.db")
	lastSync := writeStateFile(t, path)
	env := map[string]string{"SALESBRIDGE_STATE": path}

	out, _, err := runStateCmd(t, env, "inspect")
	must(t, err)
	t.Logf("inspect:\n%s", out)
	for _, want := range []string{path, "orders", "NEW", "CONFIRMED", "initial, plan", salesapi.FormatTime(lastSync), "sync no. 4", "2 waiting", "1 record(s)", "schema"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect does not show %q", want)
		}
	}

	out, _, err = runStateCmd(t, nil, "inspect", "--json", "--state", path)
	must(t, err)
	var in inspection
	must(t, json.Unmarshal([]byte(out), &in))
	if in.Path != path || in.ID == "" || in.SchemaVersion != state.SchemaVersion || in.SizeBytes <= 0 {
		t.Errorf("file: %+v", in)
	}
	if in.Orders.Total != 3 || in.Orders.ByStatus["NEW"] != 2 || in.Orders.ByStatus["CONFIRMED"] != 1 {
		t.Errorf("orders: %+v", in.Orders)
	}
	if in.LastSync == nil || !in.LastSync.Equal(lastSync) || in.Sweeps == nil || *in.Sweeps != 4 || in.InitialSync == nil {
		t.Errorf("sync: last %v, sweeps %v, initial %v", in.LastSync, in.Sweeps, in.InitialSync)
	}
	if in.Outbox.Depth != 2 || in.Outbox.Oldest == nil || in.CommandLedger != 1 || len(in.Cursors) != 2 {
		t.Errorf("outbox %+v, ledger %d, cursors %v", in.Outbox, in.CommandLedger, in.Cursors)
	}
	for _, v := range testVisitors {
		if strings.Contains(out, v.name) || strings.Contains(out, v.email) {
			t.Error("inspect shows personal data")
		}
	}
}

func TestStateExport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "salesbridge.db")
	writeStateFile(t, path)
	env := map[string]string{"SALESBRIDGE_STATE": path}
	v, err := schemas.NewValidator()
	must(t, err)

	tests := []struct {
		name    string
		args    []string
		present func(visitor) []string // must appear
		absent  func(visitor) []string // must not appear
	}{
		{"default masks", nil,
			func(visitor) []string { return []string{`"clientName":"`, "***@", "-67\"", "-21\""} },
			func(v visitor) []string { return []string{v.name, v.email, v.phone} }},
		{"omit", []string{"--pii", "omit"},
			func(visitor) []string { return []string{`"futureField":"kept"`} },
			func(v visitor) []string {
				return []string{v.name, v.email, v.phone, "clientName", "clientEmail", "clientPhone"}
			}},
		{"full", []string{"--pii", "full"},
			func(v visitor) []string { return []string{v.name, v.email, v.phone} },
			func(visitor) []string { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runStateCmd(t, env, append([]string{"export"}, tt.args...)...)
			must(t, err)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != len(testVisitors) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(testVisitors), out)
			}
			for _, l := range lines {
				if err := v.ValidateOrder([]byte(l)); err != nil {
					t.Errorf("exported order breaks the order schema: %v\n%s", err, l)
				}
			}
			for _, vis := range testVisitors {
				for _, s := range tt.present(vis) {
					if !strings.Contains(out, s) {
						t.Errorf("export does not hold %q", s)
					}
				}
				for _, s := range tt.absent(vis) {
					if strings.Contains(out, s) {
						t.Errorf("export holds %q", s)
					}
				}
			}
			if !strings.Contains(errOut, "exported 3 order(s)") {
				t.Errorf("summary %q", errOut)
			}
		})
	}

	// --out writes an owner-only file.
	outFile := filepath.Join(dir, "orders.jsonl")
	_, _, err = runStateCmd(t, env, "export", "--out", outFile)
	must(t, err)
	fi, err := os.Stat(outFile)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
	}
	f, err := os.Open(outFile)
	must(t, err)
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		var o salesapi.Order
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil || o.ID == 0 {
			t.Errorf("line %d: %v", n+1, err)
		}
	}
	if n != 3 {
		t.Errorf("%d orders in the file, want 3", n)
	}
}

func TestStateErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "salesbridge.db")
	writeStateFile(t, path)
	held, err := state.Open(path, nil)
	must(t, err)
	defer held.Close()

	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"held by a bridge", []string{"inspect", "--state", path}, 1, "in use by a running salesbridge; stop it or copy the file"},
		{"held, export", []string{"export", "--state", path}, 1, "in use by a running salesbridge"},
		{"missing file", []string{"inspect", "--state", filepath.Join(dir, "nope.db")}, 1, "does not exist"},
		{"bad pii", []string{"export", "--pii", "some", "--state", path}, 2, "pii"},
		{"no subcommand", nil, 2, "inspect or export"},
		{"unknown subcommand", []string{"vacuum"}, 2, "unknown command"},
		{"stray argument", []string{"inspect", "extra"}, 2, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runStateCmd(t, nil, tt.args...)
			if err == nil || exitCode(err) != tt.code {
				t.Fatalf("err %v (exit %d), want exit %d", err, exitCode(err), tt.code)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
		})
	}
}
