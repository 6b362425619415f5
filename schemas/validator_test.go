package schemas

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

func newValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := NewValidator()
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	return v
}

// example returns a deep copy of the i-th example of a schema.
func example(t testing.TB, name string, i int) map[string]any {
	t.Helper()
	ex := readSchema(t, name)["examples"].([]any)
	if i >= len(ex) {
		t.Fatalf("%s has %d examples", name, len(ex))
	}
	return ex[i].(map[string]any) // readSchema decodes afresh: a copy
}

// edit changes doc at a JSON pointer: sets the value, or deletes the key when
// v is del.
func edit(t testing.TB, doc map[string]any, ptr string, v any) map[string]any {
	t.Helper()
	toks := strings.Split(ptr, "/")[1:]
	cur := doc
	for _, tok := range toks[:len(toks)-1] {
		next, ok := cur[tok].(map[string]any)
		if !ok {
			t.Fatalf("edit %s: %s is not an object", ptr, tok)
		}
		cur = next
	}
	last := toks[len(toks)-1]
	if v == del {
		delete(cur, last)
	} else {
		cur[last] = v
	}
	return doc
}

type deletion struct{}

var del = deletion{}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExamplesValidate is the main guarantee of the files: every example of
// every schema matches it, and the event examples also pass ValidateEvent.
func TestExamplesValidate(t *testing.T) {
	v := newValidator(t)
	n := 0
	for _, name := range Names() {
		for i, ex := range readSchema(t, name)["examples"].([]any) {
			doc := marshal(t, ex)
			if err := v.Validate(name, doc); err != nil {
				t.Errorf("%s example %d: %v", name, i, err)
			}
			n++
		}
	}
	for _, typ := range EventTypes() {
		for i, ex := range readSchema(t, typ)["examples"].([]any) {
			if err := v.ValidateEvent(marshal(t, ex)); err != nil {
				t.Errorf("%s example %d: ValidateEvent: %v", typ, i, err)
			}
		}
	}
	// The envelope's example is an event of some type, too.
	if err := v.ValidateEvent(marshal(t, example(t, "cloudevent", 0))); err != nil {
		t.Errorf("cloudevent example: ValidateEvent: %v", err)
	}
	t.Logf("%d examples in %d schemas", n, len(Names()))
}

