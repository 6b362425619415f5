package diff

import (
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// benchOrders builds n realistic orders, decoded from JSON as the API client
// decodes them, and a second poll of them in which a fraction changed (a
// status transition with its history entry, a price entry with finalPrice,
// a comment, a visitor's phone, a flat's floor). Both polls have their own
// Raw buffers, as two API answers do. The random source is seeded: every
// run builds the same orders.
func benchOrders(b *testing.B, n int, changed float64) (prev, cur []salesapi.Order) {
	b.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	epoch := time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC)
	names := []string{"Иван Петров", "Мария Соколова", "Алексей Смирнов", "Ольга Кузнецова", "Дмитрий Попов"}
	comments := []string{"", "перезвоните вечером", "интересует ипотека", "можно ли посмотреть в субботу?"}
	houses := []salesapi.Object{
		{ExternalID: 4011, Name: "ЖК Садовый квартал", Address: "г. Москва, ул. Садовая, д. 12, корп. 1"},
		{ExternalID: 4012, Name: "ЖК Северный", Address: "г. Санкт-Петербург, пр. Просвещения, д. 80"},
		{ExternalID: 4013, Name: "ЖК Речной", Address: "г. Казань, ул. Портовая, д. 3"},
	}
	prev = make([]salesapi.Order, n)
	cur = make([]salesapi.Order, n)
	for i := range n {
		created := epoch.Add(time.Duration(rnd.Int64N(int64(90 * 24 * time.Hour)))).Truncate(time.Millisecond)
		o := salesapi.Order{
			ID:            int64(400000 + i),
			Number:        "N-" + strconv.Itoa(i),
			ClientName:    names[rnd.IntN(len(names))],
			ClientEmail:   "client" + strconv.Itoa(i) + "@example.org",
			ClientPhone:   "+7999" + strconv.Itoa(1000000+rnd.IntN(8999999)),
			ClientComment: comments[rnd.IntN(len(comments))],
			Price:         3_000_000 + rnd.Int64N(20_000_000),
			CreatedAt:     created,
			Object:        houses[rnd.IntN(len(houses))],
			Flat:          salesapi.Flat{ID: int64(i), IDODS: "ods-" + strconv.Itoa(i), Number: "101", Entrance: "2", Floor: 1 + rnd.Int64N(25)},
		}
		at := created
		o.StatusChanges = []salesapi.StatusChange{{ID: int64(i) * 10, Status: salesapi.StatusNew, CreatedAt: at}}
		for k, steps := 1, rnd.IntN(4); k <= steps; k++ {
			at = at.Add(time.Duration(1+rnd.IntN(72)) * time.Hour)
			o.StatusChanges = append(o.StatusChanges, salesapi.StatusChange{ID: int64(i)*10 + int64(k), Status: salesapi.Status(k), CreatedAt: at})
		}
		o.Status = o.StatusChanges[len(o.StatusChanges)-1].Status
		if rnd.IntN(3) == 0 {
			p := o.Price - rnd.Int64N(300_000)
			o.FinalPrice = &p
			o.PriceChanges = []salesapi.PriceChange{{ID: int64(i) * 10, Price: p, CreatedAt: at}}
		}
		c := o
		c.StatusChanges = append([]salesapi.StatusChange(nil), o.StatusChanges...)
		c.PriceChanges = append([]salesapi.PriceChange(nil), o.PriceChanges...)
		if rnd.Float64() < changed {
			mutate(rnd, &c, i)
		}
		prev[i] = reDecode(b, &o)
		cur[i] = reDecode(b, &c)
	}
	return prev, cur
}

// mutate makes one realistic change to o.
func mutate(rnd *rand.Rand, o *salesapi.Order, i int) {
	last := o.StatusChanges[len(o.StatusChanges)-1]
	at := last.CreatedAt.Add(time.Hour)
	switch rnd.IntN(5) {
	case 0:
		o.StatusChanges = append(o.StatusChanges, salesapi.StatusChange{ID: int64(i)*10 + 9, Status: salesapi.StatusTerminated, CreatedAt: at})
		o.Status = salesapi.StatusTerminated
	case 1:
		p := o.Price - 100_000
		o.FinalPrice = &p
		o.PriceChanges = append(o.PriceChanges, salesapi.PriceChange{ID: int64(i)*10 + 9, Price: p, CreatedAt: at})
	case 2:
		o.Comment = "клиент подтвердил бронь, ждём документы"
	case 3:
		o.ClientPhone = "+79990000000"
	default:
		o.Flat.Floor++
	}
}

// reDecode marshals o and decodes it back, so that Raw holds its JSON.
func reDecode(b *testing.B, o *salesapi.Order) salesapi.Order {
	b.Helper()
	body, err := json.Marshal(o)
	if err != nil {
		b.Fatal(err)
	}
	d, err := salesapi.DecodeOrder(body)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// benchCompare compares every pair per iteration and reports ns/order and
// allocs/order.
func benchCompare(b *testing.B, prev, cur []salesapi.Order, wantMin, wantMax int) {
	var changes int
	for i := range prev {
		changes += len(Compare(&prev[i], &cur[i], Options{PrevRev: 3}))
	}
	if changes < wantMin || changes > wantMax {
		b.Fatalf("%d changes over %d orders, want %d to %d", changes, len(prev), wantMin, wantMax)
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		for i := range prev {
			Compare(&prev[i], &cur[i], Options{PrevRev: 3})
		}
	}
	runtime.ReadMemStats(&after)
	orders := float64(b.N * len(prev))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/orders, "ns/order")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/orders, "allocs/order")
}

// BenchmarkCompare10k diffs 10 000 orders of which about 5% changed between
// the two polls.
func BenchmarkCompare10k(b *testing.B) {
	prev, cur := benchOrders(b, 10_000, 0.05)
	benchCompare(b, prev, cur, 400, 700)
}

// BenchmarkCompareUnchanged is the fast path: nothing changed.
func BenchmarkCompareUnchanged(b *testing.B) {
	prev, cur := benchOrders(b, 10_000, 0)
	benchCompare(b, prev, cur, 0, 0)
}

// BenchmarkCompareChanged is the slow path: every order changed.
func BenchmarkCompareChanged(b *testing.B) {
	prev, cur := benchOrders(b, 10_000, 1)
	benchCompare(b, prev, cur, 9_000, 11_000)
}
