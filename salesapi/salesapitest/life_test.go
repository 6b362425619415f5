package salesapitest_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// lived returns an unstarted server that has lived n orders over 30 days.
func lived(t *testing.T, seed int64, n int) (*salesapitest.Server, *clock.Manual) {
	t.Helper()
	m := clock.NewManual(epoch)
	s := salesapitest.NewUnstartedServer(salesapitest.Config{Clock: m, Seed: seed, Traffic: &salesapitest.Traffic{Orders: n}})
	t.Cleanup(s.Close)
	return s, m
}

func TestLifeDeterministic(t *testing.T) {
	a, ma := lived(t, 42, 300)
	b, mb := lived(t, 42, 300)
	other, _ := lived(t, 43, 300)
	same := func(when string) {
		t.Helper()
		if ca, cb := a.Changes(), b.Changes(); !reflect.DeepEqual(ca, cb) {
			t.Errorf("%s: %d and %d changes differ", when, len(ca), len(cb))
		}
		if oa, ob := a.Orders(), b.Orders(); !reflect.DeepEqual(oa, ob) {
			t.Errorf("%s: orders differ", when)
		}
	}
	same("seeded")
	if len(a.Orders()) != 300 {
		t.Errorf("%d orders, want 300", len(a.Orders()))
	}
	// Live traffic after the start: the same again, in steps or at once.
	for range 48 {
		ma.Advance(time.Hour)
	}
	mb.Advance(48 * time.Hour)
	same("two days later")
	if len(a.Orders()) < 350 {
		t.Errorf("%d orders after two days at 1000 a day", len(a.Orders()))
	}
	if reflect.DeepEqual(a.Changes()[:50], other.Changes()[:50]) {
		t.Error("another seed gave the same history")
	}
}

