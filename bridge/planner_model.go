package bridge

import (
	"math"
	"time"

	"github.com/salesbridge/salesbridge/salesapi"
)

// The change model estimates how likely each tracked order is to change,
// from the histories the API already gives (DESIGN.md §4, after Cho and
// Garcia-Molina, "Estimating frequency of change"): every statusChanges
// entry says how long the order stayed in the status before and at what
// age it left. The model counts, per status and per age of the order
// (log2 buckets of hours: under 1 h, 1–2 h, 2–4 h … over 1024 h), the
// departures and the time spent, and estimates each cell's rate of change
// as departures per hour spent, shrunk towards the status's overall rate
// where a cell has seen little time. It also counts where orders go, so
// that an order known to have left its status can be looked for where it
// most likely went.
//
// Terminal statuses have no departures. A terminal order may still get a
// comment or a price (a comment leaves no trace in the history), but
// rarely, and it is not what users wait for: the planner leaves terminal
// orders to the background sweep (see planner.go), so the model gives them
// no rate.

// ageBuckets is the number of age cells per status.
const ageBuckets = 12

// unprocessedAfter is when the system turns an order that is still NEW into
// UNPROCESSED (spec, statuses: "still NEW 3 days after creation"). A NEW
// order older than that has certainly changed.
const unprocessedAfter = 72 * time.Hour

// ageBucket returns the age cell of an order of the given age.
func ageBucket(age time.Duration) int {
	h := age.Hours()
	if h < 1 {
		return 0
	}
	return min(1+int(math.Log2(h)), ageBuckets-1)
}

// bucketEnd returns the age at which cell b ends.
func bucketEnd(b int) time.Duration {
	if b >= ageBuckets-1 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(1<<b) * time.Hour
}

// changeModel holds the counts and the estimates made from them.
type changeModel struct {
	departures [numStatuses][ageBuckets]float64
	exposure   [numStatuses][ageBuckets]float64 // hours spent (closed intervals)
	moves      [numStatuses][numStatuses]float64

	// Estimates, refreshed by estimate.
	rate     [numStatuses][ageBuckets]float64 // changes per hour
	dest     [numStatuses][numStatuses]float64
	arrivals float64 // new orders per hour
}

// account adds the closed intervals of a status history from entry from on
// (entries before it were accounted earlier). It returns the number of
// entries accounted.
func (m *changeModel) account(created time.Time, hist []salesapi.StatusChange, from int) int {
	for i := max(from, 1); i < len(hist); i++ {
		prev, cur := hist[i-1], hist[i]
		s := int(prev.Status)
		if !prev.Status.Valid() || !cur.Status.Valid() {
			continue
		}
		m.addExposure(&m.exposure[s], created, prev.CreatedAt, cur.CreatedAt)
		age := cur.CreatedAt.Sub(created)
		if age < 0 {
			age = 0
		}
		m.departures[s][ageBucket(age)]++
		m.moves[s][int(cur.Status)]++
	}
	return len(hist)
}

// addExposure adds the hours from t0 to t1 of an order created at created
// to the cells of its age.
func (m *changeModel) addExposure(cells *[ageBuckets]float64, created, t0, t1 time.Time) {
	a0, a1 := t0.Sub(created), t1.Sub(created)
	if a0 < 0 {
		a0 = 0
	}
	for a0 < a1 {
		b := ageBucket(a0)
		end := min(bucketEnd(b), a1)
		cells[b] += (end - a0).Hours()
		a0 = end
	}
}

// estimate refreshes the rates from the counts, the open intervals of the
// active orders of bk (each in its status from since until seen) and the
// arrivals of the last week before now.
func (m *changeModel) estimate(bk *book, now time.Time) {
	exposure := m.exposure
	for _, e := range bk.list(listAll) {
		if e.moved || !e.status.Active() || e.since.IsZero() || !e.seen.After(e.since) {
			continue
		}
		m.addExposure(&exposure[e.status], e.createdAt, e.since, e.seen)
	}
	for s := range numStatuses {
		if !salesapi.Status(s).Active() {
			continue // no rate: see above
		}
		var dep, exp float64
		for b := range ageBuckets {
			dep += m.departures[s][b]
			exp += exposure[s][b]
		}
		// The status's own rate, with one change a day as the prior.
		overall := (dep + 1) / (exp + 24)
		for b := range ageBuckets {
			// One pseudo-departure spread over 1/overall hours.
			m.rate[s][b] = (m.departures[s][b] + 1) / (exposure[s][b] + 1/overall)
		}
	}
	// Where orders go: each status's own moves, with one pseudo-move spread
	// like all moves into each status (or evenly, before any is seen).
	var into [numStatuses]float64
	for s := range numStatuses {
		for d := range numStatuses {
			into[d] += m.moves[s][d]
		}
	}
	for s := range numStatuses {
		var total, prior float64
		for d := range numStatuses {
			if d != s {
				total += m.moves[s][d]
				prior += into[d] + 1
			}
		}
		for d := range numStatuses {
			if d == s {
				m.dest[s][d] = 0 // an order that left a status is not in it
				continue
			}
			m.dest[s][d] = (m.moves[s][d] + (into[d]+1)/prior) / (total + 1)
		}
	}
	week := 7 * 24 * time.Hour
	all := bk.list(listAll)
	i := bk.from(listAll, now.Add(-week))
	span := week
	if len(all) > 0 && all[0].createdAt.After(now.Add(-week)) {
		span = max(now.Sub(all[0].createdAt), time.Hour)
	}
	m.arrivals = float64(len(all)-i) / span.Hours()
}

// rateOf returns the estimated changes per hour of e at now.
func (m *changeModel) rateOf(e *entry, now time.Time) float64 {
	if !e.status.Active() {
		return 0
	}
	return m.rate[e.status][ageBucket(now.Sub(e.createdAt))]
}

// destination returns the probability that an order that left status from
// went to status to. A NEW order past unprocessedAfter went to UNPROCESSED
// unless the office moved it first.
func (m *changeModel) destination(e *entry, to salesapi.Status, now time.Time) float64 {
	from := statusList(e.status)
	if from < 0 || !to.Valid() || e.notIn&(1<<to) != 0 {
		return 0
	}
	if e.status == salesapi.StatusNew && now.Sub(e.createdAt) >= unprocessedAfter {
		if to == salesapi.StatusUnprocessed {
			return 0.9
		}
		return 0.1 * m.dest[from][to]
	}
	return m.dest[from][to]
}
