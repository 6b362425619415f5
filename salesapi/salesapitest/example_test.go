package salesapitest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func Example() {
	clk := clock.NewManual(time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC))
	srv := salesapitest.NewServer(salesapitest.Config{Clock: clk})
	defer srv.Close()
	order := srv.CreateOrder(salesapitest.OrderSpec{Price: 6_500_000})

	// Any HTTP client: get a token, then list the orders of the last day.
	resp, err := http.PostForm(srv.TokenURL(), url.Values{"grant_type": {"client_credentials"},
		"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()}})
	if err != nil {
		panic(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"external/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	orders, _ := salesapi.DecodeOrders(body)
	fmt.Println(resp.StatusCode, tok.ExpiresIn, len(orders), orders[0].ID == order.ID, orders[0].Status, orders[0].Price)

	// The office works the order in its own UI; three days later nothing
	// else has happened to the other one.
	_ = srv.SetStatus(order.ID, salesapi.StatusProgress)
	other := srv.CreateOrder(salesapitest.OrderSpec{})
	clk.Advance(72 * time.Hour)
	o, _ := srv.Order(other.ID)
	fmt.Println(o.Status)
	for _, c := range srv.ChangesOf(other.ID) {
		fmt.Println(c.Kind, c.Who, string(c.From), "->", string(c.To))
	}
	// Output:
	// 200 300 1 true NEW 6500000
	// UNPROCESSED
	// created visitor null -> 0
	// status system 0 -> 7
}
