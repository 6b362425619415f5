package salesapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

func ExampleDecodeOrder() {
	body := []byte(`{
	  "id": 481516, "number": "НД-000123", "status": "2",
	  "price": 6.1e6, "finalPrice": null, "createdAt": "2025-03-03T12:00:00.807+03:00",
	  "statusChanges": [
	    {"id": 9000, "status": 0, "createdAt": "2025-03-03T09:00:00.807Z"},
	    {"id": 9001, "status": 2, "createdAt": "2025-03-04T10:15:00.000Z"}
	  ],
	  "addedLater": true
	}`)
	o, err := salesapi.DecodeOrder(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(o.ID, o.Number, o.Status, o.Price, o.FinalPrice == nil)
	fmt.Println(salesapi.FormatTime(o.CreatedAt))
	for _, c := range o.StatusChanges {
		fmt.Println(c.ID, c.Status)
	}
	fmt.Println(strings.Contains(string(o.Raw), `"addedLater":true`))

	_, err = salesapi.DecodeOrder([]byte(`<html>502 Bad Gateway</html>`))
	fmt.Println(errors.Is(err, salesapi.ErrMalformed), err)
	// Output:
	// 481516 НД-000123 CONFIRMED 6100000 true
	// 2025-03-03T09:00:00.807Z
	// 9000 NEW
	// 9001 CONFIRMED
	// true
	// true malformed API answer: expected a JSON object, got 28 bytes of HTML or XML
}

func ExampleQuery_Values() {
	st := salesapi.StatusProgress
	q := salesapi.Query{
		BeginCreatedAt: time.Date(2025, 3, 3, 12, 0, 0, 123456789, time.FixedZone("MSK", 3*3600)),
		Limit:          100,
		OGRN:           []string{"1027700000001", "1037700000002"},
		Status:         &st,
	}
	fmt.Println(q.Validate())
	fmt.Println(q.Values().Encode())
	// Output:
	// <nil>
	// beginCreatedAt=2025-03-03T09%3A00%3A00.123Z&limit=100&ogrn=1027700000001&ogrn=1037700000002&status=1
}

func ExamplePatch_Validate() {
	done := salesapi.StatusComplete
	long := strings.Repeat("ж", 1001)
	for _, p := range []salesapi.Patch{
		{Status: &done},
		{},
		{Comment: &long},
	} {
		fmt.Println(p.Validate())
	}
	// Output:
	// <nil>
	// invalid request: empty patch: set at least one of status, finalPrice, comment
	// invalid request: comment has 1001 characters, at most 1000 allowed
}

func ExampleAPIError() {
	var err error = fmt.Errorf("patch order 42: %w", &salesapi.APIError{
		StatusCode: 404, Method: "PATCH", Path: "external/order/42", Message: "Заявка не найдена",
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, salesapi.ErrNotFound), errors.Is(err, salesapi.ErrUnavailable))
	var ae *salesapi.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.StatusCode, ae.Path)
	}
	// Output:
	// patch order 42: PATCH external/order/42: 404 not found: Заявка не найдена
	// true false
	// 404 external/order/42
}

// A client against the sandbox: list the new orders, then take one into
// work.
func ExampleClient() {
	clk := clock.NewManual(time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC))
	srv := salesapitest.NewServer(salesapitest.Config{Clock: clk, Seed: 1})
	defer srv.Close()
	srv.CreateOrder(salesapitest.OrderSpec{CreatedAt: clk.Now().Add(-time.Hour), Number: "НД-000001"})

	c, err := salesapi.New(salesapi.Config{
		APIURL: srv.URL, AuthURL: srv.AuthURL,
		ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
		Clock: clk,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	ctx := context.Background()
	orders, err := c.ListOrders(ctx, salesapi.Query{Status: new(salesapi.StatusNew)})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range orders {
		fmt.Println(o.Number, o.Status)
	}
	o, err := c.PatchOrder(ctx, orders[0].ID, salesapi.Patch{Status: new(salesapi.StatusProgress)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(o.Number, o.Status, len(o.StatusChanges))
	fmt.Println("calls used:", c.Budget().Used(), "free:", c.Budget().Free())
	// Output:
	// НД-000001 NEW
	// НД-000001 PROGRESS 2
	// calls used: 2 free: 8
}
