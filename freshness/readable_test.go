package freshness

import (
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// TestReadable: oldest first, every order can be read; otherwise only the
// newest page of each status.
func TestReadable(t *testing.T) {
	t0 := epoch()
	var orders []salesapi.Order
	for i := range 150 { // ids 1…150, newest last
		orders = append(orders, salesapi.Order{ID: int64(i + 1), Status: salesapi.StatusUnprocessed, CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	orders = append(orders, salesapi.Order{ID: 1000, Status: salesapi.StatusProgress, CreatedAt: t0.Add(-time.Hour)})
	for _, o := range []salesapitest.Ordering{salesapitest.OldestFirst, salesapitest.NewestFirst, salesapitest.Shuffled} {
		r := readable(orders, o)
		n := 0
		for _, ok := range r {
			if ok {
				n++
			}
		}
		want := 101
		if o == salesapitest.OldestFirst {
			want = 151
		}
		if n != want || !r[1000] || !r[150] || r[50] != (o == salesapitest.OldestFirst) || r[51] != true {
			t.Errorf("%s: %d readable (want %d); 1000 %v, 150 %v, 50 %v, 51 %v", o, n, want, r[1000], r[150], r[50], r[51])
		}
	}
}
