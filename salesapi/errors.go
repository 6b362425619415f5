package salesapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors, one per class of failure. Every error the Client returns
// for a failed call matches at most one of them with errors.Is (besides
// ErrInvalid and ErrMalformed, declared with the types they are about).
var (
	// ErrBadRequest: 400, or another 4xx the spec does not name; the request
	// was wrong and repeating it will not help.
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: 401 twice in a row, with a freshly fetched token the
	// second time. The token endpoint accepted the credentials but the API
	// did not accept the token.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: 403, authenticated but not allowed (an OGRN outside the
	// contract, an order of another customer).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: 404.
	ErrNotFound = errors.New("not found")
	// ErrNotAcceptable: 406, the server refused our Accept header.
	ErrNotAcceptable = errors.New("not acceptable")
	// ErrRateLimited: 429 after the retries were spent.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: 5xx, a timeout or a dropped connection, after the
	// retries were spent.
	ErrUnavailable = errors.New("API unavailable")
	// ErrAuth: the token endpoint refused or failed (see TokenError).
	ErrAuth = errors.New("authentication failed")
	// ErrTooLarge: an answer was longer than Config.MaxBodyBytes. It is not
	// retried: the same question would get the same answer.
	ErrTooLarge = errors.New("API answer too large")
)

// maxErrorBody is how much of an error body APIError keeps, in bytes.
const maxErrorBody = 512

// APIError is an answer of the API with a status other than 200 and 204.
// It matches the sentinel of its status class with errors.Is: 400 (and
// other 4xx) ErrBadRequest, 401 ErrUnauthorized, 403 ErrForbidden, 404
// ErrNotFound, 406 ErrNotAcceptable, 429 ErrRateLimited, 5xx ErrUnavailable.
//
// Its Error string holds the method, path, status and the server's message,
// never the body, the token or the secret.
type APIError struct {
	StatusCode int
	Method     string // GET or PATCH
	Path       string // relative to the API URL, e.g. "external/order/481516"
	// Body is the start of the server's error body (at most 512 bytes, cut
	// at a character boundary). It may quote the request, so it is kept out
	// of Error() and must not be logged where personal data may not go.
	Body string
	// Message is the server's "message", "error_description" or "error"
	// field, when the body is JSON and has one.
	Message string
	// RetryAfter is the server's Retry-After, relative to when the answer
	// arrived (on the client's clock); zero if absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.StatusCode, strings.ToLower(http.StatusText(e.StatusCode)))
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Is matches the sentinel of e's status class.
func (e *APIError) Is(target error) bool {
	return target != nil && target == classOf(e.StatusCode)
}

// classOf maps a status to its sentinel, or nil.
func classOf(status int) error {
	switch {
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusNotAcceptable:
		return ErrNotAcceptable
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500 && status <= 599:
		return ErrUnavailable
	case status >= 400 && status <= 499:
		return ErrBadRequest
	}
	return nil
}

// newAPIError builds the error for an answer; body is the (capped) body read.
func newAPIError(method, path string, status int, body []byte, retryAfter time.Duration) *APIError {
	return &APIError{
		StatusCode: status,
		Method:     method,
		Path:       path,
		Body:       truncate(body, maxErrorBody),
		Message:    serverMessage(body),
		RetryAfter: retryAfter,
	}
}

// serverMessage picks the human-readable message out of a JSON error body:
// Spring's "message", Keycloak's "error_description", or "error".
func serverMessage(body []byte) string {
	var m struct {
		Message          any `json:"message"`
		ErrorDescription any `json:"error_description"`
		Error            any `json:"error"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	for _, v := range []any{m.Message, m.ErrorDescription, m.Error} {
		if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
			return truncate([]byte(strings.TrimSpace(s)), maxErrorBody)
		}
	}
	return ""
}

// truncate returns at most n bytes of b as a string, cut at a UTF-8
// character boundary.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strings.ToValidUTF8(string(b[:cut]), "\uFFFD") + "…"
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date,
// the latter relative to now (the client's clock). Absent, unparsable or past
// values give zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return min(d, 24*time.Hour)
	}
	return 0
}

// TokenError is a failure to get an access token from the token endpoint
// (Keycloak). It matches ErrAuth with errors.Is and names the client id,
// never the secret. Err, when set, is the transport error underneath (a
// timeout, a refused connection).
type TokenError struct {
	ClientID    string
	StatusCode  int    // HTTP status of the token endpoint; 0 if it did not answer
	Code        string // Keycloak's "error", e.g. "unauthorized_client"
	Description string // Keycloak's "error_description", e.g. "Invalid client secret"
	Err         error
}

func (e *TokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "get token for client %q", e.ClientID)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", e.StatusCode, strings.ToLower(http.StatusText(e.StatusCode)))
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap gives ErrAuth and the transport error, if any.
func (e *TokenError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrAuth, e.Err}
	}
	return []error{ErrAuth}
}

// temporary reports whether asking again may succeed: the endpoint did not
// answer, or answered 5xx or 429. A refusal of the credentials is final.
func (e *TokenError) temporary() bool {
	return e.StatusCode == 0 && e.Code == "" || e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}
