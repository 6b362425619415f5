package bridge

// Commands: how a message on NATS becomes at most one PATCH, and how every
// command gets exactly one outcome.
//
// A command arrives on <prefix>.cmd.order.patch (kept by the commands stream
// until the bridge acknowledges it) or as a request to the micro endpoint
// <prefix>.api.order.patch. Its id is the body's commandId, else the
// Nats-Msg-Id header, else "sha256:" and the first 32 hex digits of the
// SHA-256 of the command subject, a NUL byte and the body (the same for
// both ways in, so one body sent both ways is one command).
//
// The command ledger in the state file makes "at most once" hold across
// crashes. Before the PATCH the bridge records the id as started; the
// outcome is recorded as done in the same transaction as the outcome
// message (outbox) and the order's new snapshot with its change events; the
// message is acknowledged only after that commit. A command whose id is
// done is not executed again: its recorded outcome is published again. A
// command whose id is started was interrupted between the PATCH and the
// commit (a crash, a timeout, a dropped answer), so nobody knows whether
// the PATCH took effect. The bridge then sends the PATCH again: on this API
// a PATCH is idempotent (setting the current status again is a no-op, the
// status machine has no cycle so a status can never be reached twice, an
// equal finalPrice or comment changes nothing), so a repeat changes nothing
// that the first attempt changed. Only a change someone else made to the
// same field in between could be overwritten, exactly as by any command
// that waited in the queue that long. If the repeat is refused (e.g. the
// office moved the order on in between), the outcome says that an earlier
// attempt may have been applied.
//
// Transient failures (429, 5xx, timeouts, a malformed answer, the token
// endpoint failing) are retried: the API client retries each call within
// the shared budget, where a command goes before any poll; when it gives
// up, a queued command is handed back to JetStream with a delay (the
// consumer has MaxAckPending 1, so no later command overtakes it) and a
// synchronous one is retried in place. A command fails with "unavailable"
// when its deadline (Config.CommandDeadline from when the bridge first took
// it) passes. The deadline runs from the first take, not from publication,
// so commands sent while the bridge is down run when it is back.
//
// Command ids are used in subjects (<prefix>.cmd.result.<commandId>), so
// they are 1-128 characters of A-Z a-z 0-9 . _ : - (the contract's rule).
// A dot separates subject tokens, so an id must not start or end with a
// dot or hold two in a row (an empty token is not a valid subject); an id
// with dots spans several tokens, which <prefix>.cmd.result.> still
// matches.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// OrderPatcher is the part of the API client the commander uses.
type OrderPatcher interface {
	PatchOrder(ctx context.Context, id int64, p salesapi.Patch) (salesapi.Order, error)
}

// API is what the bridge needs of the API client: list calls for the
// poller, PATCH calls for the commander. *salesapi.Client implements it.
type API interface {
	OrderLister
	OrderPatcher
}

// Limits of a command.
const (
	MaxCommandBytes   = 64 << 10 // a command body larger than this is refused unread, bytes
	MaxCommandIDLen   = 128      // characters of a command id
	maxJSONSafeInt    = 1<<53 - 1
	maxOutcomeMessage = 300 // characters of the API's message quoted in an outcome
)

// Outcome error codes (the contract's error.code).
const (
	CodeInvalid     = "invalid"     // the command breaks the contract; never sent to the API
	CodeNotFound    = "not_found"   // the API does not know the order (404)
	CodeForbidden   = "forbidden"   // the account may not change it (401/403)
	CodeRejected    = "rejected"    // the API refused the change (400, other 4xx)
	CodeUnavailable = "unavailable" // the API kept failing until the command's deadline
)

// Event types of command outcomes.
const (
	typeSucceeded = "command.succeeded"
	typeFailed    = "command.failed"
)

// CommandPatchSubject is where patch commands are published.
func (n Names) CommandPatchSubject() string { return n.Prefix + ".cmd.order.patch" }

// CommandResultSubject is where the outcome of command id is published.
func (n Names) CommandResultSubject(id string) string { return n.Prefix + ".cmd.result." + id }

// APIPatchSubject, APIGetSubject and APIStatusSubject are the micro
// endpoints.
func (n Names) APIPatchSubject() string  { return n.Prefix + ".api.order.patch" }
func (n Names) APIGetSubject() string    { return n.Prefix + ".api.order.get" }
func (n Names) APIStatusSubject() string { return n.Prefix + ".api.status" }

// CommandConsumer is the durable name of the bridge's consumer on the
// commands stream.
const CommandConsumer = "salesbridge"

