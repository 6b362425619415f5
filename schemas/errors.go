package schemas

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var (
	// ErrInvalid is wrapped by every error about a document that does not
	// match its schema (or is not JSON); such errors are *ValidationError.
	ErrInvalid = errors.New("document does not match its schema")
	// ErrUnknownSchema is wrapped when a schema name is not in the contract.
	ErrUnknownSchema = errors.New("unknown schema")
	// ErrUnknownType is wrapped when an event's type has no schema.
	ErrUnknownType = errors.New("unknown event type")
)

// ValidationError tells why a document does not match its schema. Its
// messages name places and rules, never the document's values.
type ValidationError struct {
	Schema   string    // the schema's name, e.g. "command" or "order.status_changed"
	Problems []Problem // at least one, sorted by Path
}

// Problem is one reason a document was refused.
type Problem struct {
	// Path is the JSON pointer of the value at fault ("" for the whole
	// document); for a missing property, where it should be ("/id").
	Path string
	// Keyword is the schema keyword that refused it ("required", "type",
	// "maxLength" …), "json" when the document is not JSON, "consistency"
	// for the cross-field checks of ValidateEvent.
	Keyword string
	// Message says what is wrong without quoting the value.
	Message string
}

// maxShown is how many problems Error writes out.
const maxShown = 3

// Error writes the schema name and the first few problems.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid %s:", e.Schema)
	for i, p := range e.Problems {
		if i == maxShown {
			fmt.Fprintf(&b, " (and %d more)", len(e.Problems)-maxShown)
			break
		}
		if i > 0 {
			b.WriteByte(';')
		}
		at := p.Path
		if at == "" {
			at = "/"
		}
		fmt.Fprintf(&b, " at %s: %s", at, p.Message)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// newValidationError turns the verdict of the jsonschema library into a
// ValidationError.
func newValidationError(name string, verr *jsonschema.ValidationError) *ValidationError {
	p := message.NewPrinter(language.English)
	var out []Problem
	collect(verr, p, &out)
	if len(out) == 0 {
		out = append(out, Problem{Path: pointer(verr.InstanceLocation), Keyword: "schema", Message: "does not match"})
	}
	return &ValidationError{Schema: name, Problems: dedupe(out)}
}

// collect appends the leaves of the verdict tree, summarising an anyOf or
// oneOf whose alternatives each only miss a property ("needs one of …").
func collect(e *jsonschema.ValidationError, p *message.Printer, out *[]Problem) {
	switch k := e.ErrorKind.(type) {
	case *kind.PropertyNames: // the cause would name the key's rule, not the key
		*out = append(*out, Problem{Path: join(pointer(e.InstanceLocation), k.Property), Keyword: "propertyNames", Message: "property name not allowed"})
		return
	case *kind.AnyOf, *kind.OneOf:
		if missing, ok := onlyMissing(e.Causes); ok {
			*out = append(*out, Problem{
				Path:    pointer(e.InstanceLocation),
				Keyword: strings.Join(e.ErrorKind.KeywordPath(), "/"),
				Message: "needs at least one of " + strings.Join(missing, ", "),
			})
			return
		}
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, p, out)
		}
		return
	}
	at := pointer(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, Problem{Path: join(at, m), Keyword: "required", Message: "missing"})
		}
	case *kind.AdditionalProperties:
		for _, m := range k.Properties {
			*out = append(*out, Problem{Path: join(at, m), Keyword: "additionalProperties", Message: "unknown property"})
		}
	case *kind.FalseSchema:
		*out = append(*out, Problem{Path: at, Keyword: "false", Message: "not allowed here"})
	default:
		*out = append(*out, Problem{Path: at, Keyword: strings.Join(e.ErrorKind.KeywordPath(), "/"), Message: describe(e.ErrorKind, p)})
	}
}

// onlyMissing reports whether every alternative failed only for missing
// properties, and which.
func onlyMissing(causes []*jsonschema.ValidationError) ([]string, bool) {
	var missing []string
	for _, c := range causes {
		for len(c.Causes) == 1 { // an alternative's own wrapper
			c = c.Causes[0]
		}
		r, ok := c.ErrorKind.(*kind.Required)
		if !ok || len(c.Causes) > 0 {
			return nil, false
		}
		missing = append(missing, r.Missing...)
	}
	return missing, len(missing) > 0
}

// describe words a failed keyword without the value that failed it. The
// library's own wording is used only for kinds that print nothing of the
// document but numbers, counts and the schema's own values.
func describe(k jsonschema.ErrorKind, p *message.Printer) string {
	switch k := k.(type) {
	case *kind.Type, *kind.Enum, *kind.Const,
		*kind.MinLength, *kind.MaxLength, *kind.Minimum, *kind.Maximum,
		*kind.ExclusiveMinimum, *kind.ExclusiveMaximum, *kind.MultipleOf,
		*kind.MinItems, *kind.MaxItems, *kind.MinProperties, *kind.MaxProperties, *kind.UniqueItems:
		return k.LocalizedString(p)
	case *kind.Pattern:
		return fmt.Sprintf("does not match pattern %s", k.Want)
	case *kind.Format:
		return fmt.Sprintf("is not a valid %s", k.Want)
	default:
		return "fails " + strings.Join(k.KeywordPath(), "/")
	}
}

// pointer writes a JSON pointer (RFC 6901).
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escape(t))
	}
	return b.String()
}

func join(ptr, token string) string { return ptr + "/" + escape(token) }

func escape(t string) string {
	return strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
}

// dedupe sorts problems by path (stable, so the schema's order stays within
// a path) and drops repeats.
func dedupe(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Path < ps[j].Path })
	out := ps[:0]
	seen := map[Problem]bool{}
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
