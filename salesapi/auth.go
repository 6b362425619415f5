package salesapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/salesbridge/salesbridge/clock"
)

// Token rules of the spec (§5.1).
const (
	// TokenPath is the token endpoint under Config.AuthURL.
	TokenPath = "protocol/openid-connect/token"
	// MaxLiveTokens is how many unexpired tokens an account may hold.
	MaxLiveTokens = 20
	// DefaultTokenTTL is assumed when the token endpoint does not say
	// expires_in (the spec's value), in clock time.
	DefaultTokenTTL = 300 * time.Second
	// TokenRefreshMargin is how long before its expiry (clock time) a token
	// is replaced, so that no request carries a token that expires on the
	// way. Tokens living less than twice as long are replaced at half-life.
	TokenRefreshMargin = 10 * time.Second
)

// tokenSource hands out the account's access token. It fetches one with the
// client credentials grant (credentials in the form body, as the Keycloak
// realm wants them), keeps it until TokenRefreshMargin before it expires on
// our clock — computed from expires_in, since oauth2.Token.Expiry is judged
// on the system clock — and never fetches while a valid one is held, as
// the spec asks. It lives as long as the Client.
type tokenSource struct {
	conf    clientcredentials.Config
	clk     clock.Clock
	http    *http.Client
	timeout time.Duration // per fetch, wall-clock time
	hooks   Hooks
	log     *zap.Logger

	fetching chan struct{} // a one-slot semaphore: one fetch at a time

	mu      sync.Mutex
	access  string
	refresh time.Time   // when to replace access (our clock)
	issued  []time.Time // expiries of the tokens we fetched, to count the live ones
}

func newTokenSource(cfg Config, httpClient *http.Client, log *zap.Logger) *tokenSource {
	return &tokenSource{
		conf: clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     strings.TrimSuffix(cfg.AuthURL, "/") + "/" + TokenPath,
			AuthStyle:    oauth2.AuthStyleInParams,
		},
		clk:      cfg.Clock,
		http:     httpClient,
		timeout:  cfg.Timeout,
		hooks:    cfg.Hooks,
		log:      log,
		fetching: make(chan struct{}, 1),
	}
}

// token returns a valid access token, fetching one if none is held.
func (s *tokenSource) token(ctx context.Context) (string, error) {
	if tok := s.cached(); tok != "" {
		return tok, nil
	}
	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.fetching }()
	if tok := s.cached(); tok != "" { // fetched while we waited
		return tok, nil
	}
	return s.fetch(ctx)
}

func (s *tokenSource) cached() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.access != "" && s.clk.Now().Before(s.refresh) {
		return s.access
	}
	return ""
}

// invalidate drops tok if it is still the one held (the API refused it), so
// that the next call fetches a new one. A token already replaced is left
// alone: concurrent callers refused with the same old token cause one
// fetch, not one each.
func (s *tokenSource) invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.access == tok {
		s.access = ""
	}
}

func (s *tokenSource) fetch(ctx context.Context) (string, error) {
	start := s.clk.Now()
	if n := s.live(start); n >= MaxLiveTokens {
		err := &TokenError{ClientID: s.conf.ClientID, Code: "too_many_tokens",
			Description: fmt.Sprintf("%d tokens fetched by this process are still unexpired (the spec allows %d)", n, MaxLiveTokens)}
		s.report(err)
		return "", err
	}
	fctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, s.http), s.timeout)
	defer cancel()
	tok, err := s.conf.Token(fctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		terr := s.tokenError(err)
		s.report(terr)
		return "", terr
	}
	ttl := tokenTTL(tok)
	margin := min(TokenRefreshMargin, ttl/2)
	s.mu.Lock()
	s.access = tok.AccessToken
	s.refresh = start.Add(ttl - margin)
	s.issued = append(s.issued, start.Add(ttl))
	s.mu.Unlock()
	s.report(nil)
	s.log.Debug("fetched access token", zap.Duration(logTTL, ttl))
	return tok.AccessToken, nil
}

// live counts the tokens we fetched that have not expired at now, and
// forgets the expired ones.
func (s *tokenSource) live(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.issued[:0]
	for _, exp := range s.issued {
		if exp.After(now) {
			kept = append(kept, exp)
		}
	}
	s.issued = kept
	return len(kept)
}

func (s *tokenSource) report(err error) {
	if s.hooks.Token != nil {
		s.hooks.Token(err)
	}
	if err != nil {
		s.log.Warn("token request failed", zap.Error(err))
	}
}

// tokenError turns what oauth2 returned into a TokenError that names the
// client id and the Keycloak error, and quotes neither the secret nor the
// raw body.
func (s *tokenSource) tokenError(err error) *TokenError {
	te := &TokenError{ClientID: s.conf.ClientID}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		if re.Response != nil {
			te.StatusCode = re.Response.StatusCode
		}
		te.Code = re.ErrorCode
		te.Description = truncate([]byte(re.ErrorDescription), maxErrorBody)
		if te.Code == "" && te.StatusCode/100 == 2 {
			te.Code = "invalid_response"
		}
	case errors.Is(err, context.DeadlineExceeded):
		te.Err = fmt.Errorf("no answer within %s: %w", s.timeout, context.DeadlineExceeded)
	default:
		// A transport error (its text names the token URL, which holds no
		// credentials) or an unreadable success answer.
		if strings.HasPrefix(err.Error(), "oauth2: ") {
			te.Code = "invalid_response"
			te.Description = "the token endpoint's answer could not be used"
		} else {
			te.Err = err
		}
	}
	return te
}

// tokenTTL returns how long tok lives, from the answer's expires_in
// (seconds of the server's clock, which the sandbox shares with ours).
func tokenTTL(tok *oauth2.Token) time.Duration {
	var secs float64
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		secs = v
	case string:
		secs, _ = strconv.ParseFloat(v, 64)
	}
	if secs > 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if tok.ExpiresIn > 0 {
		return time.Duration(tok.ExpiresIn) * time.Second
	}
	return DefaultTokenTTL
}
