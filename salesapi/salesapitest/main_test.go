package salesapitest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// epoch is where the manual clocks of the tests start.
var epoch = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// start returns a started server on a manual clock at epoch, closed at the
// end of the test.
func start(t *testing.T, cfg salesapitest.Config) (*salesapitest.Server, *clock.Manual) {
	t.Helper()
	m := clock.NewManual(epoch)
	if cfg.Clock == nil {
		cfg.Clock = m
	}
	s := salesapitest.NewServer(cfg)
	t.Cleanup(s.Close)
	return s, m
}

// client is a plain net/http client for one test.
type client struct {
	t     *testing.T
	s     *salesapitest.Server
	hc    *http.Client
	token string
}

func newClient(t *testing.T, s *salesapitest.Server) *client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, s: s, hc: &http.Client{Transport: tr}}
}

// answer is what a call got.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // transport error (dropped connection, truncated body)
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %.200s", err, a.body)
	}
	return m
}

func (c *client) do(method, u string, hdr http.Header, body string) answer {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// tokenCall posts a form to the token endpoint.
func (c *client) tokenCall(form url.Values) answer {
	c.t.Helper()
	return c.do(http.MethodPost, c.s.TokenURL(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
}

func (c *client) credentials() url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {c.s.ClientID()}, "client_secret": {c.s.ClientSecret()}}
}

// login gets a token and keeps it for api calls.
func (c *client) login() {
	c.t.Helper()
	a := c.tokenCall(c.credentials())
	if a.status != http.StatusOK {
		c.t.Fatalf("token: %d %s", a.status, a.body)
	}
	c.token = a.json(c.t)["access_token"].(string)
}

func (c *client) authHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + c.token}, "Accept": {"application/json; charset=UTF-8"}}
}

// list calls GET external/orders with the raw query.
func (c *client) list(rawQuery string) answer {
	c.t.Helper()
	u := c.s.URL + "external/orders"
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return c.do(http.MethodGet, u, c.authHeader(), "")
}

// patch calls PATCH external/order/{id}.
func (c *client) patch(id string, body string) answer {
	c.t.Helper()
	h := c.authHeader()
	h.Set("Content-Type", "application/json")
	return c.do(http.MethodPatch, c.s.URL+"external/order/"+id, h, body)
}

// wantSpringError checks an API error answer: status, Content-Type and a
// Spring-style JSON body.
func wantSpringError(t *testing.T, a answer, status int) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("transport error: %v", a.err)
	}
	if a.status != status {
		t.Fatalf("status = %d, want %d; body %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != salesapitest.ContentType {
		t.Errorf("Content-Type = %q, want %q", ct, salesapitest.ContentType)
	}
	m := a.json(t)
	if m["status"] != float64(status) || m["error"] != http.StatusText(status) || m["message"] == "" {
		t.Errorf("error body = %s, want status %d, error %q and a message", a.body, status, http.StatusText(status))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func errorsIs(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}
