package salesapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
)

// serveAPI answers GET external/orders and PATCH external/order/{id}:
// authentication (401), rate limit (429), an injected fault, Accept (406),
// method (405), then the call itself.
func (s *Server) serveAPI(r *http.Request, rec *Request, rt route, id string) response {
	now := rec.At
	s.mu.Lock()
	client, why := s.authenticateLocked(r, now)
	if client == "" {
		s.mu.Unlock()
		return errorResponse(now, http.StatusUnauthorized, why, r.URL.Path).
			with("WWW-Authenticate", `Bearer realm="external-eisgs-idm", error="invalid_token"`)
	}
	rec.ClientID = client
	if wait, ok := s.rate.allow(client, now); !ok {
		s.mu.Unlock()
		return errorResponse(now, http.StatusTooManyRequests, "Rate limit exceeded", r.URL.Path).
			with("Retry-After", strconv.Itoa(retryAfter(wait)))
	}
	f := s.takeFaultLocked(rt.path(), now)
	s.mu.Unlock()
	rec.Fault = f.Kind
	if resp, done := s.refuse(r, f, now); done {
		return resp
	}
	if f.Kind == FaultSlow {
		now = s.now() // the answer is as of after the wait
	}
	if !acceptable(r.Header.Values("Accept")) {
		return errorResponse(now, http.StatusNotAcceptable, "Could not find acceptable representation", r.URL.Path)
	}
	want := http.MethodGet
	if rt == routeOrder {
		want = http.MethodPatch
	}
	if r.Method != want {
		return errorResponse(now, http.StatusMethodNotAllowed, "Request method '"+r.Method+"' is not supported", r.URL.Path).with("Allow", want)
	}
	if f.Kind.damages() && f.SkipCall {
		return response{status: http.StatusOK, body: []byte("[]"), damage: f}
	}
	var resp response
	if rt == routeOrders {
		resp = s.listOrders(r, now)
	} else {
		resp = s.patchOrder(r, id, now)
	}
	if f.Kind.damages() {
		resp.damage = f
	}
	return resp
}

// refuse applies a refusing fault (error, maintenance) or waits out a slow
// one. It reports true when resp is the answer.
func (s *Server) refuse(r *http.Request, f Fault, now time.Time) (response, bool) {
	switch f.Kind {
	case FaultError:
		msg := "Internal server error"
		if f.Status == http.StatusServiceUnavailable {
			msg = "Service temporarily unavailable"
		}
		return errorResponse(now, f.Status, msg, r.URL.Path), true
	case FaultMaintenance:
		wait := f.RetryAfter
		if !f.Until.IsZero() {
			wait = f.Until.Sub(now)
		}
		return errorResponse(now, http.StatusServiceUnavailable, "Плановые технические работы", r.URL.Path).
			with("Retry-After", strconv.Itoa(retryAfter(wait))), true
	case FaultSlow:
		var err error
		if f.RealTime {
			err = clock.Sleep(r.Context(), clock.Real(), f.Delay)
		} else {
			err = clock.Sleep(r.Context(), s.clk, f.Delay)
		}
		if err != nil {
			return errorResponse(now, http.StatusServiceUnavailable, "Server shutting down", r.URL.Path), true
		}
	}
	return response{}, false
}

// acceptable reports whether the Accept headers admit application/json in
// UTF-8: no Accept, application/json (any parameters but a charset other
// than UTF-8), application/* or */*, with a q above zero.
func acceptable(values []string) bool {
	seen := false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			seen = true
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if x, err := strconv.ParseFloat(q, 64); err != nil || x <= 0 {
					continue
				}
			}
			if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
				continue
			}
			if mt == "application/json" || mt == "application/*" || mt == "*/*" {
				return true
			}
		}
	}
	return !seen
}

// listOrders is GET external/orders (spec §6.1).
func (s *Server) listOrders(r *http.Request, now time.Time) response {
	q, resp, ok := s.parseList(r.URL.Query(), now, r.URL.Path)
	if !ok {
		return resp
	}
	s.mu.Lock()
	s.advanceLocked(now)
	found := s.st.list(q, s.cfg.Order, s.shuffleRng)
	orders := make([]salesapi.Order, len(found))
	for i, ord := range found {
		orders[i] = copyOrder(ord.o)
	}
	extra := s.extra
	s.mu.Unlock()
	if len(orders) == 0 {
		return response{status: http.StatusNoContent}
	}
	// Encoded outside the lock: other calls need not wait for it.
	buf := bytes.NewBufferString("[")
	for i, o := range orders {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(orderJSON(o, extra))
	}
	buf.WriteByte(']')
	return response{status: http.StatusOK, body: buf.Bytes()}
}

