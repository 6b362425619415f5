package freshness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/state"
)

func TestDevChoices(t *testing.T) {
	n := 3000
	if v := os.Getenv("DEV_ORDERS"); v != "" {
		fmt.Sscan(v, &n)
	}
	ord := salesapitest.OldestFirst
	if v := os.Getenv("DEV_ORDER"); v != "" {
		ord, _ = salesapitest.ParseOrdering(v)
	}
	clk := clock.NewManual(epoch())
	sb := salesapitest.NewServer(salesapitest.Config{Clock: clk, Seed: 1, Order: ord, Traffic: &salesapitest.Traffic{Orders: n, History: 90 * 24 * time.Hour, OrdersPerDay: float64(n) / 90}})
	defer sb.Close()
	store, _ := state.Open(filepath.Join(t.TempDir(), "s.db"), &state.Options{NoSync: true, Clock: clk})
	defer store.Close()
	client, _ := salesapi.New(salesapi.Config{APIURL: sb.URL, AuthURL: sb.AuthURL, ClientID: sb.ClientID(), ClientSecret: sb.ClientSecret(), Clock: clk})
	st, err := bridge.NewStepper(bridge.StepperConfig{ClientID: sb.ClientID(), Lookback: 90 * 24 * time.Hour, Initial: diff.FirstCreated, Clock: clk}, client, store)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{clk: clk, sb: sb, st: st, store: store, gap: 6100 * time.Millisecond, next: epoch(), seen: map[string]time.Time{}}
	hist := map[string]int{}
	synced := false
	for i := 0; i < 3000; i++ {
		info, err := s.step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.SweepDone {
			synced = true
		}
		if !synced {
			continue
		}
		st := "all"
		if info.Query.Status != nil {
			st = info.Query.Status.String()
		}
		age := clk.Now().Sub(info.Query.BeginCreatedAt)
		k := fmt.Sprintf("%s %s age>%s full=%v", info.Kind, st, (age / (12 * time.Hour) * 12 * time.Hour), info.Full)
		hist[k]++
	}
	var keys []string
	for k := range hist {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Println(hist[k], k)
	}
	fmt.Printf("%+v\n", st.View())
}

func TestDevSlow(t *testing.T) {
	n := 30000
	if v := os.Getenv("DEV_ORDERS"); v != "" {
		fmt.Sscan(v, &n)
	}
	ord := salesapitest.OldestFirst
	if v := os.Getenv("DEV_ORDER"); v != "" {
		ord, _ = salesapitest.ParseOrdering(v)
	}
	measure := 2 * time.Hour
	clk := clock.NewManual(epoch())
	sb := salesapitest.NewServer(salesapitest.Config{Clock: clk, Seed: 1, Order: ord, Traffic: &salesapitest.Traffic{Orders: n, History: 90 * 24 * time.Hour, OrdersPerDay: float64(n) / 90}})
	defer sb.Close()
	store, _ := state.Open(filepath.Join(t.TempDir(), "s.db"), &state.Options{NoSync: true, Clock: clk})
	defer store.Close()
	client, _ := salesapi.New(salesapi.Config{APIURL: sb.URL, AuthURL: sb.AuthURL, ClientID: sb.ClientID(), ClientSecret: sb.ClientSecret(), Clock: clk})
	st, err := bridge.NewStepper(bridge.StepperConfig{ClientID: sb.ClientID(), Lookback: 90 * 24 * time.Hour, Initial: diff.FirstCreated, Clock: clk}, client, store)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{clk: clk, sb: sb, st: st, store: store, gap: 6100 * time.Millisecond, next: epoch(), seen: map[string]time.Time{}}
	for s.synced.IsZero() {
		info, _ := s.step(context.Background())
		if info.SweepDone {
			s.synced = clk.Now()
		}
	}
	start := s.synced.Add(15 * time.Minute)
	hist := map[string]int{}
	for clk.Now().Before(start.Add(measure)) {
		info, _ := s.step(context.Background())
		if clk.Now().After(start) {
			st := "all"
			if info.Query.Status != nil {
				st = info.Query.Status.String()
			}
			hist[fmt.Sprintf("%s %s full=%v", info.Kind, st, info.Full)]++
		}
	}
	fmt.Println(hist)
	orders := map[int64]salesapi.Order{}
	for _, o := range sb.Orders() {
		orders[o.ID] = o
	}
	var lines []string
	for _, c := range sb.Changes() {
		if c.Kind == salesapitest.KindCreated && !c.At.Before(start) && c.At.Before(start.Add(measure)) {
			if t, ok := s.seen[fmt.Sprintf("order/%d/created", c.OrderID)]; ok {
				fmt.Printf("NEW %.1fs at %s\n", t.Sub(c.At).Seconds(), c.At.Sub(start))
			}
		}
		if c.Kind != salesapitest.KindStatus || c.At.Before(start) || !c.At.Before(start.Add(measure)) {
			continue
		}
		id := fmt.Sprintf("order/%d/status/%d", c.OrderID, c.EntryID)
		lat := time.Duration(-1)
		if t, ok := s.seen[id]; ok {
			lat = t.Sub(c.At)
		}
		o := orders[c.OrderID]
		lines = append(lines, fmt.Sprintf("%8.1fs %s->%s age %s who %s", lat.Seconds(), c.From, c.To, c.At.Sub(o.CreatedAt).Round(time.Minute), c.Who))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("%+v\n", st.View())
}

func TestDevNew(t *testing.T) {
	clk := clock.NewManual(epoch())
	sb := salesapitest.NewServer(salesapitest.Config{Clock: clk, Seed: 1, Traffic: &salesapitest.Traffic{Orders: 3000, History: 90 * 24 * time.Hour, OrdersPerDay: 3000.0 / 90}})
	defer sb.Close()
	store, _ := state.Open(filepath.Join(t.TempDir(), "s.db"), &state.Options{NoSync: true, Clock: clk})
	defer store.Close()
	client, _ := salesapi.New(salesapi.Config{APIURL: sb.URL, AuthURL: sb.AuthURL, ClientID: sb.ClientID(), ClientSecret: sb.ClientSecret(), Clock: clk})
	st, _ := bridge.NewStepper(bridge.StepperConfig{ClientID: sb.ClientID(), Lookback: 90 * 24 * time.Hour, Initial: diff.FirstCreated, Clock: clk}, client, store)
	s := &sim{clk: clk, sb: sb, st: st, store: store, gap: 6100 * time.Millisecond, next: epoch(), seen: map[string]time.Time{}}
	for s.synced.IsZero() {
		info, _ := s.step(context.Background())
		if info.SweepDone {
			s.synced = clk.Now()
		}
	}
	end := s.synced.Add(75 * time.Minute)
	for clk.Now().Before(end) {
		info, _ := s.step(context.Background())
		if clk.Now().After(end.Add(-40 * time.Minute)) && clk.Now().Before(end.Add(-33*time.Minute)) {
			fmt.Println(clk.Now().Sub(s.synced), info.Kind, info.Query.Status, info.Query.BeginCreatedAt.Format(time.RFC3339), info.Orders, info.Full, info.Events)
		}
	}
	for _, c := range sb.Changes() {
		if c.Kind == salesapitest.KindCreated && c.At.After(s.synced) {
			fmt.Println("created", c.OrderID, c.At.Sub(s.synced), s.seen[fmt.Sprintf("order/%d/created", c.OrderID)].Sub(s.synced))
		}
	}
}
