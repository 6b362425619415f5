package salesapi_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func ptr[T any](v T) *T { return &v }

// TestClientRules proves each rule of the client against the sandbox over
// real HTTP, one row per rule.
func TestClientRules(t *testing.T) {
	ctx := context.Background()
	noRetryOn := func(status int, want error) func(t *testing.T, r *rig) {
		return func(t *testing.T, r *rig) {
			r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: status})
			_, err := r.list(ctx, salesapi.Query{})
			if !errors.Is(err, want) || !isAPIError(err, status) {
				t.Fatalf("err = %v, want an APIError %d matching %v", err, status, want)
			}
			if n := len(r.apiRequests()); n != 1 || len(r.retryErrs()) != 0 {
				t.Errorf("%d requests and %d retries, want 1 and none", n, len(r.retryErrs()))
			}
		}
	}
	retriedOnce := func(f salesapitest.Fault, wantRetry error) func(t *testing.T, r *rig) {
		return func(t *testing.T, r *rig) {
			r.srv.CreateOrders(3, salesapitest.OrderSpec{CreatedAt: epoch.Add(-time.Hour)})
			f.Count = 1
			r.srv.InjectFault(f)
			orders, err := r.list(ctx, salesapi.Query{})
			if err != nil || len(orders) != 3 {
				t.Fatalf("ListOrders = %d orders, %v; want the 3 orders", len(orders), err)
			}
			if n := len(r.apiRequests()); n != 2 {
				t.Errorf("%d requests, want 2 (the fault, then the retry)", n)
			}
			if re := r.retryErrs(); len(re) != 1 || !errors.Is(re[0], wantRetry) {
				t.Errorf("retried for %v, want one retry for %v", re, wantRetry)
			}
		}
	}

	tests := []struct {
		name string
		opts rigOptions
		run  func(t *testing.T, r *rig)
	}{
		// --- Authentication ---
		{name: "auth: client credentials in the form body, never HTTP Basic", run: func(t *testing.T, r *rig) {
			if _, err := r.list(ctx, salesapi.Query{}); err != nil {
				t.Fatal(err)
			}
			var tokenReqs []sent
			for _, s := range r.rec.sent() {
				if s.form != nil {
					tokenReqs = append(tokenReqs, s)
				}
			}
			if len(tokenReqs) != 1 {
				t.Fatalf("%d token requests, want 1", len(tokenReqs))
			}
			s := tokenReqs[0]
			if s.method != http.MethodPost || s.header.Get("Authorization") != "" {
				t.Errorf("token request %s with Authorization %q, want POST without", s.method, s.header.Get("Authorization"))
			}
			if s.form.Get("grant_type") != "client_credentials" || s.form.Get("client_id") != r.srv.ClientID() || s.form.Get("client_secret") != r.srv.ClientSecret() {
				t.Errorf("token form has grant_type %q, client_id %q, secret set %v", s.form.Get("grant_type"), s.form.Get("client_id"), s.form.Get("client_secret") != "")
			}
		}},
		{
			name: "auth: one token until 10 s of clock time before it expires, never fetched early",
			opts: rigOptions{
				manual:  clock.NewManual(epoch),
				sandbox: func(c *salesapitest.Config) { c.TokenTTL = salesapi.DefaultTokenTTL },
			},
			run: func(t *testing.T, r *rig) {
				clk := r.clk.(*clock.Manual)
				for _, step := range []time.Duration{0, 150 * time.Second, 139 * time.Second, time.Second, 100 * time.Second} {
					clk.Advance(step)
					// As a command: a poll would wait for the budget's
					// spacing, and this clock moves only when told.
					if _, err := r.list(salesapi.WithPriority(ctx, salesapi.PriorityCommand), salesapi.Query{}); err != nil {
						t.Fatalf("ListOrders at %s: %v", clk.Now().Sub(epoch), err)
					}
				}
				var at []time.Duration
				for _, q := range r.tokenRequests() {
					at = append(at, q.At.Sub(epoch))
				}
				// Calls at 0, 150, 289, 290 and 390 s: the token of 0 s
				// serves until 290 s (300 s less the 10 s margin).
				if want := []time.Duration{0, 290 * time.Second}; !slices.Equal(at, want) {
					t.Fatalf("tokens fetched at %v, want at %v", at, want)
				}
				for _, q := range r.apiRequests() {
					if q.Status == http.StatusUnauthorized {
						t.Errorf("a call was refused with 401 at %s: the token was used past its expiry", q.At.Sub(epoch))
					}
				}
			},
		},
		{name: "auth: a 401 drops the token, fetches a new one and retries once", run: func(t *testing.T, r *rig) {
			if _, err := r.list(ctx, salesapi.Query{}); err != nil {
				t.Fatal(err)
			}
			r.srv.RevokeTokens()
			if _, err := r.list(ctx, salesapi.Query{}); err != nil {
				t.Fatalf("after a revocation: %v", err)
			}
			if got := statuses(r.apiRequests()); !slices.Equal(got, []int{200, 401, 200}) && !slices.Equal(got, []int{204, 401, 204}) {
				t.Errorf("statuses %v, want ok, 401, ok", got)
			}
			if n := len(r.tokenRequests()); n != 2 {
				t.Errorf("%d token fetches, want 2", n)
			}
			if used := r.c.Budget().Used(); used != 3 {
				t.Errorf("budget used %d, want 3: the refused attempt takes a slot too", used)
			}
		}},
		{name: "auth: a second 401 in a row is a clear auth error", run: func(t *testing.T, r *rig) {
			r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: http.StatusUnauthorized})
			_, err := r.list(ctx, salesapi.Query{})
			if !errors.Is(err, salesapi.ErrUnauthorized) || !isAPIError(err, 401) {
				t.Fatalf("err = %v, want an APIError 401 matching ErrUnauthorized", err)
			}
			if !strings.Contains(err.Error(), r.srv.ClientID()) || !strings.Contains(err.Error(), "freshly fetched token") {
				t.Errorf("error %q does not say that a fresh token of the client was refused", err)
			}
			if n, m := len(r.apiRequests()), len(r.tokenRequests()); n != 2 || m != 2 {
				t.Errorf("%d calls and %d token fetches, want 2 and 2", n, m)
			}
		}},
		{
			name: "auth: Keycloak's refusal names the client id, never the secret, and spends no call",
			opts: rigOptions{client: func(c *salesapi.Config) { c.ClientSecret = "not-the-sandbox-secret-123" }},
			run: func(t *testing.T, r *rig) {
				_, err := r.list(ctx, salesapi.Query{})
				var te *salesapi.TokenError
				if !errors.Is(err, salesapi.ErrAuth) || !errors.As(err, &te) {
					t.Fatalf("err = %v, want a TokenError matching ErrAuth", err)
				}
				if te.ClientID != r.srv.ClientID() || te.StatusCode != 401 || te.Code != "invalid_client" || te.Description == "" {
					t.Errorf("TokenError %+v, want client id, 401, invalid_client and a description", *te)
				}
				if msg := err.Error(); !strings.Contains(msg, r.srv.ClientID()) || strings.Contains(msg, "not-the-sandbox-secret-123") {
					t.Errorf("error %q must name the client id and not the secret", msg)
				}
				if n := len(r.apiRequests()); n != 0 || r.c.Budget().Used() != 0 {
					t.Errorf("%d API calls, budget used %d, want none", n, r.c.Budget().Used())
				}
				if te := r.tokenErrs(); len(te) != 1 || te[0] == nil {
					t.Errorf("Token hook got %v, want one error", te)
				}
			},
		},
		{name: "auth: a token endpoint that fails with 5xx is retried", run: func(t *testing.T, r *rig) {
			r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 503, Path: salesapitest.PathToken, Count: 1})
			if _, err := r.list(ctx, salesapi.Query{}); err != nil {
				t.Fatal(err)
			}
			if te := r.tokenErrs(); len(te) != 2 || !errors.Is(te[0], salesapi.ErrAuth) || te[1] != nil {
				t.Errorf("Token hook got %v, want an error then success", te)
			}
			if n := len(r.apiRequests()); n != 1 {
				t.Errorf("%d API calls, want 1", n)
			}
		}},
		{
			name: "auth: never more than 20 live tokens, even when every call is refused",
			opts: rigOptions{
				sandbox: func(c *salesapitest.Config) { c.Rate = -1 },
				client:  func(c *salesapi.Config) { c.Rate = 1000 },
			},
			run: func(t *testing.T, r *rig) {
				r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: http.StatusUnauthorized})
				var err error
				for range 30 {
					if _, err = r.list(ctx, salesapi.Query{}); errors.Is(err, salesapi.ErrAuth) {
						break
					}
				}
				var te *salesapi.TokenError
				if !errors.As(err, &te) || te.Code != "too_many_tokens" {
					t.Fatalf("last err = %v, want our own too_many_tokens refusal", err)
				}
				if live := r.srv.LiveTokens(); live > salesapi.MaxLiveTokens {
					t.Errorf("%d live tokens at the sandbox, want at most %d", live, salesapi.MaxLiveTokens)
				}
				for _, q := range r.tokenRequests() {
					if q.Status != http.StatusOK {
						t.Errorf("the token endpoint refused a fetch with %d", q.Status)
					}
				}
			},
		},

		// --- Calls ---
		{name: "calls: Accept, User-Agent with the version, kept-alive connections", run: func(t *testing.T, r *rig) {
			for range 3 {
				if _, err := r.list(ctx, salesapi.Query{}); err != nil {
					t.Fatal(err)
				}
			}
			var api []sent
			for _, s := range r.rec.sent() {
				if s.form == nil {
					api = append(api, s)
				}
			}
			ua := regexp.MustCompile(`^salesbridge/\S+$`)
			for i, s := range api {
				if got := s.header.Get("Accept"); got != "application/json; charset=UTF-8" {
					t.Errorf("Accept %q", got)
				}
				if got := s.header.Get("User-Agent"); !ua.MatchString(got) {
					t.Errorf("User-Agent %q, want salesbridge/<version>", got)
				}
				if i > 0 && !s.reused {
					t.Errorf("call %d opened a new connection, want keep-alive", i+1)
				}
			}
		}},
		{name: "calls: ListOrders sends beginCreatedAt in the spec's format and returns the orders", run: func(t *testing.T, r *rig) {
			created := r.srv.CreateOrders(3, salesapitest.OrderSpec{CreatedAt: epoch.Add(-2 * time.Hour)})
			r.srv.CreateOrders(2, salesapitest.OrderSpec{CreatedAt: epoch.Add(-5 * time.Hour)})
			orders, err := r.list(ctx, salesapi.Query{BeginCreatedAt: epoch.Add(-3*time.Hour + 123456789), Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var got, want []int64
			for _, o := range orders {
				got = append(got, o.ID)
			}
			for _, o := range created {
				want = append(want, o.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("ids %v, want %v", got, want)
			}
			q := r.apiRequests()[0].Query
			if !strings.Contains(q, "beginCreatedAt=2025-03-03T06%3A00%3A00.123Z") || !strings.Contains(q, "limit=100") {
				t.Errorf("query %q, want beginCreatedAt=2025-03-03T06:00:00.123Z and limit=100", q)
			}
		}},
		{name: "calls: 204 is an empty list", run: func(t *testing.T, r *rig) {
			orders, err := r.list(ctx, salesapi.Query{Status: ptr(salesapi.StatusCancel)})
			if err != nil || orders == nil || len(orders) != 0 {
				t.Fatalf("ListOrders = %v, %v; want an empty list", orders, err)
			}
			if got := statuses(r.apiRequests()); !slices.Equal(got, []int{204}) {
				t.Errorf("statuses %v, want [204]", got)
			}
		}},
		{name: "calls: PatchOrder returns the order as changed", run: func(t *testing.T, r *rig) {
			o := r.srv.CreateOrder(salesapitest.OrderSpec{})
			got, err := r.patch(ctx, o.ID, salesapi.Patch{Status: ptr(salesapi.StatusProgress), FinalPrice: ptr(int64(6_100_000)), Comment: ptr("перезвонить")})
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != o.ID || got.Status != salesapi.StatusProgress || got.FinalPrice == nil || *got.FinalPrice != 6_100_000 || got.Comment != "перезвонить" {
				t.Errorf("PatchOrder returned id %d status %v finalPrice %v comment %q", got.ID, got.Status, got.FinalPrice, got.Comment)
			}
			if q := r.apiRequests(); len(q) != 1 || q[0].Method != http.MethodPatch || !strings.HasSuffix(q[0].Path, "/external/order/"+strconv.FormatInt(o.ID, 10)) {
				t.Errorf("requests %+v", q)
			}
		}},
		{name: "calls: invalid queries and patches are refused locally and spend nothing", run: func(t *testing.T, r *rig) {
			long := strings.Repeat("ж", salesapi.MaxCommentRunes+1)
			for _, call := range []func() error{
				func() error { _, err := r.list(ctx, salesapi.Query{Limit: salesapi.MaxLimit + 1}); return err },
				func() error { _, err := r.list(ctx, salesapi.Query{Limit: -1}); return err },
				func() error { _, err := r.list(ctx, salesapi.Query{Status: ptr(salesapi.Status(8))}); return err },
				func() error { _, err := r.list(ctx, salesapi.Query{OGRN: []string{"12345"}}); return err },
				func() error { _, err := r.patch(ctx, 1, salesapi.Patch{}); return err },
				func() error {
					_, err := r.patch(ctx, 1, salesapi.Patch{Status: ptr(salesapi.StatusCancel)})
					return err
				},
				func() error { _, err := r.patch(ctx, 1, salesapi.Patch{Status: ptr(salesapi.StatusNew)}); return err },
				func() error { _, err := r.patch(ctx, 1, salesapi.Patch{Comment: &long}); return err },
				func() error { _, err := r.patch(ctx, 1, salesapi.Patch{FinalPrice: ptr(int64(-1))}); return err },
				func() error { _, err := r.patch(ctx, 0, salesapi.Patch{Comment: ptr("x")}); return err },
			} {
				if err := call(); !errors.Is(err, salesapi.ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
			}
			if n := len(r.srv.Requests()); n != 0 {
				t.Errorf("%d requests reached the sandbox, want none", n)
			}
		}},
		{
			name: "calls: an answer over the size cap is an error, not retried",
			opts: rigOptions{client: func(c *salesapi.Config) { c.MaxBodyBytes = 4 << 10 }},
			run: func(t *testing.T, r *rig) {
				r.srv.CreateOrders(20, salesapitest.OrderSpec{CreatedAt: epoch.Add(-time.Hour)})
				if _, err := r.list(ctx, salesapi.Query{}); !errors.Is(err, salesapi.ErrTooLarge) {
					t.Fatalf("err = %v, want ErrTooLarge", err)
				}
				if n := len(r.apiRequests()); n != 1 {
					t.Errorf("%d requests, want 1", n)
				}
			},
		},

		// --- Retries ---
		{name: "retry: a 200 that is not JSON is retried", run: retriedOnce(salesapitest.Fault{Kind: salesapitest.FaultMalformed}, salesapi.ErrMalformed)},
		{name: "retry: a 200 with an HTML page is retried", run: retriedOnce(salesapitest.Fault{Kind: salesapitest.FaultHTML}, salesapi.ErrMalformed)},
		{name: "retry: an empty 200 is retried", run: retriedOnce(salesapitest.Fault{Kind: salesapitest.FaultEmpty}, salesapi.ErrMalformed)},
		{name: "retry: a truncated 200 is retried", run: retriedOnce(salesapitest.Fault{Kind: salesapitest.FaultTruncated}, salesapi.ErrMalformed)},
		{name: "retry: 500 is retried", run: retriedOnce(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 500}, salesapi.ErrUnavailable)},
		{name: "retry: 502 is retried", run: retriedOnce(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 502}, salesapi.ErrUnavailable)},
		{name: "retry: 503 is retried", run: retriedOnce(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 503}, salesapi.ErrUnavailable)},
		{name: "retry: 504 is retried", run: retriedOnce(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 504}, salesapi.ErrUnavailable)},
		{name: "retry: a dropped connection is retried, never resent behind the budget's back", run: func(t *testing.T, r *rig) {
			for range 2 { // warm a kept-alive connection: net/http would resend a GET on it
				if _, err := r.list(ctx, salesapi.Query{}); err != nil {
					t.Fatal(err)
				}
			}
			retriedOnceAfter(t, r, salesapitest.Fault{Kind: salesapitest.FaultDrop}, 2)
		}},
		{
			name: "retry: a timeout is retried",
			opts: rigOptions{client: func(c *salesapi.Config) { c.Timeout = 150 * time.Millisecond }},
			run: func(t *testing.T, r *rig) {
				retriedOnceAfter(t, r, salesapitest.Fault{Kind: salesapitest.FaultSlow, Delay: 5 * time.Second, RealTime: true}, 0)
				if ci := r.callInfos(); len(ci) != 2 || ci[0].StatusCode != 0 || !errors.Is(ci[0].Err, salesapi.ErrUnavailable) {
					t.Errorf("attempts %+v, want a timed-out one then a good one", ci)
				}
			},
		},
		{
			name: "retry: a 200 that stays malformed is ErrMalformed after the bounded retries",
			opts: rigOptions{client: func(c *salesapi.Config) { c.MaxRetries = 2 }},
			run: func(t *testing.T, r *rig) {
				r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultHTML})
				if _, err := r.list(ctx, salesapi.Query{}); !errors.Is(err, salesapi.ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				if n := len(r.apiRequests()); n != 3 {
					t.Errorf("%d requests, want 3", n)
				}
			},
		},
		{
			name: "retry: a 5xx that persists is ErrUnavailable with the server's message",
			opts: rigOptions{client: func(c *salesapi.Config) { c.MaxRetries = 2 }},
			run: func(t *testing.T, r *rig) {
				r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 500})
				_, err := r.list(ctx, salesapi.Query{})
				var ae *salesapi.APIError
				if !errors.Is(err, salesapi.ErrUnavailable) || !errors.As(err, &ae) {
					t.Fatalf("err = %v, want an APIError matching ErrUnavailable", err)
				}
				if ae.StatusCode != 500 || ae.Method != "GET" || ae.Path != "external/orders" || ae.Message != "Internal server error" ||
					ae.Body == "" || len(ae.Body) > 512+len("…") {
					t.Errorf("APIError %+v", *ae)
				}
				ci := r.callInfos()
				if len(ci) != 3 || len(r.retryErrs()) != 2 {
					t.Fatalf("%d attempts, %d retries; want 3 and 2", len(ci), len(r.retryErrs()))
				}
				for i, c := range ci {
					if c.Attempt != i+1 || c.Method != "GET" || c.Endpoint != "orders" || c.StatusCode != 500 || c.Err == nil {
						t.Errorf("attempt %d reported %+v", i+1, c)
					}
				}
				if d, w := r.logs.FilterMessage("API call").Len(), r.logs.FilterMessage("retrying API call").Len(); d != 3 || w != 2 {
					t.Errorf("%d debug lines for attempts and %d warnings for retries, want 3 and 2", d, w)
				}
			},
		},
		{
			name: "retry: timeouts that persist are ErrUnavailable",
			opts: rigOptions{client: func(c *salesapi.Config) { c.Timeout = 100 * time.Millisecond; c.MaxRetries = 1 }},
			run: func(t *testing.T, r *rig) {
				r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultSlow, Delay: 5 * time.Second, RealTime: true})
				_, err := r.list(ctx, salesapi.Query{})
				if !errors.Is(err, salesapi.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want ErrUnavailable (and not the caller's deadline)", err)
				}
			},
		},
		{
			name: "retry: dropped connections that persist are ErrUnavailable",
			opts: rigOptions{client: func(c *salesapi.Config) { c.MaxRetries = 1 }},
			run: func(t *testing.T, r *rig) {
				r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultDrop})
				if _, err := r.list(ctx, salesapi.Query{}); !errors.Is(err, salesapi.ErrUnavailable) {
					t.Fatalf("err = %v, want ErrUnavailable", err)
				}
				if n := len(r.apiRequests()); n != 2 {
					t.Errorf("%d requests, want 2", n)
				}
			},
		},
		{name: "retry: a PATCH whose answer is lost is retried and changes the order once", run: func(t *testing.T, r *rig) {
			o := r.srv.CreateOrder(salesapitest.OrderSpec{})
			r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultDrop, Path: salesapitest.PathOrder, Count: 1})
			got, err := r.patch(ctx, o.ID, salesapi.Patch{Status: ptr(salesapi.StatusConfirmed), FinalPrice: ptr(int64(5_900_000))})
			if err != nil || got.Status != salesapi.StatusConfirmed {
				t.Fatalf("PatchOrder = %v, %v; want the order CONFIRMED", got.Status, err)
			}
			var byAPI int
			for _, c := range r.srv.ChangesOf(o.ID) {
				if c.Who == salesapitest.API {
					byAPI++
				}
			}
			if n := len(r.apiRequests()); n != 2 || byAPI != 2 {
				t.Errorf("%d requests and %d changes by the API, want 2 requests and 2 changes (status, price) made once", n, byAPI)
			}
		}},
		{name: "no retry: 400 is ErrBadRequest", run: noRetryOn(400, salesapi.ErrBadRequest)},
		{name: "no retry: 403 is ErrForbidden", run: noRetryOn(403, salesapi.ErrForbidden)},
		{name: "no retry: 404 is ErrNotFound", run: noRetryOn(404, salesapi.ErrNotFound)},
		{name: "no retry: 406 is ErrNotAcceptable", run: noRetryOn(406, salesapi.ErrNotAcceptable)},
		{name: "no retry: an OGRN outside the contract is ErrForbidden", run: func(t *testing.T, r *rig) {
			_, err := r.list(ctx, salesapi.Query{OGRN: []string{"1234567890123"}})
			if !errors.Is(err, salesapi.ErrForbidden) || len(r.apiRequests()) != 1 {
				t.Fatalf("err = %v after %d requests, want ErrForbidden after 1", err, len(r.apiRequests()))
			}
		}},
		{name: "no retry: PATCH of an unknown order is ErrNotFound naming the path", run: func(t *testing.T, r *rig) {
			_, err := r.patch(ctx, 987654, salesapi.Patch{Comment: ptr("x")})
			var ae *salesapi.APIError
			if !errors.Is(err, salesapi.ErrNotFound) || !errors.As(err, &ae) || ae.Method != "PATCH" || ae.Path != "external/order/987654" || ae.Message == "" {
				t.Fatalf("err = %v (%+v), want a 404 APIError for PATCH external/order/987654 with the server's message", err, ae)
			}
			if len(r.apiRequests()) != 1 {
				t.Errorf("%d requests, want 1", len(r.apiRequests()))
			}
		}},

		// --- Retry-After and the shared budget ---
		{name: "budget: Retry-After is the least wait and pauses every caller", run: func(t *testing.T, r *rig) {
			o := r.srv.CreateOrder(salesapitest.OrderSpec{})
			r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultMaintenance, RetryAfter: 30 * time.Second, Path: salesapitest.PathOrders, Count: 1})
			first := make(chan struct{})
			var once sync.Once
			r.onCall = func(salesapi.CallInfo) { once.Do(func() { close(first) }) }
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := r.list(ctx, salesapi.Query{}); err != nil {
					t.Errorf("ListOrders: %v", err)
				}
			})
			<-first
			if _, err := r.patch(ctx, o.ID, salesapi.Patch{Comment: ptr("during the pause")}); err != nil {
				t.Errorf("PatchOrder: %v", err)
			}
			wg.Wait()
			reqs := r.apiRequests()
			if len(reqs) != 3 || reqs[0].Status != 503 {
				t.Fatalf("statuses %v, want 503 then two answers", statuses(reqs))
			}
			for _, q := range reqs[1:] {
				if d := q.At.Sub(reqs[0].At); d < 30*time.Second {
					t.Errorf("%s sent %s after the 503, want at least its Retry-After of 30 s", q.Method, d)
				}
			}
		}},
		{
			name: "budget: a 429 pauses every caller until its Retry-After",
			opts: rigOptions{sandbox: func(c *salesapitest.Config) { c.Rate = 2 }},
			run: func(t *testing.T, r *rig) {
				for range 2 {
					if _, err := r.list(ctx, salesapi.Query{}); err != nil {
						t.Fatal(err)
					}
				}
				limited := make(chan struct{})
				var once sync.Once
				r.onLimit = func(time.Duration) { once.Do(func() { close(limited) }) }
				var wg sync.WaitGroup
				wg.Go(func() {
					if _, err := r.list(ctx, salesapi.Query{}); err != nil {
						t.Errorf("ListOrders: %v", err)
					}
				})
				<-limited
				if _, err := r.list(salesapi.WithPriority(ctx, salesapi.PriorityCommand), salesapi.Query{}); err != nil {
					t.Errorf("ListOrders: %v", err)
				}
				wg.Wait()
				r.mu.Lock()
				pause := r.limited[0]
				r.mu.Unlock()
				reqs := r.apiRequests()
				i := slices.IndexFunc(reqs, func(q salesapitest.Request) bool { return q.Status == 429 })
				if i != 2 || pause < 40*time.Second {
					t.Fatalf("statuses %v, pause %s: want the third call refused for the rest of the sandbox's minute", statuses(reqs), pause)
				}
				for _, q := range reqs[i+1:] {
					if d := q.At.Sub(reqs[i].At); d < pause {
						t.Errorf("a call %s after the 429, want none before its Retry-After of %s", d, pause)
					}
				}
				if n := len(reqs) - slices.IndexFunc(reqs[i+1:], func(q salesapitest.Request) bool { return q.Status != 429 }); n < 2 {
					t.Errorf("statuses %v: both callers must be served after the pause", statuses(reqs))
				}
			},
		},
		{name: "budget: a 429 without Retry-After pauses for a whole window", run: func(t *testing.T, r *rig) {
			r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 429, Count: 1})
			if _, err := r.list(ctx, salesapi.Query{}); err != nil {
				t.Fatal(err)
			}
			reqs := r.apiRequests()
			if len(reqs) != 2 || reqs[1].At.Sub(reqs[0].At) < salesapi.RateWindow+salesapi.WindowMargin {
				t.Errorf("requests %v at %v, want the retry a whole window after the 429", statuses(reqs), reqs)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.limited) != 1 || r.limited[0] != r.c.Budget().Window() {
				t.Errorf("RateLimited hook got %v", r.limited)
			}
		}},
		{name: "budget: every attempt takes a slot, token calls take none", run: func(t *testing.T, r *rig) {
			r.srv.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 500, Count: 2})
			if _, err := r.list(ctx, salesapi.Query{}); err != nil {
				t.Fatal(err)
			}
			if used := r.c.Budget().Used(); used != 3 || len(r.tokenRequests()) != 1 {
				t.Errorf("budget used %d after 3 attempts and %d token fetch", used, len(r.tokenRequests()))
			}
		}},
		{
			name: "budget: commands go before polls; WithPriority overrides",
			opts: rigOptions{client: func(c *salesapi.Config) { c.Rate = 1 }},
			run: func(t *testing.T, r *rig) {
				o := r.srv.CreateOrder(salesapitest.OrderSpec{})
				if _, err := r.list(ctx, salesapi.Query{}); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				wg.Go(func() {
					if _, err := r.list(ctx, salesapi.Query{Limit: 1}); err != nil {
						t.Error(err)
					}
				})
				r.waiting(salesapi.PriorityPoll, 1)
				wg.Go(func() {
					if _, err := r.patch(ctx, o.ID, salesapi.Patch{Comment: ptr("first")}); err != nil {
						t.Error(err)
					}
				})
				r.waiting(salesapi.PriorityCommand, 1)
				wg.Go(func() {
					if _, err := r.list(salesapi.WithPriority(ctx, salesapi.PriorityCommand), salesapi.Query{Limit: 2}); err != nil {
						t.Error(err)
					}
				})
				r.waiting(salesapi.PriorityCommand, 2)
				wg.Wait()
				var order []string
				for _, q := range r.apiRequests()[1:] {
					order = append(order, q.Method+" "+q.Query)
				}
				if want := []string{"PATCH ", "GET limit=2", "GET limit=1"}; !slices.Equal(order, want) {
					t.Errorf("served %q, want %q", order, want)
				}
			},
		},
		{
			name: "budget: a caller whose context ends while waiting takes no slot",
			opts: rigOptions{client: func(c *salesapi.Config) { c.Rate = 1 }},
			run: func(t *testing.T, r *rig) {
				if _, err := r.list(ctx, salesapi.Query{}); err != nil {
					t.Fatal(err)
				}
				cctx, cancel := context.WithCancel(ctx)
				done := make(chan error)
				go func() { _, err := r.list(cctx, salesapi.Query{}); done <- err }()
				r.waiting(salesapi.PriorityPoll, 1)
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
				if n := len(r.apiRequests()); n != 1 || r.c.Budget().Used() != 1 {
					t.Errorf("%d requests, budget used %d; want 1 and 1", n, r.c.Budget().Used())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newRig(t, tt.opts))
		})
	}
}

