package salesapitest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
)

// token is an access token the server issued.
type token struct {
	client  string
	expires time.Time // sandbox time
}

// tokenAnswer is the token endpoint's answer (spec §5.1).
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	RefreshToken     string `json:"refresh_token"`
	TokenType        string `json:"token_type"`
	NotBeforePolicy  int    `json:"not-before-policy"`
	SessionState     string `json:"session_state"`
	Scope            string `json:"scope"`
}

// keycloakError is the token endpoint's error body.
type keycloakError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func oauthError(status int, code, desc string) response {
	b, _ := json.Marshal(keycloakError{Error: code, Description: desc})
	return response{status: status, body: b}
}

// serveToken is POST {AuthURL}protocol/openid-connect/token: OAuth 2.0
// client credentials, the client authenticated by form fields or HTTP Basic.
// Errors are Keycloak's: 400 invalid_request (missing grant_type or
// client_id, a body that is not a form, too many live tokens), 400
// unauthorized_client (no secret), 400 unsupported_grant_type, 401
// invalid_client (wrong id or secret), 405 for a method other than POST.
func (s *Server) serveToken(r *http.Request, rec *Request) response {
	s.mu.Lock()
	f := s.takeFaultLocked(PathToken, rec.At)
	s.mu.Unlock()
	rec.Fault = f.Kind
	if resp, done := s.refuse(r, f, rec.At); done {
		return resp
	}
	if f.Kind.damages() && f.SkipCall {
		return response{status: http.StatusOK, body: []byte(`{}`), damage: f}
	}
	resp := s.issueToken(r, rec)
	if f.Kind.damages() {
		resp.damage = f
	}
	return resp
}

func (s *Server) issueToken(r *http.Request, rec *Request) response {
	if r.Method != http.MethodPost {
		return oauthError(http.StatusMethodNotAllowed, "invalid_request", "HTTP method not allowed").with("Allow", http.MethodPost)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return oauthError(http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return oauthError(http.StatusBadRequest, "invalid_request", "Malformed form body")
	}
	grant := r.PostForm.Get("grant_type")
	if grant == "" {
		return oauthError(http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		return oauthError(http.StatusBadRequest, "invalid_request", "Missing parameter: client_id")
	}
	if secret == "" {
		return oauthError(http.StatusBadRequest, "unauthorized_client", "Client secret not provided in request")
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) == 1
	if !idOK || !secretOK {
		return oauthError(http.StatusUnauthorized, "invalid_client", "Invalid client credentials")
	}
	if grant != "client_credentials" {
		return oauthError(http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
	}
	now := rec.At
	s.mu.Lock()
	defer s.mu.Unlock()
	live := 0
	for k, t := range s.tokens {
		switch {
		case !now.Before(t.expires):
			delete(s.tokens, k)
		case t.client == id:
			live++
		}
	}
	if live >= s.cfg.MaxTokens {
		return oauthError(http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("Maximum number of active tokens (%d) reached", s.cfg.MaxTokens))
	}
	access := newJWT(id, now, s.cfg.TokenTTL)
	s.tokens[access] = token{client: id, expires: now.Add(s.cfg.TokenTTL)}
	rec.ClientID = id
	b, _ := json.Marshal(tokenAnswer{
		AccessToken:      access,
		ExpiresIn:        int(s.cfg.TokenTTL / time.Second),
		RefreshExpiresIn: 1800,
		RefreshToken:     newJWT(id, now, 30*time.Minute),
		TokenType:        "bearer",
		NotBeforePolicy:  1593673833,
		SessionState:     randomUUID(),
		Scope:            "profile email sales-module",
	})
	return response{status: http.StatusOK, body: b}
}

// authenticate returns the client of the request's bearer token, if the
// token is one the server issued and it has not expired (on the sandbox
// clock). The caller holds s.mu.
func (s *Server) authenticateLocked(r *http.Request, now time.Time) (string, string) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", "Full authentication is required to access this resource"
	}
	t, ok := s.tokens[strings.TrimSpace(tok)]
	switch {
	case !ok:
		return "", "Invalid token"
	case !now.Before(t.expires):
		delete(s.tokens, strings.TrimSpace(tok))
		return "", "Token expired"
	}
	return t.client, ""
}

// RevokeTokens invalidates every token issued so far, as a restart of the
// authentication service would: the next call with one gets 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// LiveTokens reports how many unexpired tokens the server has issued.
func (s *Server) LiveTokens() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.tokens {
		if now.Before(t.expires) {
			n++
		}
	}
	return n
}

// newJWT makes a token shaped like Keycloak's (header.payload.signature);
// the signature is random and nobody checks it but this server.
func newJWT(client string, now time.Time, ttl time.Duration) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	payload, _ := json.Marshal(map[string]any{
		"exp": now.Add(ttl).Unix(), "iat": now.Unix(), "jti": randomUUID(),
		"iss": "external-eisgs-idm", "azp": client, "typ": "Bearer",
	})
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig)
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