// CheckCommandID reports why id cannot be a command id, or nil.
func CheckCommandID(id string) error {
	if id == "" {
		return errors.New("command id is empty")
	}
	if len(id) > MaxCommandIDLen {
		return fmt.Errorf("command id has %d characters, at most %d allowed", len(id), MaxCommandIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("command id has a character other than A-Z a-z 0-9 . _ : - at position %d", i+1)
		}
	}
	if id[0] == '.' || id[len(id)-1] == '.' || strings.Contains(id, "..") {
		return errors.New("command id may not start or end with '.' or hold '..' (a dot separates subject tokens)")
	}
	return nil
}

// hashCommandID is the id of a command that names none: "sha256:" and 32
// hex digits of the SHA-256 of subject, NUL, body.
func hashCommandID(subject string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(body)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// patchCommand is a parsed command.
type patchCommand struct {
	ID      string // the command id (always set, even for an invalid command)
	OrderID int64  // 0 when the command names no usable order
	Patch   salesapi.Patch
}

// outcomeError is the error of a failed outcome.
type outcomeError struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
}

// cmdOutcome is the data of command.succeeded / command.failed and the reply
// of <prefix>.api.order.patch.
type cmdOutcome struct {
	CommandID string          `json:"commandId"`
	OrderID   int64           `json:"orderId,omitempty"`
	OK        bool            `json:"ok"`
	Order     json.RawMessage `json:"order,omitempty"`
	Error     *outcomeError   `json:"error,omitempty"`
}

// code is the outcome's metric label: "ok" or the error code.
func (o *cmdOutcome) code() string {
	if o.OK || o.Error == nil {
		return "ok"
	}
	return o.Error.Code
}

func invalid(field, format string, args ...any) *outcomeError {
	return &outcomeError{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// parseCommand reads a patch command. subject is the command subject (for
// the hash id) and msgID the Nats-Msg-Id header, if any. It never fails to
// give an id; bad is set when the command is invalid, naming the first
// offending field in document order.
func parseCommand(subject, msgID string, body []byte) (cmd patchCommand, bad *outcomeError) {
	cmd.ID = hashCommandID(subject, body)
	if msgID != "" {
		if err := CheckCommandID(msgID); err != nil {
			bad = invalid("commandId", "the Nats-Msg-Id header cannot be a command id: %v", err)
		} else {
			cmd.ID = msgID
		}
	}
	if len(body) > MaxCommandBytes {
		return cmd, invalid("", "the command has %d bytes, at most %d allowed", len(body), MaxCommandBytes)
	}
	members, err := objectMembers(body)
	if err != nil {
		return cmd, invalid("", "%v", err)
	}
	// The body's commandId names the command even when something else is
	// wrong, so that the outcome reaches the sender.
	for _, m := range members {
		if m.key == "commandId" {
			var id string
			if json.Unmarshal(m.value, &id) == nil && CheckCommandID(id) == nil {
				cmd.ID = id
				if bad != nil && bad.Field == "commandId" {
					bad = nil // the header does not matter when the body names the command
				}
			}
			break
		}
	}
	if bad != nil {
		return cmd, bad
	}
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if seen[m.key] {
			return cmd, invalid(m.key, "field %q appears twice", m.key)
		}
		seen[m.key] = true
		if bad := cmd.set(m.key, m.value); bad != nil {
			return cmd, bad
		}
	}
	if !seen["id"] {
		return cmd, invalid("id", "id (the order id) is required")
	}
	if err := cmd.Patch.Validate(); err != nil {
		if cmd.Patch.Status == nil && cmd.Patch.FinalPrice == nil && cmd.Patch.Comment == nil {
			return cmd, invalid("", "empty patch: set at least one of status, finalPrice, comment")
		}
		return cmd, invalid("", "%v", err) // cannot happen: set checked every field
	}
	return cmd, nil
}

// set checks and stores one member of the command.
func (cmd *patchCommand) set(key string, raw json.RawMessage) *outcomeError {
	switch key {
	case "commandId":
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return invalid(key, "commandId must be a string")
		}
		if err := CheckCommandID(id); err != nil {
			return invalid(key, "%v", err)
		}
	case "id":
		n, ok := jsonInteger(raw)
		if !ok || n < 1 || n > maxJSONSafeInt {
			return invalid(key, "id must be a positive integer (the order id)")
		}
		cmd.OrderID = n
	case "status":
		n, ok := jsonInteger(raw)
		if !ok {
			return invalid(key, "status must be an integer from 1 to 5")
		}
		st := salesapi.Status(n)
		if !st.Settable() {
			if st.Valid() {
				return invalid(key, "status %d (%s) cannot be set; a command may set 1 PROGRESS, 2 CONFIRMED, 3 COMPLETE, 4 REFUSED or 5 TERMINATED", n, st)
			}
			return invalid(key, "status %d is not a status; a command may set 1 to 5", n)
		}
		cmd.Patch.Status = &st
	case "finalPrice":
		n, ok := jsonInteger(raw)
		switch {
		case !ok && isJSONNumber(raw):
			return invalid(key, "finalPrice must be a whole number of roubles")
		case !ok:
			return invalid(key, "finalPrice must be an integer")
		case n < 0:
			return invalid(key, "finalPrice must not be negative")
		case n > maxJSONSafeInt:
			return invalid(key, "finalPrice is too large")
		}
		cmd.Patch.FinalPrice = &n
	case "comment":
		var c string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &c) != nil {
			return invalid(key, "comment must be a string")
		}
		if n := utf8.RuneCountInString(c); n > salesapi.MaxCommentRunes {
			return invalid(key, "comment has %d characters, at most %d allowed", n, salesapi.MaxCommentRunes)
		}
		cmd.Patch.Comment = &c
	default:
		return invalid(key, "unknown field %q; a command has commandId, id, status, finalPrice, comment", key)
	}
	return nil
}

