// Package salesapitest is a faithful fake of the remote Sales Module API
// ("API МП", see shared/spec), shaped like net/http/httptest: NewServer starts
// a real HTTP server on a loopback port, URL and AuthURL say where, Close stops
// it after the requests in flight have finished.
//
// There is no public sandbox of the real API, so this package is what the
// bridge, its tests and its users run against. It follows every rule of the
// spec and chooses, and documents, an answer where the spec is silent:
//
//   - Token endpoint: POST {AuthURL}protocol/openid-connect/token, OAuth 2.0
//     client credentials (form fields or HTTP Basic), Keycloak-style JSON and
//     errors. At most MaxTokens unexpired tokens per client: one more is
//     refused with 400 {"error":"invalid_request"}.
//   - GET {URL}external/orders and PATCH {URL}external/order/{id} with the
//     spec's parameters, limits and status codes. Errors are Spring-style JSON
//     ({"timestamp","status","error","message","path"}). An OGRN outside the
//     contract is refused with 403 (the spec only says "an error"). The order
//     of a list answer is not specified by the spec; Config.Order chooses it.
//   - Every answer carries Date (of the sandbox clock); every answer with a
//     body carries Content-Type application/json; charset=UTF-8. A 204 (an
//     empty list) has neither body nor Content-Type, as Spring sends it.
//   - Checks run in this order: authentication (401), rate limit (429), an
//     injected fault, Accept (406), method (405), parameters (400/403), the
//     order (404), the status machine (400).
//   - A rate limit of Config.Rate calls per rolling minute of the sandbox
//     clock per client, GET and PATCH together. Token calls, calls refused
//     with 401 and calls refused with 429 are not counted; every other call
//     is, including one that meets an injected fault.
//   - The status machine (see CanTransition): the customer (PATCH or the
//     office UI) moves NEW/UNPROCESSED to PROGRESS, CONFIRMED, REFUSED or
//     TERMINATED, PROGRESS to CONFIRMED, REFUSED or TERMINATED, CONFIRMED to
//     COMPLETE or TERMINATED; the visitor cancels from NEW, UNPROCESSED,
//     PROGRESS or CONFIRMED; the system turns NEW into UNPROCESSED exactly
//     three days after creation. COMPLETE, REFUSED, TERMINATED and CANCEL are
//     final. Setting the current status again is a no-op.
//
// # Time
//
// Everything runs on Config.Clock: token expiry, the rate limit, the default
// beginCreatedAt (the last 24 hours), history timestamps, the Date header and
// the traffic generator. With clock.Manual a test moves time itself; with
// clock.Scaled a demo runs days in minutes. Timestamps are kept to the
// millisecond, as the API writes them.
//
// # Life
//
// The sandbox is a deterministic discrete-event simulation: a priority queue
// of future events (a visitor creates or cancels an order, the sales office
// works one, the system marks one UNPROCESSED) ordered by sandbox time. Every
// request and every accessor first applies the events due by the clock's
// now (Advance), and a background loop applies them as the clock moves, so
// what the API shows never lags the clock. With Config.Traffic set, the
// sandbox starts History in the past and lives up to now instantly, so the
// seeded orders have realistic histories; the same Seed gives the same
// ground truth.
//
// # Ground truth
//
// Requests and Changes return copies of what the server served and of every
// change it made, with who made it, so a test can compare what the bridge
// published with what really happened. CreateOrder, SetStatus,
// SetFinalPrice, SetComment and SetField change orders as the office UI
// would, without the API; InjectFault makes the server misbehave on demand.
package salesapitest
