package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validator checks documents against the contract's schemas. It is safe for
// concurrent use.
type Validator struct {
	schemas map[string]*jsonschema.Schema // by name
}

// NewValidator compiles every embedded schema. References between schemas
// (urn:salesbridge:v1:…) are resolved from the embedded files only; any
// other reference is an error, never a network call. Formats (date-time)
// are asserted, not just annotated.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	names := Names()
	for _, name := range names {
		b, err := fs.ReadFile(files, name+".json")
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("parse schema %s: %w", name, err)
		}
		if id, _ := doc.(map[string]any)["$id"].(string); id != ID(name) {
			return nil, fmt.Errorf("schema %s: $id is %q, want %q", name, id, ID(name))
		}
		if err := c.AddResource(ID(name), doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", name, err)
		}
	}
	v := &Validator{schemas: make(map[string]*jsonschema.Schema, len(names))}
	for _, name := range names {
		s, err := c.Compile(ID(name))
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
		v.schemas[name] = s
	}
	return v, nil
}

// noLoader refuses to load anything: every schema the contract needs has
// been added from the embedded files (the draft's meta-schemas are built
// into the library).
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%w: %s is not part of the contract", ErrUnknownSchema, url)
}

// Validate checks doc against the schema of the given name. The name may
// also be written as a file name ("order.json") or an id
// ("urn:salesbridge:v1:order"). An unknown name yields an error wrapping
// ErrUnknownSchema; a document that does not match, a *ValidationError
// (wrapping ErrInvalid).
func (v *Validator) Validate(name string, doc []byte) error {
	name = schemaName(name)
	if _, ok := v.schemas[name]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownSchema, name)
	}
	inst, err := decode(name, doc)
	if err != nil {
		return err
	}
	return v.validate(name, inst)
}

func (v *Validator) validate(name string, inst any) error {
	err := v.schemas[name].Validate(inst)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		return newValidationError(name, verr)
	}
	return fmt.Errorf("validate %s: %w", name, err)
}

// ValidateOrder checks an order as the events, replies and the orders KV
// bucket carry it.
func (v *Validator) ValidateOrder(doc []byte) error { return v.Validate("order", doc) }

// ValidateCommand checks a command (the body of <prefix>.cmd.order.patch and
// of the request of <prefix>.api.order.patch).
func (v *Validator) ValidateCommand(doc []byte) error { return v.Validate("command", doc) }

// ValidateAdvisory checks an advisory (<prefix>.advisory.<kind>).
func (v *Validator) ValidateAdvisory(doc []byte) error { return v.Validate("advisory", doc) }

// ValidateEvent checks a CloudEvent the bridge publishes: it reads the
// event's type, validates it against the schema of that type, then checks
// what a schema cannot say:
//   - order events: subject is data.order.id, id starts with
//     "order/<subject>/", data.orderId (when present) is the subject;
//   - command outcomes: subject is data.commandId, and data.order.id (when
//     present) is data.orderId.
//
// A type without a schema yields an error wrapping ErrUnknownType; a document
// that is not an object with a string type is checked against the envelope
// ("cloudevent") to say why.
func (v *Validator) ValidateEvent(doc []byte) error {
	inst, err := decode("cloudevent", doc)
	if err != nil {
		return err
	}
	obj, _ := inst.(map[string]any)
	typ, ok := obj["type"].(string)
	if !ok {
		if err := v.validate("cloudevent", inst); err != nil {
			return err
		}
		return &ValidationError{Schema: "cloudevent", Problems: []Problem{{Path: "/type", Keyword: "type", Message: "want string"}}}
	}
	if !isEventType(typ) {
		return fmt.Errorf("%w: %.64q", ErrUnknownType, typ)
	}
	if err := v.validate(typ, inst); err != nil {
		return err
	}
	if ps := consistency(typ, obj); len(ps) > 0 {
		return &ValidationError{Schema: typ, Problems: ps}
	}
	return nil
}

func isEventType(t string) bool {
	for _, e := range EventTypes() {
		if e == t {
			return true
		}
	}
	return false
}

// consistency runs the cross-field checks of ValidateEvent on an event that
// already matches its schema.
func consistency(typ string, ev map[string]any) []Problem {
	var ps []Problem
	add := func(path, msg string) { ps = append(ps, Problem{Path: path, Keyword: "consistency", Message: msg}) }
	subject, _ := ev["subject"].(string)
	data, _ := ev["data"].(map[string]any)
	order, _ := data["order"].(map[string]any)
	if strings.HasPrefix(typ, "order.") {
		if !sameInt(order["id"], subject) {
			add("/data/order/id", "differs from subject")
		}
		if id, _ := ev["id"].(string); !strings.HasPrefix(id, "order/"+subject+"/") {
			add("/id", "does not name the subject's order")
		}
		if n, ok := data["orderId"]; ok && !sameInt(n, subject) {
			add("/data/orderId", "differs from subject")
		}
		return ps
	}
	if c, _ := data["commandId"].(string); c != subject {
		add("/data/commandId", "differs from subject")
	}
	if n, ok := data["orderId"].(json.Number); ok && order != nil && !sameInt(order["id"], string(n)) {
		add("/data/order/id", "differs from data.orderId")
	}
	return ps
}

// sameInt reports whether the JSON number n is the integer written in
// decimal as s (so 4.81516e5 is "481516").
func sameInt(n any, s string) bool {
	num, ok := n.(json.Number)
	if !ok {
		return false
	}
	r, ok := new(big.Rat).SetString(string(num))
	if !ok || !r.IsInt() {
		return false
	}
	return r.Num().String() == s
}

// decode reads one JSON value as the validator wants it (numbers as
// json.Number, nothing after the value).
func decode(name string, doc []byte) (any, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err == nil {
		return inst, nil
	}
	msg := "not a single JSON value"
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		msg = fmt.Sprintf("not JSON (syntax error at byte %d)", syn.Offset)
	}
	return nil, &ValidationError{Schema: name, Problems: []Problem{{Keyword: "json", Message: msg}}}
}