// member is one key of a JSON object, in document order.
type member struct {
	key   string
	value json.RawMessage
}

// objectMembers reads body as one JSON object and returns its members in
// document order (repeated keys included).
func objectMembers(body []byte) ([]member, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("the command must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return nil, errors.New("the command is not valid JSON")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("the command is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("the command is not valid JSON")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("the command is not valid JSON")
		}
		out = append(out, member{key, v})
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, errors.New("the command is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the command is not valid JSON: data after the object")
	}
	return out, nil
}

// jsonInteger reads a JSON number with an integral value (481516,
// 6.1e6, 6100000.0); strings, fractions and out-of-range numbers are not.
func jsonInteger(raw json.RawMessage) (int64, bool) {
	if !isJSONNumber(raw) {
		return 0, false
	}
	s := string(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxJSONSafeInt {
		return 0, false
	}
	return int64(f), true
}

func isJSONNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// classify turns the error of a PATCH into a final outcome error, or nil
// when the failure is transient and the command should be tried again.
func classify(orderID int64, err error) *outcomeError {
	var ae *salesapi.APIError
	status := 0
	if errors.As(err, &ae) {
		status = ae.StatusCode
	}
	switch {
	case errors.Is(err, salesapi.ErrNotFound):
		return &outcomeError{Code: CodeNotFound, Message: fmt.Sprintf("the API does not know order %d", orderID), HTTPStatus: status}
	case errors.Is(err, salesapi.ErrForbidden), errors.Is(err, salesapi.ErrUnauthorized):
		return &outcomeError{Code: CodeForbidden, Message: fmt.Sprintf("the account may not change order %d", orderID), HTTPStatus: status}
	case errors.Is(err, salesapi.ErrBadRequest), errors.Is(err, salesapi.ErrNotAcceptable):
		msg := "the API refused the change"
		if ae != nil && ae.Message != "" {
			msg += ": " + clip(ae.Message, maxOutcomeMessage)
		}
		return &outcomeError{Code: CodeRejected, Message: msg, HTTPStatus: status}
	case errors.Is(err, salesapi.ErrInvalid):
		return &outcomeError{Code: CodeInvalid, Message: clip(err.Error(), maxOutcomeMessage)}
	}
	return nil // 429, 5xx, timeouts, malformed answers, token failures
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// outcomeEventID is the CloudEvents id (and Nats-Msg-Id) of a command's
// outcome: one outcome per command id.
func outcomeEventID(commandID string) string { return "command/" + commandID + "/result" }

// outcomeMessage builds the outbox message of an outcome: a
// command.succeeded or command.failed CloudEvent on
// <prefix>.cmd.result.<commandId>. at is when the outcome was decided (the
// API's answer); observed when the bridge recorded it.
func (e events) outcomeMessage(o *cmdOutcome, at, observed time.Time) (state.Message, error) {
	typ := typeFailed
	if o.OK {
		typ = typeSucceeded
	}
	ev := cloudEvent{
		SpecVersion:     "1.0",
		ID:              outcomeEventID(o.CommandID),
		Source:          e.source,
		Type:            typ,
		Subject:         o.CommandID,
		Time:            salesapi.FormatTime(at),
		DataContentType: "application/json",
		DataSchema:      dataSchemaPrefix + typ,
		ObservedAt:      salesapi.FormatTime(observed),
		Data:            o,
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return state.Message{}, fmt.Errorf("encode outcome of %s: %w", o.CommandID, err)
	}
	return state.Message{
		Subject: e.prefix + ".cmd.result." + o.CommandID,
		Header:  map[string]string{headerMsgID: ev.ID, headerContentType: contentTypeCE},
		Data:    body,
	}, nil
}

// recordedOutcome reads the outcome data back from a recorded outcome
// event.
func recordedOutcome(event []byte) (cmdOutcome, error) {
	var ev struct {
		Data cmdOutcome `json:"data"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		return cmdOutcome{}, fmt.Errorf("recorded outcome: %w", err)
	}
	return ev.Data, nil
}
