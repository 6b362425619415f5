package salesapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v4"

	"github.com/salesbridge/salesbridge/clock"
)

func TestAPIErrorIsItsClass(t *testing.T) {
	sentinels := []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrNotAcceptable, ErrRateLimited, ErrUnavailable}
	tests := []struct {
		status int
		want   error
	}{
		{400, ErrBadRequest}, {401, ErrUnauthorized}, {403, ErrForbidden}, {404, ErrNotFound},
		{405, ErrBadRequest}, {406, ErrNotAcceptable}, {422, ErrBadRequest}, {429, ErrRateLimited},
		{500, ErrUnavailable}, {502, ErrUnavailable}, {503, ErrUnavailable}, {504, ErrUnavailable},
		{302, nil},
	}
	for _, tt := range tests {
		err := fmt.Errorf("list orders: %w", &APIError{StatusCode: tt.status, Method: "GET", Path: "external/orders"})
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("%d: errors.Is(err, %v) = %v", tt.status, s, got)
			}
		}
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrMalformed) {
			t.Errorf("%d matches ErrAuth or ErrMalformed", tt.status)
		}
	}
}

func TestAPIErrorFromBody(t *testing.T) {
	tests := []struct {
		name, body, wantMsg string
	}{
		{"spring", `{"timestamp":"…","status":404,"error":"Not Found","message":"Заявка не найдена","path":"/x"}`, "Заявка не найдена"},
		{"keycloak", `{"error":"invalid_token","error_description":"Token expired"}`, "Token expired"},
		{"error only", `{"error":"Bad Request"}`, "Bad Request"},
		{"blank message falls through", `{"message":" ","error":"Bad Request"}`, "Bad Request"},
		{"not json", `<html>502 Bad Gateway</html>`, ""},
		{"message not a string", `{"message":{"a":1}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAPIError("GET", "external/orders", 404, []byte(tt.body), 0)
			if e.Message != tt.wantMsg || e.Body != tt.body {
				t.Errorf("message %q body %q, want %q and the body", e.Message, e.Body, tt.wantMsg)
			}
			if strings.Contains(e.Error(), "<html>") {
				t.Errorf("Error() quotes the body: %q", e.Error())
			}
		})
	}
	long := strings.Repeat("я", 1000) // 2000 bytes
	e := newAPIError("PATCH", "external/order/1", 400, []byte(long), 0)
	if len(e.Body) > maxErrorBody+len("…") || !utf8.ValidString(e.Body) || !strings.HasSuffix(e.Body, "…") {
		t.Errorf("body of %d bytes, valid %v: want at most %d bytes cut at a character", len(e.Body), utf8.ValidString(e.Body), maxErrorBody)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"Mon, 03 Mar 2025 09:00:45 GMT", 45 * time.Second},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"429", &APIError{StatusCode: 429}, true},
		{"500", &APIError{StatusCode: 500}, true},
		{"502", &APIError{StatusCode: 502}, true},
		{"503", &APIError{StatusCode: 503}, true},
		{"504", &APIError{StatusCode: 504}, true},
		{"501", &APIError{StatusCode: 501}, false},
		{"400", &APIError{StatusCode: 400}, false},
		{"401", &APIError{StatusCode: 401}, false},
		{"403", &APIError{StatusCode: 403}, false},
		{"404", &APIError{StatusCode: 404}, false},
		{"406", &APIError{StatusCode: 406}, false},
		{"malformed", fmt.Errorf("x: %w", ErrMalformed), true},
		{"transport", fmt.Errorf("%w: %w", ErrUnavailable, io.ErrUnexpectedEOF), true},
		{"too large", ErrTooLarge, false},
		{"invalid", ErrInvalid, false},
		{"token endpoint down", &TokenError{Err: io.EOF}, true},
		{"token endpoint 503", &TokenError{StatusCode: 503}, true},
		{"secret refused", &TokenError{StatusCode: 401, Code: "invalid_client"}, false},
		{"too many tokens", &TokenError{Code: "too_many_tokens"}, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("%s: retryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTokenErrorNamesClientNotSecret(t *testing.T) {
	err := fmt.Errorf("list orders: %w", &TokenError{ClientID: "app-ext-x.1027700000001.eisgs", StatusCode: 401, Code: "invalid_client", Description: "Invalid client credentials"})
	want := `list orders: get token for client "app-ext-x.1027700000001.eisgs": 401 unauthorized: invalid_client: Invalid client credentials`
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	if !errors.Is(err, ErrAuth) || errors.Is(err, ErrUnauthorized) {
		t.Errorf("a TokenError must match ErrAuth only")
	}
}

func TestBackOffPolicy(t *testing.T) {
	clk := clock.NewManual(time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC))
	var floor time.Duration
	b := newBackOff(t.Context(), clk, time.Second, 8*time.Second, 5, &floor)
	b.Reset()
	var got []time.Duration
	for i := 0; i < 7; i++ {
		if i == 3 {
			floor = 45 * time.Second
		}
		got = append(got, b.NextBackOff())
	}
	nominal := []time.Duration{1, 2, 4, 8, 8}
	for i, d := range got[:5] {
		lo, hi := nominal[i]*time.Second/2, nominal[i]*time.Second*3/2
		if i >= 3 {
			lo, hi = 45*time.Second, 45*time.Second
		}
		if d < lo || d > hi {
			t.Errorf("interval %d = %s, want within [%s, %s]", i+1, d, lo, hi)
		}
	}
	if got[5] != backoff.Stop || got[6] != backoff.Stop {
		t.Errorf("after 5 retries got %s, %s; want Stop", got[5], got[6])
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc…"},
		{"жжж", 3, "ж…"},
		{"a\xffb", 5, "a\uFFFDb"},
	} {
		if got := truncate([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
