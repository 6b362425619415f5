// Package salesapi is the typed client of the remote Sales Module API (API
// МП, version 2) of наш.дом.рф: its data types (Order, Status, Query,
// Patch), its two calls (ListOrders, PatchOrder) and the rules that make a
// client well behaved.
//
// The API allows 10 calls a minute per account, GET and PATCH together, and
// the bridge is the one process that owns that allowance. So every call,
// every retry included, first takes a slot of the account's Budget: at most
// Rate calls in any rolling window of the injectable clock (60 s plus a 1 s
// margin for clock skew), commands before polls, and a 429 or Retry-After
// pausing everyone. The aim is that our own traffic never causes a 429.
//
// Authentication is the OAuth 2.0 client credentials grant against a
// Keycloak realm (golang.org/x/oauth2/clientcredentials, credentials in the
// form body). One token is reused until shortly before it expires — judged
// on the injectable clock from expires_in, because the spec forbids
// fetching early and allows 20 live tokens — and replaced once if the API
// refuses it.
//
// Failures are typed: *APIError for answers (matching ErrBadRequest,
// ErrUnauthorized, ErrForbidden, ErrNotFound, ErrNotAcceptable,
// ErrRateLimited or ErrUnavailable by status class), *TokenError (ErrAuth)
// for the token endpoint, ErrMalformed for a 200 that cannot be read,
// ErrInvalid for a request refused locally before it spends a call. 429,
// 5xx, malformed answers, timeouts and dropped connections are retried with
// jittered exponential backoff on the same clock; refusals are not.
//
// Orders carry personal data (the visitor's name, e-mail and phone): the
// client never logs a body and its errors never quote an order, a token or
// the secret.
package salesapi
