package diff_test

import (
	"fmt"

	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
)

func mustDecode(body string) *salesapi.Order {
	o, err := salesapi.DecodeOrder([]byte(body))
	if err != nil {
		panic(err)
	}
	return &o
}

func show(changes []diff.Change) {
	for _, c := range changes {
		fmt.Print(c.ID)
		switch c.Type {
		case diff.StatusChanged:
			fmt.Printf(" %s→%s at %s", c.Status.From, c.Status.To, salesapi.FormatTime(c.At))
		case diff.PriceChanged:
			fmt.Printf(" %d at %s", c.Price.Price, salesapi.FormatTime(c.At))
		case diff.Updated:
			for _, f := range c.Fields {
				fmt.Printf(" %s: %s → %s", f.Path, f.Before, f.After)
			}
		}
		fmt.Println()
	}
}

// Two polls of one order: between them it was confirmed, then completed,
// its final price was set, and the customer changed the comment. The
// history yields the transitions with their real times; the comment, which
// no history explains, yields one Updated change.
func ExampleCompare() {
	prev := mustDecode(`{"id":481516,"status":1,"comment":"","finalPrice":null,"createdAt":"2024-11-01T12:08:58.807Z",
		"statusChanges":[{"id":9000,"status":0,"createdAt":"2024-11-01T12:08:58.807Z"},{"id":9001,"status":1,"createdAt":"2024-11-01T12:30:00.000Z"}],
		"priceChanges":[]}`)
	cur := mustDecode(`{"id":481516,"status":3,"comment":"signed","finalPrice":6000000,"createdAt":"2024-11-01T12:08:58.807Z",
		"statusChanges":[{"id":9003,"status":3,"createdAt":"2024-11-03T10:00:00.000Z"},{"id":9000,"status":0,"createdAt":"2024-11-01T12:08:58.807Z"},
			{"id":9001,"status":1,"createdAt":"2024-11-01T12:30:00.000Z"},{"id":9002,"status":2,"createdAt":"2024-11-02T09:00:00.000Z"}],
		"priceChanges":[{"id":7000,"price":6000000,"createdAt":"2024-11-02T09:00:00.000Z"}]}`)

	show(diff.Compare(prev, cur, diff.Options{PrevRev: 1}))
	fmt.Println(len(diff.Compare(cur, cur, diff.Options{})), "changes from an order to itself")
	// Output:
	// order/481516/status/9002 PROGRESS→CONFIRMED at 2024-11-02T09:00:00.000Z
	// order/481516/price/7000 6000000 at 2024-11-02T09:00:00.000Z
	// order/481516/status/9003 CONFIRMED→COMPLETE at 2024-11-03T10:00:00.000Z
	// order/481516/updated/2-af622697039204af comment: "" → "signed"
	// 0 changes from an order to itself
}

// An order seen for the first time after the first sync yields Created,
// then every transition its history holds.
func ExampleCompare_firstSeen() {
	cur := mustDecode(`{"id":17,"status":2,"createdAt":"2024-11-01T12:08:58.807Z",
		"statusChanges":[{"id":1,"status":0,"createdAt":"2024-11-01T12:08:58.807Z"},{"id":2,"status":1,"createdAt":"2024-11-01T13:00:00.000Z"},
			{"id":3,"status":2,"createdAt":"2024-11-01T14:00:00.000Z"}]}`)

	show(diff.Compare(nil, cur, diff.Options{First: diff.FirstCreated}))
	show(diff.Compare(nil, cur, diff.Options{First: diff.FirstSnapshot}))
	fmt.Println(diff.Compare(nil, cur, diff.Options{First: diff.FirstNone}) == nil)
	// Output:
	// order/17/created
	// order/17/status/2 NEW→PROGRESS at 2024-11-01T13:00:00.000Z
	// order/17/status/3 PROGRESS→CONFIRMED at 2024-11-01T14:00:00.000Z
	// order/17/snapshot/66e01649a6352339
	// true
}

// A status that moved without a history entry is reported as an Updated
// field.
func ExampleCompare_statusWithoutHistory() {
	prev := mustDecode(`{"id":5,"status":1,"createdAt":"2024-11-01T12:08:58.807Z","statusChanges":[{"id":1,"status":1,"createdAt":"2024-11-01T12:08:58.807Z"}]}`)
	cur := mustDecode(`{"id":5,"status":4,"createdAt":"2024-11-01T12:08:58.807Z","statusChanges":[{"id":1,"status":1,"createdAt":"2024-11-01T12:08:58.807Z"}]}`)

	show(diff.Compare(prev, cur, diff.Options{}))
	// Output:
	// order/5/updated/1-af694bc550ee477f status: 1 → 4
}

func ExampleEqual() {
	a := mustDecode(`{"id":5,"createdAt":"2024-11-01T12:08:58.807Z","flat":{"floor":3,"number":"12"}}`)
	b := mustDecode(`{"flat": {"number": "12", "floor": 3}, "createdAt": "2024-11-01T12:08:58.807Z", "id": 5}`)
	fmt.Println(diff.Equal(a, b))
	// Output: true
}