func TestLifeInvariants(t *testing.T) {
	s, m := lived(t, 7, 3000)
	m.Advance(24 * time.Hour) // and a day of live traffic
	now := s.Now()
	orders := s.Orders()
	seen := map[salesapi.Status]int{}
	var withPrice, withComment, withClientComment int
	name := regexp.MustCompile(`^\p{Lu}\p{Ll}+ \p{Lu}\p{Ll}+ \p{Lu}\p{Ll}+(ич|на)$`)
	phone := regexp.MustCompile(`^\+7 \(9\d\d\) \d{3}-\d\d-\d\d$`)
	number := regexp.MustCompile(`^НД-\d{6}$`)
	for _, o := range orders {
		seen[o.Status]++
		first := o.StatusChanges[0]
		if first.Status != salesapi.StatusNew || !first.CreatedAt.Equal(o.CreatedAt) {
			t.Fatalf("order %d: first entry %+v, created %v", o.ID, first, o.CreatedAt)
		}
		for i := 1; i < len(o.StatusChanges); i++ {
			p, c := o.StatusChanges[i-1], o.StatusChanges[i]
			if !salesapitest.CanTransition(p.Status, c.Status) || c.ID <= p.ID || c.CreatedAt.Before(p.CreatedAt) {
				t.Fatalf("order %d: %+v then %+v", o.ID, p, c)
			}
			if c.Status == salesapi.StatusUnprocessed && !c.CreatedAt.Equal(o.CreatedAt.Add(72*time.Hour)) {
				t.Errorf("order %d: UNPROCESSED at %v, created %v", o.ID, c.CreatedAt, o.CreatedAt)
			}
		}
		if last := o.StatusChanges[len(o.StatusChanges)-1]; last.Status != o.Status {
			t.Fatalf("order %d: status %v, last entry %v", o.ID, o.Status, last.Status)
		}
		if o.Status == salesapi.StatusNew && !now.Before(o.CreatedAt.Add(72*time.Hour)) {
			t.Errorf("order %d still NEW after three days", o.ID)
		}
		for i := 1; i < len(o.PriceChanges); i++ {
			if o.PriceChanges[i].ID <= o.PriceChanges[i-1].ID {
				t.Fatalf("order %d: price entries %+v", o.ID, o.PriceChanges)
			}
		}
		if n := len(o.PriceChanges); n > 0 {
			withPrice++
			if *o.FinalPrice != o.PriceChanges[n-1].Price {
				t.Errorf("order %d: finalPrice %d, last entry %d", o.ID, *o.FinalPrice, o.PriceChanges[n-1].Price)
			}
		}
		if o.Comment != "" {
			withComment++
		}
		if o.ClientComment != "" {
			withClientComment++
		}
		if !name.MatchString(o.ClientName) || !phone.MatchString(o.ClientPhone) || !strings.Contains(o.ClientEmail, "@") ||
			!number.MatchString(o.Number) || o.Price < 3_000_000 || o.Price > 30_000_000 ||
			o.Object.Name == "" || o.Object.Address == "" || o.Flat.IDODS == "" || o.Flat.Floor < 2 {
			t.Fatalf("order %d does not look real: %+v", o.ID, o)
		}
		if o.CreatedAt.Before(epoch.Add(-salesapitest.DefaultHistory)) || o.CreatedAt.After(now) {
			t.Errorf("order %d created at %v", o.ID, o.CreatedAt)
		}
	}
	for _, st := range salesapi.Statuses() {
		if seen[st] == 0 {
			t.Errorf("no order in status %v: %v", st, seen)
		}
	}
	if withPrice == 0 || withComment == 0 || withClientComment == 0 {
		t.Errorf("%d with final price, %d with comment, %d with a visitor's comment", withPrice, withComment, withClientComment)
	}
	// Every change in the ground truth: ordered, attributed to the status's
	// setter, along the machine.
	status := map[int64]salesapi.Status{}
	var last time.Time
	for i, ch := range s.Changes() {
		if ch.Seq != int64(i+1) || ch.At.Before(last) {
			t.Fatalf("change %d out of order: %+v", i, ch)
		}
		last = ch.At
		switch ch.Kind {
		case salesapitest.KindCreated:
			status[ch.OrderID] = salesapi.StatusNew
			if ch.Who != salesapitest.Visitor {
				t.Errorf("created by %v", ch.Who)
			}
		case salesapitest.KindStatus:
			var from, to salesapi.Status
			_ = json.Unmarshal(ch.From, &from)
			_ = json.Unmarshal(ch.To, &to)
			want := map[salesapi.Status]salesapitest.Actor{salesapi.StatusCancel: salesapitest.Visitor, salesapi.StatusUnprocessed: salesapitest.System}[to]
			if want == "" {
				want = salesapitest.Office
			}
			if from != status[ch.OrderID] || !salesapitest.CanTransition(from, to) || ch.Who != want {
				t.Fatalf("change %+v (order was %v)", ch, status[ch.OrderID])
			}
			status[ch.OrderID] = to
		}
	}
	t.Logf("3000 orders over 30 days and a day: %v; %d with a final price, %d with a comment", seen, withPrice, withComment)
}

func TestUnprocessedAfterThreeDays(t *testing.T) {
	s, m := start(t, salesapitest.Config{})
	left := s.CreateOrder(salesapitest.OrderSpec{})
	worked := s.CreateOrder(salesapitest.OrderSpec{})
	m.Advance(time.Hour)
	if err := s.SetStatus(worked.ID, salesapi.StatusProgress); err != nil {
		t.Fatal(err)
	}
	m.Set(left.CreatedAt.Add(salesapitest.UnprocessedAfter - time.Millisecond))
	if o, _ := s.Order(left.ID); o.Status != salesapi.StatusNew {
		t.Fatalf("a millisecond early: %v", o.Status)
	}
	m.Advance(time.Millisecond)
	o, _ := s.Order(left.ID)
	if o.Status != salesapi.StatusUnprocessed || len(o.StatusChanges) != 2 || !o.StatusChanges[1].CreatedAt.Equal(o.CreatedAt.Add(72*time.Hour)) {
		t.Fatalf("after three days: %v %+v", o.Status, o.StatusChanges)
	}
	changes := s.ChangesOf(left.ID)
	if ch := changes[len(changes)-1]; ch.Who != salesapitest.System || ch.EntryID != o.StatusChanges[1].ID {
		t.Errorf("ground truth %+v", ch)
	}
	if o, _ := s.Order(worked.ID); o.Status != salesapi.StatusProgress {
		t.Errorf("a worked order turned %v", o.Status)
	}
	// Orders created in the past become UNPROCESSED at once, at the right time.
	loaded := s.LoadOrders(10, epoch.Add(-10*24*time.Hour), epoch.Add(-24*time.Hour))
	for _, id := range loaded {
		o, _ := s.Order(id)
		wantUnprocessed := !s.Now().Before(o.CreatedAt.Add(72 * time.Hour))
		if (o.Status == salesapi.StatusUnprocessed) != wantUnprocessed {
			t.Errorf("loaded order created %v: %v", o.CreatedAt, o.Status)
		}
	}
}

