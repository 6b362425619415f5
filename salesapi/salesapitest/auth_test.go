package salesapitest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func TestTokenEndpoint(t *testing.T) {
	s, _ := start(t, salesapitest.Config{})
	c := newClient(t, s)
	good := c.credentials()
	with := func(key, value string) url.Values {
		v := url.Values{}
		for k, x := range good {
			v[k] = x
		}
		if value == "" {
			v.Del(key)
		} else {
			v.Set(key, value)
		}
		return v
	}
	tests := []struct {
		name      string
		method    string
		ctype     string
		form      url.Values
		basic     bool // send the credentials as HTTP Basic instead
		wantCode  int
		wantError string
	}{
		{name: "form credentials", form: good, wantCode: 200},
		{name: "basic credentials", form: url.Values{"grant_type": {"client_credentials"}}, basic: true, wantCode: 200},
		{name: "wrong secret", form: with("client_secret", "nope"), wantCode: 401, wantError: "invalid_client"},
		{name: "unknown client", form: with("client_id", "app-ext-other.1027700000001.eisgs"), wantCode: 401, wantError: "invalid_client"},
		{name: "no secret", form: with("client_secret", ""), wantCode: 400, wantError: "unauthorized_client"},
		{name: "no client id", form: with("client_id", ""), wantCode: 400, wantError: "invalid_request"},
		{name: "no grant type", form: with("grant_type", ""), wantCode: 400, wantError: "invalid_request"},
		{name: "password grant", form: with("grant_type", "password"), wantCode: 400, wantError: "unsupported_grant_type"},
		{name: "json body", ctype: "application/json", form: good, wantCode: 400, wantError: "invalid_request"},
		{name: "GET", method: http.MethodGet, form: good, wantCode: 405, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, ctype := tt.method, tt.ctype
			if method == "" {
				method = http.MethodPost
			}
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded"
			}
			req, _ := http.NewRequest(method, s.TokenURL(), nil)
			h := http.Header{"Content-Type": {ctype}}
			if tt.basic {
				req.SetBasicAuth(s.ClientID(), s.ClientSecret())
				h.Set("Authorization", req.Header.Get("Authorization"))
			}
			a := c.do(method, s.TokenURL(), h, tt.form.Encode())
			if a.status != tt.wantCode {
				t.Fatalf("status = %d, want %d: %s", a.status, tt.wantCode, a.body)
			}
			m := a.json(t)
			if tt.wantError != "" {
				if m["error"] != tt.wantError || m["error_description"] == "" {
					t.Errorf("body = %s, want error %q with a description", a.body, tt.wantError)
				}
				return
			}
			for _, k := range []string{"access_token", "expires_in", "refresh_expires_in", "refresh_token", "token_type", "not-before-policy", "session_state", "scope"} {
				if _, ok := m[k]; !ok {
					t.Errorf("answer lacks %q: %s", k, a.body)
				}
			}
			if m["expires_in"] != 300.0 || m["token_type"] != "bearer" {
				t.Errorf("expires_in = %v, token_type = %v; want 300, bearer", m["expires_in"], m["token_type"])
			}
		})
	}
}

func TestTokenTTLConfigurable(t *testing.T) {
	s, m := start(t, salesapitest.Config{TokenTTL: 60 * time.Second})
	c := newClient(t, s)
	a := c.tokenCall(c.credentials())
	if got := a.json(t)["expires_in"]; got != 60.0 {
		t.Fatalf("expires_in = %v, want 60", got)
	}
	c.token = a.json(t)["access_token"].(string)
	m.Advance(59 * time.Second)
	if a := c.list(""); a.status != http.StatusNoContent {
		t.Fatalf("before expiry: %d %s", a.status, a.body)
	}
	m.Advance(time.Second)
	wantSpringError(t, c.list(""), http.StatusUnauthorized)
}

func TestTokenLimit(t *testing.T) {
	for _, max := range []int{0, 3} { // 0: the default, 20
		s, m := start(t, salesapitest.Config{MaxTokens: max})
		c := newClient(t, s)
		want := max
		if want == 0 {
			want = salesapitest.DefaultMaxTokens
		}
		for i := range want {
			if a := c.tokenCall(c.credentials()); a.status != http.StatusOK {
				t.Fatalf("token %d: %d %s", i+1, a.status, a.body)
			}
			m.Advance(time.Second)
		}
		a := c.tokenCall(c.credentials())
		if a.status != http.StatusBadRequest || a.json(t)["error"] != "invalid_request" {
			t.Fatalf("token %d: %d %s, want 400 invalid_request", want+1, a.status, a.body)
		}
		if got := s.LiveTokens(); got != want {
			t.Errorf("LiveTokens = %d, want %d", got, want)
		}
		// The first token expires 300 s after it was issued: one slot frees.
		m.Advance(salesapitest.DefaultTokenTTL - time.Duration(want)*time.Second)
		if a := c.tokenCall(c.credentials()); a.status != http.StatusOK {
			t.Fatalf("after the first expired: %d %s", a.status, a.body)
		}
		if a := c.tokenCall(c.credentials()); a.status != http.StatusBadRequest {
			t.Fatalf("one slot only: %d %s", a.status, a.body)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	s, m := start(t, salesapitest.Config{})
	c := newClient(t, s)
	c.login()
	valid := c.token
	tests := []struct {
		name  string
		auth  string
		setup func()
	}{
		{name: "no header"},
		{name: "basic scheme", auth: "Basic YTpi"},
		{name: "empty bearer", auth: "Bearer "},
		{name: "unknown token", auth: "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
		{name: "expired", auth: "Bearer " + valid, setup: func() { m.Advance(300 * time.Second) }},
		{name: "revoked", setup: func() { c.login(); s.RevokeTokens() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			auth := tt.auth
			if tt.name == "revoked" {
				auth = "Bearer " + c.token
			}
			h := http.Header{"Accept": {"application/json"}}
			if auth != "" {
				h.Set("Authorization", auth)
			}
			a := c.do(http.MethodGet, s.URL+"external/orders", h, "")
			wantSpringError(t, a, http.StatusUnauthorized)
			if a.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header")
			}
			a = c.do(http.MethodPatch, s.URL+"external/order/1", h, `{"status":1}`)
			wantSpringError(t, a, http.StatusUnauthorized)
		})
	}
	// A 401 names no client and is not counted against the rate limit.
	for _, r := range s.Requests() {
		if r.Status == http.StatusUnauthorized && r.ClientID != "" {
			t.Errorf("401 request %+v names a client", r)
		}
	}
}
