package diff

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/salesbridge/salesbridge/salesapi"
)

// Statuses, short.
const (
	sNew  = salesapi.StatusNew
	sProg = salesapi.StatusProgress
	sConf = salesapi.StatusConfirmed
	sComp = salesapi.StatusComplete
	sTerm = salesapi.StatusTerminated
)

// The base history: created NEW at 0, PROGRESS at 10.
var (
	h0 = sc{9000, 0, 0}
	h1 = sc{9001, 1, 10}
)

func TestCompareFirstSeen(t *testing.T) {
	long := []edit{
		set("status", 2),
		hist(h0, h1, sc{9002, 2, 30}),
		set("finalPrice", 5900000),
		prices(pc{7000, 6000000, 20}, pc{7001, 5900000, 30}),
	}
	tests := []struct {
		name  string
		cur   *salesapi.Order
		first First
		want  []Change
	}{
		{"snapshot", order(t, long...), FirstSnapshot, []Change{snapshot()}},
		{"none", order(t, long...), FirstNone, nil},
		{"created, history of one entry", order(t, set("status", 0), hist(h0)), FirstCreated, []Change{created(0)}},
		{"created, no history at all", order(t, set("status", 0), hist()), FirstCreated, []Change{created(0)}},
		{"created, then every later transition", order(t, long...), FirstCreated, []Change{
			created(0),
			status(9001, sNew, sProg, 10),
			price(7000, 6000000, 20),
			status(9002, sProg, sConf, 30),
			price(7001, 5900000, 30, 6000000),
		}},
		{"created, shuffled and repeated history", order(t,
			set("status", 2),
			hist(sc{9002, 2, 30}, h1, h0, h1, sc{9002, 2, 30}),
			prices(pc{7001, 5900000, 30}, pc{7000, 6000000, 20}, pc{7001, 5900000, 30}),
		), FirstCreated, []Change{
			created(0),
			status(9001, sNew, sProg, 10),
			price(7000, 6000000, 20),
			status(9002, sProg, sConf, 30),
			price(7001, 5900000, 30, 6000000),
		}},
		{"undefined First behaves as FirstCreated", order(t), First(42), []Change{created(0), status(9001, sNew, sProg, 10)}},
		{"nil cur", nil, FirstCreated, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkChanges(t, Compare(nil, tt.cur, Options{First: tt.first, PrevRev: 9}), tt.want)
		})
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur *salesapi.Order
		opt       Options
		want      []Change
	}{
		// Nothing changed.
		{"identical", order(t), order(t), Options{}, nil},
		{"same order object", order(t), nil, Options{}, nil},
		{"same content, other key order and whitespace",
			decode(t, `{"id":1,"status":1,"createdAt":"2024-11-01T12:08:58.807Z","comment":"a","flat":{"floor":3,"number":"12"}}`),
			decode(t, "{ \"flat\": {\"number\": \"12\", \"floor\": 3}, \"comment\": \"\\u0061\",\n \"createdAt\": \"2024-11-01T12:08:58.807Z\", \"status\": 1, \"id\": 1 }"),
			Options{}, nil},
		{"unknown field null on one side, absent on the other", order(t), order(t, set("manager", nil)), Options{}, nil},
		{"status written as a string", order(t), order(t, set("status", "1")), Options{}, nil},
		{"finalPrice written as a float", order(t, set("finalPrice", 6000000)), order(t, set("finalPrice", json.Number("6.0e6"))), Options{}, nil},
		{"old history entry disappeared", order(t, hist(h0, h1)), order(t, hist(h1)), Options{}, nil},
		{"new entry before the creation record", order(t, hist(h0, h1)), order(t, hist(sc{8999, 0, -5}, h0, h1)), Options{}, nil},

		// Status history.
		{"one transition", order(t), order(t, set("status", 2), hist(h0, h1, sc{9002, 2, 30})), Options{},
			[]Change{status(9002, sProg, sConf, 30)}},
		{"several transitions between two polls", order(t),
			order(t, set("status", 3), hist(h0, h1, sc{9002, 2, 30}, sc{9003, 3, 40})), Options{},
			[]Change{status(9002, sProg, sConf, 30), status(9003, sConf, sComp, 40)}},
		{"shuffled history", order(t),
			order(t, set("status", 3), hist(sc{9003, 3, 40}, h1, sc{9002, 2, 30}, h0)), Options{},
			[]Change{status(9002, sProg, sConf, 30), status(9003, sConf, sComp, 40)}},
		{"repeated entries", order(t),
			order(t, set("status", 2), hist(h0, h1, h1, sc{9002, 2, 30}, sc{9002, 2, 30}, h0)), Options{},
			[]Change{status(9002, sProg, sConf, 30)}},
		{"repeated id at two times: the earlier counts", order(t),
			order(t, set("status", 5), hist(h0, h1, sc{9002, 2, 50}, sc{9002, 2, 30}, sc{9003, 5, 40})), Options{},
			[]Change{status(9002, sProg, sConf, 30), status(9003, sConf, sTerm, 40)}},
		{"same time: by id", order(t),
			order(t, set("status", 3), hist(h0, h1, sc{9004, 3, 30}, sc{9002, 2, 30})), Options{},
			[]Change{status(9002, sProg, sConf, 30), status(9004, sConf, sComp, 30)}},
		{"missing entry: from is the entry before it in cur", order(t),
			order(t, set("status", 2), hist(h0, sc{9002, 2, 30})), Options{},
			[]Change{status(9002, sNew, sConf, 30)}},
		{"missing entry in between two new ones", order(t),
			order(t, set("status", 3), hist(h0, h1, sc{9003, 3, 40})), Options{},
			[]Change{status(9003, sProg, sComp, 40)}},
		{"prev history shuffled and repeated", order(t, hist(h1, h0, h1)),
			order(t, set("status", 2), hist(h0, h1, sc{9002, 2, 30})), Options{},
			[]Change{status(9002, sProg, sConf, 30)}},
		{"history entry without status move (status field lags)", order(t),
			order(t, hist(h0, h1, sc{9002, 2, 30})), Options{},
			[]Change{status(9002, sProg, sConf, 30), upd(1, field("status", `2`, `1`))}},

		// Status without history.
		{"status moved without history entry", order(t), order(t, set("status", 2)), Options{},
			[]Change{upd(1, field("status", `1`, `2`))}},
		{"status moved past what the history says", order(t),
			order(t, set("status", 3), hist(h0, h1, sc{9002, 2, 30})), Options{},
			[]Change{status(9002, sProg, sConf, 30), upd(1, field("status", `2`, `3`))}},
		{"status field absent now", order(t), order(t, del("status")), Options{},
			[]Change{upd(1, field("status", `1`, `0`))}}, // decoded as NEW
		{"status key in another case: typed values", decode(t, `{"id":1,"status":1,"createdAt":"2024-11-01T12:08:58.807Z"}`),
			decode(t, `{"id":1,"Status":2,"createdAt":"2024-11-01T12:08:58.807Z"}`), Options{},
			[]Change{{ID: "order/1/updated/1-*", Type: Updated, OrderID: 1, Fields: []Field{field("Status", `null`, `2`), field("status", `1`, `2`)}}}},
		{"status as a string, moved: typed values", order(t), order(t, set("status", "2")), Options{},
			[]Change{upd(1, field("status", `1`, `2`))}},
		{"finalPrice as a float, moved: typed values", order(t), order(t, set("finalPrice", json.Number("5.9e6"))), Options{},
			[]Change{upd(1, field("finalPrice", `null`, `5900000`))}},

		// Prices.
		{"first price entry sets finalPrice", order(t),
			order(t, set("finalPrice", 6000000), prices(pc{7000, 6000000, 20})), Options{},
			[]Change{price(7000, 6000000, 20)}},
		{"second price entry", order(t, set("finalPrice", 6000000), prices(pc{7000, 6000000, 20})),
			order(t, set("finalPrice", 5900000), prices(pc{7000, 6000000, 20}, pc{7001, 5900000, 30})), Options{},
			[]Change{price(7001, 5900000, 30, 6000000)}},
		{"two price entries, shuffled and repeated", order(t),
			order(t, set("finalPrice", 5900000), prices(pc{7001, 5900000, 30}, pc{7000, 6000000, 20}, pc{7000, 6000000, 20})), Options{},
			[]Change{price(7000, 6000000, 20), price(7001, 5900000, 30, 6000000)}},
		{"finalPrice set without history entry", order(t), order(t, set("finalPrice", 6000000)), Options{},
			[]Change{upd(1, field("finalPrice", `null`, `6000000`))}},
		{"finalPrice cleared", order(t, set("finalPrice", 6000000)), order(t), Options{},
			[]Change{upd(1, field("finalPrice", `6000000`, `null`))}},
		{"finalPrice differs from the new price entry", order(t),
			order(t, set("finalPrice", 5800000), prices(pc{7000, 6000000, 20})), Options{},
			[]Change{price(7000, 6000000, 20), upd(1, field("finalPrice", `null`, `5800000`))}},
		{"finalPrice explained by the latest of two new entries", order(t),
			order(t, set("finalPrice", 5900000), prices(pc{7000, 6000000, 20}, pc{7001, 5900000, 30})), Options{},
			[]Change{price(7000, 6000000, 20), price(7001, 5900000, 30, 6000000)}},
		{"price entry without finalPrice move", order(t, set("finalPrice", 6000000)),
			order(t, set("finalPrice", 6000000), prices(pc{7000, 6000000, 20})), Options{},
			[]Change{price(7000, 6000000, 20)}},

		// Interleaving.
		{"price and status interleaved by time", order(t),
			order(t, set("status", 3), hist(h0, h1, sc{9002, 2, 30}, sc{9003, 3, 50}),
				set("finalPrice", 5800000), prices(pc{7002, 5800000, 50}, pc{7000, 6000000, 20}, pc{7001, 5900000, 40})), Options{},
			[]Change{
				price(7000, 6000000, 20),
				status(9002, sProg, sConf, 30),
				price(7001, 5900000, 40, 6000000),
				status(9003, sConf, sComp, 50), // same time: status first
				price(7002, 5800000, 50, 5900000),
			}},
		{"everything at once: history first, Updated last", order(t),
			order(t, set("status", 2), hist(h0, h1, sc{9002, 2, 30}), set("finalPrice", 6000000), prices(pc{7000, 6000000, 20}),
				set("comment", "бронь до пятницы")), Options{PrevRev: 4},
			[]Change{price(7000, 6000000, 20), status(9002, sProg, sConf, 30), upd(5, field("comment", `""`, `"бронь до пятницы"`))}},

		// Other fields.
		{"comment", order(t), order(t, set("comment", "перезвонил")), Options{},
			[]Change{upd(1, field("comment", `""`, `"перезвонил"`))}},
		{"visitor fields", order(t), order(t, set("clientPhone", "+79990003344"), set("clientName", "Иван П.")), Options{},
			[]Change{upd(1, field("clientName", `"Иван Петров"`, `"Иван П."`), field("clientPhone", `"+79990001122"`, `"+79990003344"`))}},
		{"visitor comment removed", order(t), order(t, del("clientComment")), Options{},
			[]Change{upd(1, field("clientComment", `"перезвоните вечером"`, `null`))}},
		{"nested flat and object", order(t), order(t, set("flat.floor", 4), set("object.address", "Москва, ул. Садовая, 1к2")), Options{PrevRev: 1},
			[]Change{upd(2, field("flat.floor", `3`, `4`), field("object.address", `"Москва, ул. Садовая, 1"`, `"Москва, ул. Садовая, 1к2"`))}},
		{"nested unknown field added", order(t), order(t, set("flat.section", "B")), Options{},
			[]Change{upd(1, field("flat.section", `null`, `"B"`))}},
		{"object replaced by null", order(t), order(t, set("flat", nil)), Options{},
			[]Change{upd(1, field("flat", `{"entrance":"1","floor":3,"id":9,"id_ods":"ods-9","number":"12"}`, `null`))}},
		{"unknown field added", order(t), order(t, set("manager", map[string]any{"name": "Оля"})), Options{},
			[]Change{upd(1, field("manager", `null`, `{"name":"Оля"}`))}},
		{"unknown field removed", order(t, set("tags", []any{"vip", 2})), order(t), Options{},
			[]Change{upd(1, field("tags", `["vip",2]`, `null`))}},
		{"array compared as a whole", order(t, set("tags", []any{"vip", 2})), order(t, set("tags", []any{2, "vip"})), Options{},
			[]Change{upd(1, field("tags", `["vip",2]`, `[2,"vip"]`))}},
		{"array of objects: key order does not count", order(t, set("tags", []any{json.RawMessage(`{"a":1,"b":2}`)})),
			order(t, set("tags", []any{json.RawMessage(`{"b":2,"a":1}`)})), Options{}, nil},
		{"number literal counts", order(t), order(t, set("price", json.Number("6100000.0"))), Options{},
			[]Change{upd(1, field("price", `6100000`, `6100000.0`))}},
		{"number against string counts", order(t), order(t, set("price", "6100000")), Options{},
			[]Change{upd(1, field("price", `6100000`, `"6100000"`))}},
		{"string escapes do not count", decode(t, `{"id":1,"createdAt":"2024-11-01T12:08:58.807Z","comment":"A"}`),
			decode(t, `{"id":1,"createdAt":"2024-11-01T12:08:58.807Z","comment":"\u0041"}`), Options{}, nil},
		{"id never compared", order(t), order(t, set("id", json.Number("481516.0")), set("comment", "x")), Options{},
			[]Change{upd(1, field("comment", `""`, `"x"`))}},
		{"fields sorted by path across levels", order(t, set("flat.a", 1), set("flat-b", 1)), order(t, set("flat.a", 2), set("flat-b", 2)), Options{},
			[]Change{upd(1, field("flat-b", `1`, `2`), field("flat.a", `1`, `2`))}},
		{"revision in the id", order(t), order(t, set("comment", "x")), Options{PrevRev: 41},
			[]Change{upd(42, field("comment", `""`, `"x"`))}},

		// Orders built in code (Raw nil).
		{"no Raw: identical", noRaw(order(t)), noRaw(order(t)), Options{}, nil},
		{"no Raw: comment and status", noRaw(order(t)), noRaw(order(t, set("comment", "x"), set("status", 2), hist(h0, h1, sc{9002, 2, 30}))), Options{},
			[]Change{status(9002, sProg, sConf, 30), upd(1, field("comment", `""`, `"x"`))}},
		{"Raw that is not an object: typed fields used", withRaw(order(t), `[1]`), withRaw(order(t, set("comment", "x")), `"x"`), Options{},
			[]Change{upd(1, field("comment", `""`, `"x"`))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := tt.cur
			if cur == nil {
				cur = tt.prev
			}
			checkChanges(t, Compare(tt.prev, cur, tt.opt), tt.want)
		})
	}
}