func TestDirectMutations(t *testing.T) {
	s, m := start(t, salesapitest.Config{})
	floor := &salesapi.Flat{ID: 77, IDODS: "1234567", Number: "12", Entrance: "1", Floor: 3}
	o := s.CreateOrder(salesapitest.OrderSpec{ClientName: "Иванов Иван Иванович", Price: 5_000_000, Flat: floor})
	if o.ClientName != "Иванов Иван Иванович" || o.Price != 5_000_000 || o.Flat != *floor || o.Status != salesapi.StatusNew {
		t.Fatalf("created %+v", o)
	}
	m.Advance(time.Minute)
	steps := []struct {
		name    string
		do      func() error
		kind    salesapitest.ChangeKind
		field   string
		who     salesapitest.Actor
		wantErr error
	}{
		{"floor", func() error { return s.SetField(o.ID, "flat.floor", 4) }, salesapitest.KindField, "flat.floor", salesapitest.Office, nil},
		{"address", func() error { return s.SetField(o.ID, "object.address", "г. Москва, ул. Новая, д. 1") }, salesapitest.KindField, "object.address", salesapitest.Office, nil},
		{"phone", func() error { return s.SetField(o.ID, "clientPhone", "+7 (916) 123-45-67") }, salesapitest.KindField, "clientPhone", salesapitest.Visitor, nil},
		{"same floor", func() error { return s.SetField(o.ID, "flat.floor", 4) }, "", "", "", nil},
		{"floor as text", func() error { return s.SetField(o.ID, "flat.floor", "five") }, "", "", "", salesapitest.ErrField},
		{"status field", func() error { return s.SetField(o.ID, "status", 1) }, "", "", "", salesapitest.ErrField},
		{"progress", func() error { return s.SetStatus(o.ID, salesapi.StatusProgress) }, salesapitest.KindStatus, "status", salesapitest.Office, nil},
		{"back to new", func() error { return s.SetStatus(o.ID, salesapi.StatusNew) }, "", "", "", salesapitest.ErrTransition},
		{"price", func() error { return s.SetFinalPrice(o.ID, 4_900_000) }, salesapitest.KindPrice, "finalPrice", salesapitest.Office, nil},
		{"same price", func() error { return s.SetFinalPrice(o.ID, 4_900_000) }, "", "", "", nil},
		{"comment", func() error { return s.SetComment(o.ID, "Клиент думает") }, salesapitest.KindComment, "comment", salesapitest.Office, nil},
		{"cancel", func() error { return s.SetStatus(o.ID, salesapi.StatusCancel) }, salesapitest.KindStatus, "status", salesapitest.Visitor, nil},
		{"after cancel", func() error { return s.SetStatus(o.ID, salesapi.StatusConfirmed) }, "", "", "", salesapitest.ErrTransition},
		{"unknown order", func() error { return s.SetComment(1, "x") }, "", "", "", salesapitest.ErrNotFound},
	}
	for _, st := range steps {
		before := len(s.Changes())
		err := st.do()
		if !errorsIs(err, st.wantErr) {
			t.Errorf("%s: err %v, want %v", st.name, err, st.wantErr)
		}
		changes := s.Changes()[before:]
		if st.kind == "" {
			if len(changes) != 0 {
				t.Errorf("%s: changes %+v", st.name, changes)
			}
			continue
		}
		if len(changes) != 1 || changes[0].Kind != st.kind || changes[0].Field != st.field || changes[0].Who != st.who || !changes[0].At.Equal(s.Now()) {
			t.Errorf("%s: changes %+v", st.name, changes)
		}
	}
	got, _ := s.Order(o.ID)
	if got.Flat.Floor != 4 || got.Object.Address != "г. Москва, ул. Новая, д. 1" || got.Status != salesapi.StatusCancel {
		t.Errorf("order now %+v", got)
	}
	// Copies: changing what an accessor returned changes nothing.
	got.StatusChanges[0].Status = salesapi.StatusComplete
	*got.FinalPrice = 1
	if again, _ := s.Order(o.ID); again.StatusChanges[0].Status != salesapi.StatusNew || *again.FinalPrice != 4_900_000 {
		t.Error("Order returned shared state")
	}
	all := s.Changes()
	all[0].To[0] = 'x'
	if s.Changes()[0].To[0] == 'x' {
		t.Error("Changes returned shared state")
	}
}

