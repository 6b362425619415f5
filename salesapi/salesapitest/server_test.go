package salesapitest_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func TestURLs(t *testing.T) {
	s, _ := start(t, salesapitest.Config{})
	for _, tt := range []struct{ got, prefix, suffix string }{
		{s.URL, "http://127.0.0.1:", "/api/eisgs/sales-module/v2/"},
		{s.AuthURL, "http://127.0.0.1:", "/idm-services/auth/realms/external-eisgs-idm/"},
		{s.TokenURL(), s.AuthURL, "protocol/openid-connect/token"},
	} {
		if !strings.HasPrefix(tt.got, tt.prefix) || !strings.HasSuffix(tt.got, tt.suffix) {
			t.Errorf("%q, want %s…%s", tt.got, tt.prefix, tt.suffix)
		}
	}
	if s.ClientID() != salesapitest.DefaultClientID || len(s.OGRNs()) != 2 {
		t.Errorf("defaults: %q %v", s.ClientID(), s.OGRNs())
	}
}

func TestUnstartedAndClose(t *testing.T) {
	m := clock.NewManual(epoch)
	s := salesapitest.NewUnstartedServer(salesapitest.Config{Clock: m, ClientID: "app-ext-test.1027700000001.eisgs", ClientSecret: "s3cret"})
	o := s.CreateOrder(salesapitest.OrderSpec{})
	s.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Count: 1})
	s.Start()
	c := newClient(t, s)
	c.login()
	wantSpringError(t, c.list(""), http.StatusInternalServerError)
	if got := ids(t, c.list("")); len(got) != 1 || got[0] != o.ID {
		t.Errorf("list %v", got)
	}
	s.Close()
	s.Close() // again: nothing
	if a := c.list(""); a.err == nil {
		t.Errorf("a closed server answered %d", a.status)
	}
	// Closing a server that never started releases its listener.
	u := salesapitest.NewUnstartedServer(salesapitest.Config{Clock: m})
	u.Close()
}

// Many clients and the office at once: run with -race.
func TestConcurrentUse(t *testing.T) {
	s, _ := start(t, salesapitest.Config{Rate: -1, Clock: clock.Scaled(epoch, 3600), Seed: 5, TokenTTL: 24 * time.Hour,
		Traffic: &salesapitest.Traffic{Orders: 200, OrdersPerDay: 5000}})
	orders := s.Orders()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, s)
			c.login()
			for i := range 25 {
				o := orders[(w*25+i)%len(orders)]
				switch i % 3 {
				case 0:
					if a := c.list("limit=50&beginCreatedAt=2025-01-01"); a.status != http.StatusOK {
						t.Errorf("list: %d", a.status)
					}
				case 1:
					a := c.patch(itoa(o.ID), fmt.Sprintf(`{"finalPrice":%d}`, 5_000_000+i))
					if a.status != http.StatusOK {
						t.Errorf("patch: %d %s", a.status, a.body)
					}
				default:
					_ = s.SetComment(o.ID, "звонок")
					_, _ = s.Order(o.ID)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(s.Requests()); n < 4*(25*2/3+1) {
		t.Errorf("%d requests logged", n)
	}
	// The histories still hold after all that.
	for _, o := range s.Orders() {
		for i := 1; i < len(o.StatusChanges); i++ {
			if !salesapitest.CanTransition(o.StatusChanges[i-1].Status, o.StatusChanges[i].Status) {
				t.Fatalf("order %d: %+v", o.ID, o.StatusChanges)
			}
		}
	}
}
