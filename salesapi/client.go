package salesapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
)

// Log keys.
const (
	logMethod   = "method"
	logEndpoint = "endpoint"
	logPath     = "path"
	logStatus   = "status"
	logAttempt  = "attempt"
	logPriority = "priority"
	logDuration = "duration"
	logWait     = "budget_wait"
	logTTL      = "ttl"
	logPause    = "pause"
	logBackoff  = "backoff"
)

const (
	acceptHeader      = "application/json; charset=UTF-8"
	contentTypeHeader = "application/json; charset=UTF-8"
	endpointOrders    = "orders"
	endpointOrder     = "order"
)

// Client calls the Sales Module API for one account. It is safe for
// concurrent use; every call of every goroutine draws from one Budget.
type Client struct {
	cfg       Config
	api       *url.URL
	http      *http.Client
	transport *http.Transport // ours to close; nil if the caller gave HTTPClient
	clk       clock.Clock
	budget    *Budget
	tokens    *tokenSource
	log       *zap.Logger
}

// New returns a client for cfg; it does not contact the API.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	api, err := url.Parse(cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("salesapi config: api url: %w", err)
	}
	c := &Client{cfg: cfg, api: api, http: cfg.HTTPClient, clk: cfg.Clock, log: cfg.Logger}
	if c.http == nil {
		c.transport = newTransport()
		c.http = &http.Client{Transport: c.transport}
	}
	c.budget = NewBudget(cfg.Rate, budgetWindow(cfg.Clock), cfg.Clock)
	c.tokens = newTokenSource(cfg, c.http, c.log)
	return c, nil
}

// Budget returns the account's call budget, shared by every call of c.
func (c *Client) Budget() *Budget { return c.budget }

// ClientID returns the account's client id.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// Close releases the idle connections of the Client's own HTTP client.
// Calls in flight are not interrupted; cancel their contexts for that.
func (c *Client) Close() error {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	return nil
}

// ListOrders returns the orders q selects (GET external/orders). A 204 is an
// empty list. It waits for the budget as PriorityPoll unless ctx carries a
// priority (WithPriority).
func (c *Client) ListOrders(ctx context.Context, q Query) ([]Order, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	var orders []Order
	err := c.call(ctx, priority(ctx, PriorityPoll), request{
		method:   http.MethodGet,
		endpoint: endpointOrders,
		path:     "external/orders",
		query:    q.Values(),
	}, func(status int, body []byte) error {
		if status == http.StatusNoContent {
			orders = []Order{}
			return nil
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return fmt.Errorf("%w: an empty body with status %d", ErrMalformed, status)
		}
		list, err := DecodeOrders(body)
		if err != nil {
			return err
		}
		orders = list
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return orders, nil
}

// PatchOrder changes order id (PATCH external/order/{id}) and returns the
// order as the API answers. It waits for the budget as PriorityCommand
// unless ctx carries a priority (WithPriority).
func (c *Client) PatchOrder(ctx context.Context, id int64, p Patch) (Order, error) {
	if id <= 0 {
		return Order{}, fmt.Errorf("patch order: %w: order id %d", ErrInvalid, id)
	}
	if err := p.Validate(); err != nil {
		return Order{}, fmt.Errorf("patch order %d: %w", id, err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Order{}, fmt.Errorf("patch order %d: %w", id, err)
	}
	var order Order
	err = c.call(ctx, priority(ctx, PriorityCommand), request{
		method:   http.MethodPatch,
		endpoint: endpointOrder,
		path:     "external/order/" + strconv.FormatInt(id, 10),
		body:     body,
	}, func(status int, body []byte) error {
		o, err := DecodeOrder(body)
		if err != nil {
			return err
		}
		order = o
		return nil
	})
	if err != nil {
		return Order{}, fmt.Errorf("patch order %d: %w", id, err)
	}
	return order, nil
}

func priority(ctx context.Context, def Priority) Priority {
	if p, ok := PriorityFrom(ctx); ok {
		return p
	}
	return def
}

type request struct {
	method, endpoint, path string
	query                  url.Values
	body                   []byte
}

// call makes r with retries: each attempt waits for a slot of the budget;
// retryable failures back off (exponential, jittered, capped, at least the
// server's Retry-After) on the client's clock. accept interprets a 2xx
// answer and returns an error wrapping ErrMalformed if it cannot.
func (c *Client) call(ctx context.Context, prio Priority, r request, accept func(status int, body []byte) error) error {
	var (
		attempt int
		floor   time.Duration // the last Retry-After, the minimum backoff
		last    error
	)
	op := func() error {
		floor = 0
		err := c.attempt(ctx, prio, r, accept, &attempt)
		if err == nil {
			return nil
		}
		last = err
		if ctx.Err() != nil || !retryable(err) {
			return backoff.Permanent(err)
		}
		var ae *APIError
		if errors.As(err, &ae) {
			floor = ae.RetryAfter
		}
		return err
	}
	notify := func(err error, d time.Duration) {
		if c.cfg.Hooks.Retry != nil {
			c.cfg.Hooks.Retry(r.method, err)
		}
		c.log.Warn("retrying API call", zap.String(logMethod, r.method), zap.String(logEndpoint, r.endpoint),
			zap.Int(logAttempt, attempt), zap.Duration(logBackoff, d), zap.Error(err))
	}
	b := newBackOff(ctx, c.clk, c.cfg.RetryInitial, c.cfg.RetryMax, c.cfg.MaxRetries, &floor)
	err := backoff.RetryNotifyWithTimer(op, b, notify, &clockTimer{clk: c.clk})
	if err != nil && ctx.Err() != nil && last != nil && !errors.Is(last, ctx.Err()) {
		return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), last)
	}
	return err
}

// attempt makes one attempt of r, or two if the API refuses the token: the
// token is then dropped, a new one fetched and the request sent once more.
func (c *Client) attempt(ctx context.Context, prio Priority, r request, accept func(int, []byte) error, n *int) error {
	for reauth := false; ; reauth = true {
		// Get the token before taking a slot, so that an auth failure
		// spends no call; get it again after, in case it expired while we
		// waited (cheap when cached).
		if _, err := c.tokens.token(ctx); err != nil {
			return err
		}
		waitStart := c.clk.Now()
		if err := c.budget.Wait(ctx, prio); err != nil {
			return err
		}
		wait := c.clk.Now().Sub(waitStart)
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return err
		}
		*n++
		start := c.clk.Now()
		status, header, body, err := c.send(ctx, r, tok)
		if err == nil {
			err = c.judge(r, status, header, body, accept)
		}
		info := CallInfo{Method: r.method, Endpoint: r.endpoint, StatusCode: status,
			Duration: c.clk.Now().Sub(start), Wait: wait, Attempt: *n, Err: err}
		if c.cfg.Hooks.Call != nil {
			c.cfg.Hooks.Call(info)
		}
		c.log.Debug("API call", zap.String(logMethod, r.method), zap.String(logPath, r.path),
			zap.Int(logStatus, status), zap.Int(logAttempt, *n), zap.Stringer(logPriority, prio),
			zap.Duration(logDuration, info.Duration), zap.Duration(logWait, wait), zap.Error(err))
		if status == http.StatusUnauthorized {
			c.tokens.invalidate(tok)
			if !reauth {
				continue
			}
			return fmt.Errorf("the API refused a freshly fetched token of client %q: %w", c.cfg.ClientID, err)
		}
		return err
	}
}