func TestPopulateManyQuickly(t *testing.T) {
	n := 30000
	if raceEnabled {
		n = 5000
	}
	s, _ := start(t, salesapitest.Config{Order: salesapitest.NewestFirst})
	began := time.Now()
	s.Populate(n, 90*24*time.Hour)
	took := time.Since(began)
	orders := s.Orders()
	if len(orders) != n {
		t.Fatalf("%d orders", len(orders))
	}
	for i := 1; i < len(orders); i++ {
		if orders[i].ID <= orders[i-1].ID {
			t.Fatal("Orders not sorted by id")
		}
	}
	began = time.Now()
	loaded := s.LoadOrders(n, epoch.Add(-90*24*time.Hour), epoch)
	loadTook := time.Since(began)
	if len(loaded) != n {
		t.Fatalf("%d ids", len(loaded))
	}
	c := newClient(t, s)
	c.login()
	began = time.Now()
	a := c.list("limit=100&beginCreatedAt=2024-01-01")
	if got := len(ids(t, a)); got != 100 {
		t.Errorf("%d orders in the answer", got)
	}
	t.Logf("Populate(%d, 90 days): %v, %d changes; LoadOrders(%d): %v; a GET of 100 out of %d: %v",
		n, took, len(s.Changes()), n, loadTook, 2*n, time.Since(began))
}

// chanCore is a zap core that sends the messages it logs to a channel.
type chanCore struct{ c chan zapcore.Entry }

func (c chanCore) Enabled(zapcore.Level) bool        { return true }
func (c chanCore) With([]zapcore.Field) zapcore.Core { return c }
func (c chanCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}
func (c chanCore) Write(e zapcore.Entry, _ []zapcore.Field) error {
	select {
	case c.c <- e:
	default:
	}
	return nil
}
func (c chanCore) Sync() error { return nil }

// The background loop applies events as the clock moves, with no request.
func TestLifeRunsOnTheClock(t *testing.T) {
	logged := make(chan zapcore.Entry, 1000)
	m := clock.NewManual(epoch)
	s := salesapitest.NewServer(salesapitest.Config{Clock: m, Seed: 1, Logger: zap.New(chanCore{logged}),
		Traffic: &salesapitest.Traffic{Orders: 0, OrdersPerDay: 1000}})
	defer s.Close()
	for len(logged) > 0 {
		<-logged // "sandbox seeded"
	}
	m.Advance(time.Hour)
	select {
	case e := <-logged:
		if e.Message != "order changed" || e.Level != zapcore.InfoLevel {
			t.Errorf("logged %q at %v", e.Message, e.Level)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change applied within 5 s of moving the clock an hour")
	}
}

// A demo at --speed 60 should show a few changes a second: count the
// changes of a sandbox day at the default rates, once the office has a
// backlog (the fourth day).
func TestDefaultRates(t *testing.T) {
	s, m := lived(t, 3, 0)
	m.Advance(4 * 24 * time.Hour)
	n := 0
	for _, ch := range s.Changes() {
		if !ch.At.Before(s.Now().Add(-24 * time.Hour)) {
			n++
		}
	}
	perMinute := float64(n) / (24 * 60)
	t.Logf("default traffic: %d changes in a sandbox day, %.1f a sandbox minute (a real second at --speed 60)", n, perMinute)
	if perMinute < 2 || perMinute > 10 {
		t.Errorf("%.1f changes a minute, want a few", perMinute)
	}
}