// parseList validates the list parameters: limit 1–100 (default 100),
// status 0–7, beginCreatedAt a timestamp or a date (default: 24 hours
// before now), ogrn repeated and/or comma-separated, each in the contract
// (else 403). Unknown parameters are ignored; an empty value is no value.
func (s *Server) parseList(v url.Values, now time.Time, path string) (listQuery, response, bool) {
	bad := func(msg string) (listQuery, response, bool) {
		return listQuery{}, errorResponse(now, http.StatusBadRequest, msg, path), false
	}
	q := listQuery{begin: now.Add(-DefaultListWindow), limit: salesapi.MaxLimit}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || n < 1 || n > salesapi.MaxLimit {
			return bad(fmt.Sprintf("Parameter 'limit' must be an integer from 1 to %d", salesapi.MaxLimit))
		}
		q.limit = n
	}
	if st := v.Get("status"); st != "" {
		n, err := strconv.Atoi(strings.TrimSpace(st))
		if err != nil || !salesapi.Status(n).Valid() {
			return bad("Parameter 'status' must be an integer from 0 to 7")
		}
		x := salesapi.Status(n)
		q.status = &x
	}
	if b := v.Get("beginCreatedAt"); b != "" {
		t, err := parseBegin(strings.TrimSpace(b))
		if err != nil {
			return bad("Parameter 'beginCreatedAt' is not a date-time")
		}
		q.begin = t
	}
	contract := make(map[string]bool, len(s.cfg.OGRNs))
	for _, o := range s.cfg.OGRNs {
		contract[o] = true
	}
	for _, val := range v["ogrn"] {
		for _, o := range strings.Split(val, ",") {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			if !contract[o] {
				return listQuery{}, errorResponse(now, http.StatusForbidden,
					"OGRN is not among the developers of the contract", path), false
			}
			if q.ogrns == nil {
				q.ogrns = make(map[string]bool)
			}
			q.ogrns[o] = true
		}
	}
	if q.ogrns == nil {
		q.ogrns = contract
	}
	return q, response{}, true
}