func TestValidDocuments(t *testing.T) {
	v := newValidator(t)
	cyr1000 := strings.Repeat("ж", 1000)
	tests := []struct {
		name, schema, doc string
	}{
		{"comment of 1000 Cyrillic characters", "command", `{"id": 1, "comment": "` + cyr1000 + `"}`},
		{"empty comment", "command", `{"id": 1, "comment": ""}`},
		{"final price 0", "command", `{"id": 1, "finalPrice": 0}`},
		{"final price as integral float", "command", `{"id": 1, "finalPrice": 6.1e6}`},
		{"all fields", "command", `{"commandId": "crm:a.b_c-1", "id": 481516, "status": 5, "finalPrice": 1, "comment": "ок"}`},
		{"command id of 128 characters", "command", `{"commandId": "` + strings.Repeat("a", 128) + `", "id": 1, "status": 1}`},
		{"by file name", "command.json", `{"id": 1, "status": 1}`},
		{"by id", "urn:salesbridge:v1:command", `{"id": 1, "status": 1}`},
		{"minimal order", "order", `{"id": 1, "createdAt": "2024-11-01T12:08:58.807Z"}`},
		{"order with nulls", "order", `{"id": 1, "createdAt": "2024-11-01 12:08:58", "status": null, "clientName": null, "object": null, "flat": {"floor": null}, "statusChanges": null}`},
		{"order with unknown fields", "order", `{"id": 1, "createdAt": "2024-11-01T12:08:58Z", "developer": {"ogrn": "1027700000001"}}`},
		{"status request", "api.status.request", `{}`},
		{"advisory without details", "advisory", `{"kind": "auth_failing", "state": "ended", "at": "2024-11-01T12:08:58.807Z", "message": "token refreshed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := v.Validate(tt.schema, []byte(tt.doc)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInvalidDocuments(t *testing.T) {
	v := newValidator(t)
	cyr1001 := strings.Repeat("ж", 1001)
	ev := func(typ string, i int, ptr string, val any) string {
		return string(marshal(t, edit(t, example(t, typ, i), ptr, val)))
	}
	tests := []struct {
		name, schema, doc     string // schema "event": ValidateEvent
		wantErr               error
		wantPath, wantKeyword string // of one of the problems; checked when set
	}{
		// Commands.
		{"wrong type of id", "command", `{"id": "481516", "status": 1}`, ErrInvalid, "/id", "type"},
		{"missing id", "command", `{"status": 1}`, ErrInvalid, "/id", "required"},
		{"status 9", "command", `{"id": 1, "status": 9}`, ErrInvalid, "/status", "enum"},
		{"status 0 cannot be set", "command", `{"id": 1, "status": 0}`, ErrInvalid, "/status", "enum"},
		{"negative final price", "command", `{"id": 1, "finalPrice": -1}`, ErrInvalid, "/finalPrice", "minimum"},
		{"fractional final price", "command", `{"id": 1, "finalPrice": 10.5}`, ErrInvalid, "/finalPrice", "type"},
		{"comment of 1001 Cyrillic characters", "command", `{"id": 1, "comment": "` + cyr1001 + `"}`, ErrInvalid, "/comment", "maxLength"},
		{"null comment", "command", `{"id": 1, "comment": null}`, ErrInvalid, "/comment", "type"},
		{"unknown command field", "command", `{"id": 1, "status": 1, "priority": "high"}`, ErrInvalid, "/priority", "additionalProperties"},
		{"nothing to change", "command", `{"id": 1, "commandId": "c1"}`, ErrInvalid, "", "anyOf"},
		{"order id 0", "command", `{"id": 0, "status": 1}`, ErrInvalid, "/id", "minimum"},
		{"command id with a space", "command", `{"commandId": "a b", "id": 1, "status": 1}`, ErrInvalid, "/commandId", "pattern"},
		{"command id of 129 characters", "command", `{"commandId": "` + strings.Repeat("a", 129) + `", "id": 1, "status": 1}`, ErrInvalid, "/commandId", "maxLength"},
		{"command id with a leading dot", "command", `{"commandId": ".a", "id": 1, "status": 1}`, ErrInvalid, "/commandId", "pattern"},
		{"command id with two dots in a row", "command", `{"commandId": "a..b", "id": 1, "status": 1}`, ErrInvalid, "/commandId", "pattern"},
		{"command is not an object", "command", `[{"id": 1, "status": 1}]`, ErrInvalid, "", "type"},
		// Orders.
		{"order status 9", "order", `{"id": 1, "createdAt": "2024-11-01T12:08:58.807Z", "status": 9}`, ErrInvalid, "/status", ""},
		{"order without createdAt", "order", `{"id": 1}`, ErrInvalid, "/createdAt", "required"},
		{"order id as string", "order", `{"id": "1", "createdAt": "2024-11-01T12:08:58.807Z"}`, ErrInvalid, "/id", "type"},
		{"order with a history entry without id", "order", `{"id": 1, "createdAt": "2024-11-01T12:08:58.807Z", "statusChanges": [{"status": 0, "createdAt": "2024-11-01T12:08:58.807Z"}]}`, ErrInvalid, "/statusChanges/0/id", "required"},
		// Events.
		{"event order status 9", "event", ev("order.status_changed", 0, "/data/order/status", 9), ErrInvalid, "/data/order/status", ""},
		{"event to 8", "event", ev("order.status_changed", 0, "/data/to", 8), ErrInvalid, "/data/to", "enum"},
		{"toName does not name to", "event", ev("order.status_changed", 0, "/data/toName", "COMPLETE"), ErrInvalid, "/data/toName", "const"},
		{"wrong dataschema", "event", ev("order.created", 0, "/dataschema", "urn:salesbridge:v1:order.snapshot"), ErrInvalid, "/dataschema", "const"},
		{"time not in UTC", "event", ev("order.created", 0, "/time", "2024-11-03T11:41:07.112+03:00"), ErrInvalid, "/time", "pattern"},
		{"time not a date", "event", ev("order.created", 0, "/time", "2024-13-03T08:41:07.112Z"), ErrInvalid, "/time", "format"},
		{"missing observedat", "event", ev("order.snapshot", 0, "/observedat", del), ErrInvalid, "/observedat", "required"},
		{"missing data.order", "event", ev("order.snapshot", 0, "/data/order", del), ErrInvalid, "/data/order", "required"},
		{"extension not lowercase", "event", ev("order.status_changed", 0, "/causedBy", "cmd-42"), ErrInvalid, "/causedBy", "propertyNames"},
		{"bad id scheme", "event", ev("order.status_changed", 0, "/id", "order/481516/status/abc"), ErrInvalid, "/id", "pattern"},
		{"short snapshot hash", "event", ev("order.snapshot", 0, "/id", "order/481516/snapshot/3f9a"), ErrInvalid, "/id", "pattern"},
		{"specversion 0.3", "event", ev("order.created", 0, "/specversion", "0.3"), ErrInvalid, "/specversion", "const"},
		{"subject is not the order", "event", ev("order.price_changed", 0, "/subject", "481517"), ErrInvalid, "/data/order/id", "consistency"},
		{"orderId is not the subject", "event", ev("order.updated", 0, "/data/orderId", 1), ErrInvalid, "/data/orderId", "consistency"},
		{"id names another order", "event", ev("order.created", 0, "/id", "order/1/created"), ErrInvalid, "/id", "consistency"},
		{"previousPrice missing", "event", ev("order.price_changed", 0, "/data/previousPrice", del), ErrInvalid, "/data/previousPrice", "required"},
		{"no changes", "event", ev("order.updated", 0, "/data/changes", []any{}), ErrInvalid, "/data/changes", "minItems"},
		{"succeeded with ok false", "event", ev("command.succeeded", 0, "/data/ok", false), ErrInvalid, "/data/ok", "const"},
		{"failed without error", "event", ev("command.failed", 0, "/data/error", del), ErrInvalid, "/data/error", "required"},
		{"unknown error code", "event", ev("command.failed", 0, "/data/error/code", "timeout"), ErrInvalid, "/data/error/code", "enum"},
		{"result subject is not the command", "event", ev("command.succeeded", 0, "/subject", "cmd-43"), ErrInvalid, "/data/commandId", "consistency"},
		{"unknown type", "event", ev("order.created", 0, "/type", "order.deleted"), ErrUnknownType, "", ""},
		{"missing type", "event", ev("order.created", 0, "/type", del), ErrInvalid, "/type", "required"},
		{"event is a string", "event", `"order.created"`, ErrInvalid, "", "type"},
		// Replies, requests, advisories.
		{"succeeded outcome with error", "command.outcome", `{"commandId": "c", "orderId": 1, "ok": true, "order": {"id": 1, "createdAt": "2024-11-01T12:08:58.807Z"}, "error": {"code": "invalid", "message": "x"}}`, ErrInvalid, "/error", "false"},
		{"get request id 0", "api.order.get.request", `{"id": 0}`, ErrInvalid, "/id", "minimum"},
		{"get request unknown field", "api.order.get.request", `{"id": 1, "fresh": true}`, ErrInvalid, "/fresh", "additionalProperties"},
		{"status reply without budget.free", "api.status.reply", string(marshal(t, edit(t, example(t, "api.status.reply", 0), "/budget/free", del))), ErrInvalid, "/budget/free", "required"},
		{"advisory of unknown kind", "advisory", `{"kind": "disk_full", "state": "started", "at": "2024-11-01T12:08:58.807Z", "message": "m"}`, ErrInvalid, "/kind", "enum"},
		{"advisory state", "advisory", `{"kind": "rate_limited", "state": "begun", "at": "2024-11-01T12:08:58.807Z", "message": "m"}`, ErrInvalid, "/state", "enum"},
		// Not JSON, unknown schema.
		{"not JSON", "command", `{"id": 1,`, ErrInvalid, "", "json"},
		{"two values", "command", `{"id": 1, "status": 1} {}`, ErrInvalid, "", "json"},
		{"empty body", "api.status.request", ``, ErrInvalid, "", "json"},
		{"unknown schema", "order.deleted", `{}`, ErrUnknownSchema, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.schema == "event" {
				err = v.ValidateEvent([]byte(tt.doc))
			} else {
				err = v.Validate(tt.schema, []byte(tt.doc))
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantPath == "" && tt.wantKeyword == "" {
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err %T is not a *ValidationError", err)
			}
			for _, p := range verr.Problems {
				if strings.HasPrefix(p.Path, tt.wantPath) && (tt.wantKeyword == "" || p.Keyword == tt.wantKeyword) {
					return
				}
			}
			t.Errorf("no problem at %q with keyword %q in %+v", tt.wantPath, tt.wantKeyword, verr.Problems)
		})
	}
}

// TestErrorsDoNotQuoteValues: a refused document may carry personal data;
// neither the error string nor the problems may repeat its values.
func TestErrorsDoNotQuoteValues(t *testing.T) {
	v := newValidator(t)
	const secret = "Секретова"
	tests := []struct{ schema, doc string }{
		{"command", `{"id": 1, "comment": "` + strings.Repeat(secret, 200) + `"}`},
		{"command", `{"id": 1, "status": 1, "commandId": "` + secret + `"}`},
		{"command", `{"id": "` + secret + `", "status": 1}`},
		{"order", `{"id": 1, "createdAt": "` + secret + `"}`},
		{"order", `{"id": 1, "createdAt": "2024-11-01T12:08:58.807Z", "clientName": {"name": "` + secret + `"}}`},
		{"advisory", `{"kind": "` + secret + `", "state": "started", "at": "2024-11-01T12:08:58.807Z", "message": "m"}`},
		{"cloudevent", `{"specversion": "1.0", "id": "x", "source": "` + secret + `", "type": "t.t", "subject": "1", "time": "` + secret + `Z", "datacontenttype": "application/json", "dataschema": "` + secret + `", "data": {}}`},
	}
	for _, tt := range tests {
		err := v.Validate(tt.schema, []byte(tt.doc))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s %.60s…: err = %v, want ErrInvalid", tt.schema, tt.doc, err)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Секрет") {
			t.Errorf("error quotes the document: %v", err)
		}
		var verr *ValidationError
		errors.As(err, &verr)
		for _, p := range verr.Problems {
			if strings.Contains(p.Message, "Секрет") {
				t.Errorf("problem quotes the document: %+v", p)
			}
		}
	}
}

func TestValidationErrorText(t *testing.T) {
	v := newValidator(t)
	err := v.ValidateCommand([]byte(`{"id": 0, "status": 9, "finalPrice": -5, "comment": 7}`))
	const want = "invalid command: at /comment: got number, want string; at /finalPrice: minimum: got -5, want 0; at /id: minimum: got 0, want 1 (and 1 more)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	err = v.ValidateCommand([]byte(`{"id": 1}`))
	if want := "invalid command: at /: needs at least one of status, finalPrice, comment"; err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestValidatorIsSafeForConcurrentUse(t *testing.T) {
	v := newValidator(t)
	docs := [][]byte{
		marshal(t, example(t, "order.status_changed", 0)),
		marshal(t, example(t, "command.failed", 0)),
		marshal(t, edit(t, example(t, "order.created", 0), "/data/order/status", 9)),
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				err := v.ValidateEvent(docs[(g+i)%len(docs)])
				if bad := (g+i)%len(docs) == 2; bad != (err != nil) {
					t.Errorf("doc %d: err = %v", (g+i)%len(docs), err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestShortcuts(t *testing.T) {
	v := newValidator(t)
	if err := v.ValidateOrder(marshal(t, example(t, "order", 1))); err != nil {
		t.Error(err)
	}
	if err := v.ValidateCommand(marshal(t, example(t, "command", 0))); err != nil {
		t.Error(err)
	}
	if err := v.ValidateAdvisory(marshal(t, example(t, "advisory", 0))); err != nil {
		t.Error(err)
	}
	if err := v.ValidateAdvisory(marshal(t, example(t, "command", 0))); !errors.Is(err, ErrInvalid) {
		t.Errorf("a command as an advisory: err = %v", err)
	}
}

func BenchmarkNewValidator(b *testing.B) {
	for b.Loop() {
		if _, err := NewValidator(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateEvent(b *testing.B) {
	v, err := NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	doc := marshal(b, example(b, "order.status_changed", 0))
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if err := v.ValidateEvent(doc); err != nil {
			b.Fatal(err)
		}
	}
}