// send sends r once and reads the answer, both within Timeout. A transport
// failure (no answer, a dropped connection, a timeout) is returned wrapping
// ErrUnavailable, unless ctx ended.
func (c *Client) send(ctx context.Context, r request, tok string) (int, http.Header, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.api.JoinPath(r.path)
	u.RawQuery = r.query.Encode()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u.String(), body)
	if err != nil {
		return 0, nil, nil, err
	}
	if r.body == nil {
		// net/http silently resends a GET without a body when a reused
		// connection breaks after the request was written: a call the
		// server counts and the budget does not. A body that is empty but
		// not replayable turns that off (nothing is sent for it).
		req.Body, req.GetBody = emptyBody{}, nil
	}
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Connection", "keep-alive")
	if r.body != nil {
		req.Header.Set("Content-Type", contentTypeHeader)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, c.transportError(ctx, r, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return resp.StatusCode, resp.Header, nil, c.transportError(ctx, r, err)
		}
		// The server sent headers, then broke off: a truncated answer.
		return resp.StatusCode, resp.Header, nil, fmt.Errorf("%w: %s %s: status %d: the answer broke off after %d bytes: %w",
			ErrMalformed, r.method, r.path, resp.StatusCode, len(b), err)
	}
	if int64(len(b)) > c.cfg.MaxBodyBytes {
		return resp.StatusCode, resp.Header, nil, fmt.Errorf("%s %s: %w: over %d bytes", r.method, r.path, ErrTooLarge, c.cfg.MaxBodyBytes)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// emptyBody is the body of a GET: nothing, and not replayable.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

func (c *Client) transportError(ctx context.Context, r request, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s %s: no answer within %s", ErrUnavailable, r.method, r.path, c.cfg.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its URL repeats what we say
	}
	return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, r.method, r.path, err)
}

// judge turns an answer into nil or an error, and applies what it says to
// the budget: a 429, or any Retry-After, pauses every call of the account.
func (c *Client) judge(r request, status int, header http.Header, body []byte, accept func(int, []byte) error) error {
	now := c.clk.Now()
	retryAfter := parseRetryAfter(header.Get("Retry-After"), now)
	if status == http.StatusTooManyRequests {
		pause := retryAfter
		if pause <= 0 {
			pause = c.budget.Window() // the server did not say: wait out its whole window
		}
		c.budget.Pause(now.Add(pause))
		if c.cfg.Hooks.RateLimited != nil {
			c.cfg.Hooks.RateLimited(pause)
		}
		c.log.Warn("rate limited by the API", zap.String(logMethod, r.method), zap.String(logEndpoint, r.endpoint),
			zap.Duration(logPause, pause), zap.Int("budget_used", c.budget.Used()))
	} else if retryAfter > 0 && status >= 500 {
		c.budget.Pause(now.Add(retryAfter))
		c.log.Warn("API asked to retry later", zap.Int(logStatus, status), zap.Duration(logPause, retryAfter))
	}
	if status < 200 || status > 299 {
		return newAPIError(r.method, r.path, status, body, retryAfter)
	}
	if err := accept(status, body); err != nil {
		return fmt.Errorf("%s %s: status %d: %w", r.method, r.path, status, err)
	}
	return nil
}