// parseBegin accepts what salesapi.ParseTime does, and a bare date (midnight
// UTC).
func parseBegin(s string) (time.Time, error) {
	if t, err := salesapi.ParseTime(s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

// errBadBody is a PATCH body the API refuses with 400; its text is the
// message.
var errBadBody = errors.New("bad body")

// patchBody is a validated PATCH body.
type patchBody struct {
	status     *salesapi.Status
	finalPrice *int64
	comment    *string
}

// decodePatch validates a PATCH body: a JSON object with at least one of
// status (integer 1–5), finalPrice (integer ≥ 0; an integral number such as
// 6.1e6 is accepted), comment (string, at most 1000 characters); null is
// absent; any other field is refused.
func decodePatch(body []byte) (patchBody, error) {
	var p patchBody
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return p, fmt.Errorf("%w: Request body must be a JSON object", errBadBody)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return p, fmt.Errorf("%w: JSON parse error", errBadBody)
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, fmt.Errorf("%w: JSON parse error: trailing data", errBadBody)
	}
	for k, raw := range m {
		if string(raw) == "null" {
			continue
		}
		switch k {
		case "status":
			n, ok := jsonInt(raw)
			if !ok || !salesapi.Status(n).Settable() {
				return p, fmt.Errorf("%w: Field 'status' must be an integer from 1 to 5", errBadBody)
			}
			st := salesapi.Status(n)
			p.status = &st
		case "finalPrice":
			n, ok := jsonInt(raw)
			if !ok || n < 0 {
				return p, fmt.Errorf("%w: Field 'finalPrice' must be a non-negative integer", errBadBody)
			}
			p.finalPrice = &n
		case "comment":
			var c string
			if err := json.Unmarshal(raw, &c); err != nil {
				return p, fmt.Errorf("%w: Field 'comment' must be a string", errBadBody)
			}
			if utf8.RuneCountInString(c) > salesapi.MaxCommentRunes {
				return p, fmt.Errorf("%w: Field 'comment' must be at most %d characters", errBadBody, salesapi.MaxCommentRunes)
			}
			p.comment = &c
		default:
			return p, fmt.Errorf("%w: Unrecognized field %q", errBadBody, k)
		}
	}
	if p.status == nil && p.finalPrice == nil && p.comment == nil {
		return p, fmt.Errorf("%w: At least one of status, finalPrice, comment is required", errBadBody)
	}
	return p, nil
}

// jsonInt reads a JSON number that is an integer (6100000, 6.1e6,
// 6100000.0); strings and fractions are refused.
func jsonInt(raw json.RawMessage) (int64, bool) {
	s := string(raw)
	if s == "" || s[0] == '"' {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<62 {
		return 0, false
	}
	return int64(f), true
}

// patchOrder is PATCH external/order/{id} (spec §6.2): 400 for an id that
// is not a number or a bad body, 404 for an unknown order, 400 for a status
// move the machine forbids; else the changes, all at now, and 200 with the
// order. A status equal to the current one, a finalPrice or comment equal
// to the current one change nothing.
func (s *Server) patchOrder(r *http.Request, rawID string, now time.Time) response {
	path := r.URL.Path
	id, err := strconv.ParseInt(rawID, 10, 64)
	if err != nil {
		return errorResponse(now, http.StatusBadRequest, "Path variable 'id' must be a number", path)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err != nil {
		return errorResponse(now, http.StatusBadRequest, "Request body too large or unreadable", path)
	}
	p, err := decodePatch(body)
	if err != nil {
		return errorResponse(now, http.StatusBadRequest, strings.TrimPrefix(err.Error(), errBadBody.Error()+": "), path)
	}
	s.mu.Lock()
	o, extra, resp, ok := s.applyPatch(id, p, now, path)
	s.mu.Unlock()
	if !ok {
		return resp
	}
	return response{status: http.StatusOK, body: orderJSON(o, extra)}
}

// applyPatch applies a validated PATCH; the caller holds s.mu. It returns a
// copy of the order, or the error answer.
func (s *Server) applyPatch(id int64, p patchBody, now time.Time, path string) (salesapi.Order, map[string]json.RawMessage, response, bool) {
	s.advanceLocked(now)
	ord := s.st.orders[id]
	if ord == nil || !s.inContract(ord.ogrn) {
		return salesapi.Order{}, nil, errorResponse(now, http.StatusNotFound, fmt.Sprintf("Order %d not found", id), path), false
	}
	if p.status != nil && *p.status != ord.o.Status && !CanTransition(ord.o.Status, *p.status) {
		return salesapi.Order{}, nil, errorResponse(now, http.StatusBadRequest,
			fmt.Sprintf("Status cannot change from %v to %v", ord.o.Status, *p.status), path), false
	}
	if p.status != nil {
		_, _ = s.st.setStatus(ord, *p.status, now, API)
	}
	if p.finalPrice != nil {
		s.st.setFinalPrice(ord, *p.finalPrice, now, API)
	}
	if p.comment != nil {
		s.st.setComment(ord, *p.comment, now, API)
	}
	return copyOrder(ord.o), s.extra, response{}, true
}

func (s *Server) inContract(ogrn string) bool {
	for _, o := range s.cfg.OGRNs {
		if o == ogrn {
			return true
		}
	}
	return false
}

// orderJSON writes an order as the API does, with the extra fields if any.
func orderJSON(o salesapi.Order, extra map[string]json.RawMessage) []byte {
	b, err := o.MarshalJSON()
	if err != nil || len(extra) == 0 {
		return b
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return b
	}
	for k, v := range extra {
		obj, field, nested := strings.Cut(k, ".")
		if nested && (obj == "flat" || obj == "object") {
			var m map[string]json.RawMessage
			if json.Unmarshal(top[obj], &m) == nil {
				m[field] = v
				top[obj], _ = json.Marshal(m)
			}
			continue
		}
		top[k] = v
	}
	out, err := json.Marshal(top)
	if err != nil {
		return b
	}
	return out
}

// SetExtraFields replaces Config.ExtraFields. It panics if a value cannot be
// encoded. (The map is replaced, never changed, so answers being encoded
// keep the one they started with.)
func (s *Server) SetExtraFields(m map[string]any) {
	extra, err := encodeExtra(m)
	if err != nil {
		panic("salesapitest: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra = extra
}