// retriedOnceAfter injects f for one call after skip calls already made,
// and checks that ListOrders succeeds with exactly one retry.
func retriedOnceAfter(t *testing.T, r *rig, f salesapitest.Fault, skip int) {
	t.Helper()
	f.Count = 1
	r.srv.InjectFault(f)
	if _, err := r.list(context.Background(), salesapi.Query{}); err != nil {
		t.Fatalf("ListOrders: %v", err)
	}
	if n := len(r.apiRequests()) - skip; n != 2 {
		t.Errorf("%d requests, want 2 (the fault, then the retry)", n)
	}
	if re := r.retryErrs(); len(re) != 1 || !errors.Is(re[0], salesapi.ErrUnavailable) {
		t.Errorf("retried for %v, want one retry for ErrUnavailable", re)
	}
}

// TestClientUnderLoad: pollers that call as fast as they may and commanders
// that arrive at random share one client for four minutes of sandbox time
// (at speed 60, so that the 1 s margin is 16 ms of real time).
// The sandbox, which enforces the spec's 10 calls a minute, never answers
// 429, never counts more than 10 calls in any 60 s, and commands wait
// less than polls. It prints the figures.
func TestClientUnderLoad(t *testing.T) {
	r := newRig(t, rigOptions{speed: 60})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	orders := r.srv.CreateOrders(10, salesapitest.OrderSpec{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := r.c.ListOrders(ctx, salesapi.Query{Limit: 10}); err != nil && ctx.Err() == nil {
					t.Errorf("ListOrders: %v", err)
				}
			}
		})
	}
	for i := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				if clock.Sleep(ctx, r.clk, time.Duration(rng.ExpFloat64()*float64(40*time.Second))) != nil {
					return
				}
				o := orders[rng.IntN(len(orders))]
				if _, err := r.c.PatchOrder(ctx, o.ID, salesapi.Patch{Comment: ptr("load")}); err != nil && ctx.Err() == nil {
					t.Errorf("PatchOrder: %v", err)
				}
			}
		})
	}
	_ = clock.Sleep(context.Background(), r.clk, 4*time.Minute)
	cancel()
	wg.Wait()

	reqs := r.apiRequests()
	var times []time.Time
	for _, q := range reqs {
		if q.Status == http.StatusTooManyRequests {
			t.Errorf("the sandbox answered 429 at %s", q.At.Sub(epoch))
		}
		times = append(times, q.At)
	}
	most := 0
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < time.Minute; j++ {
			n++
		}
		most = max(most, n)
	}
	waits := map[string][]time.Duration{}
	for _, ci := range r.callInfos() {
		waits[ci.Method] = append(waits[ci.Method], ci.Wait)
	}
	cmdMean, cmdP95 := meanP95(waits["PATCH"])
	pollMean, pollP95 := meanP95(waits["GET"])
	t.Logf("%d calls in 4 min of sandbox time: max %d in any 60 s at the sandbox; PATCH n=%d wait mean %s p95 %s; GET n=%d wait mean %s p95 %s",
		len(reqs), most, len(waits["PATCH"]), cmdMean, cmdP95, len(waits["GET"]), pollMean, pollP95)
	if most > salesapi.DefaultRate {
		t.Errorf("the sandbox counted %d calls in one window, want at most %d", most, salesapi.DefaultRate)
	}
	if len(waits["PATCH"]) == 0 || cmdMean >= pollMean {
		t.Errorf("commands waited %s on average, polls %s: commands must go first", cmdMean, pollMean)
	}
}

func meanP95(d []time.Duration) (mean, p95 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return (sum / time.Duration(len(d))).Round(10 * time.Millisecond), d[(len(d)*95+99)/100-1].Round(10 * time.Millisecond)
}