// withRaw returns a copy of o with Raw replaced.
func withRaw(o *salesapi.Order, raw string) *salesapi.Order {
	c := *o
	c.Raw = json.RawMessage(raw)
	return &c
}

func TestCompareDoesNotModifyArguments(t *testing.T) {
	prev := order(t, hist(h1, h0, h1), set("comment", "a"))
	cur := order(t, set("status", 3), hist(sc{9003, 3, 40}, h1, sc{9002, 2, 30}, h0, h1),
		prices(pc{7001, 5900000, 30}, pc{7000, 6000000, 20}), set("comment", "b"))
	prevCopy, curCopy := deepCopy(prev), deepCopy(cur)
	for _, first := range []First{FirstCreated, FirstSnapshot} {
		Compare(prev, cur, Options{First: first})
		Compare(nil, cur, Options{First: first})
	}
	Equal(prev, cur)
	if !reflect.DeepEqual(prev, prevCopy) || !reflect.DeepEqual(cur, curCopy) {
		t.Fatal("Compare modified its arguments")
	}
}

func deepCopy(o *salesapi.Order) *salesapi.Order {
	c := *o
	c.Raw = append(json.RawMessage(nil), o.Raw...)
	c.StatusChanges = append([]salesapi.StatusChange(nil), o.StatusChanges...)
	c.PriceChanges = append([]salesapi.PriceChange(nil), o.PriceChanges...)
	if o.FinalPrice != nil {
		p := *o.FinalPrice
		c.FinalPrice = &p
	}
	return &c
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b *salesapi.Order
		want bool
	}{
		{"both nil", nil, nil, true},
		{"one nil", order(t), nil, false},
		{"same bytes", order(t), order(t), true},
		{"other key order and escapes",
			decode(t, `{"id":1,"createdAt":"2024-11-01T12:08:58.807Z","comment":"A","flat":{"floor":3,"number":"1"}}`),
			decode(t, `{"flat":{"number":"1","floor":3},"comment":"\u0041","createdAt":"2024-11-01T12:08:58.807Z","id":1}`), true},
		{"comment differs", order(t), order(t, set("comment", "x")), false},
		{"history order differs", order(t, hist(h0, h1)), order(t, hist(h1, h0)), false},
		{"number literal differs", order(t), order(t, set("price", json.Number("6100000.0"))), false},
		{"absent against null", order(t), order(t, set("manager", nil)), false},
		{"both without Raw", noRaw(order(t)), noRaw(order(t)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
			if got := Equal(tt.b, tt.a); got != tt.want {
				t.Errorf("Equal reversed = %v, want %v", got, tt.want)
			}
		})
	}
}
