package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// runSandbox is `salesbridge sandbox`: a faithful fake of the Sales Module
// API with live, generated traffic, for trying the bridge (or anything else)
// without an account. It prints the settings to reach it as KEY=value lines
// on stdout, first thing (so `eval "$(salesbridge sandbox … | head -4)"` or a
// compose file can use them), then serves until ctx ends.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sandbox", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (API and token endpoint on one port)")
	clientID := fs.String("client-id", salesapitest.DefaultClientID, "client id the sandbox accepts")
	clientSecret := fs.String("client-secret", salesapitest.DefaultClientSecret, "client secret the sandbox accepts (a sandbox value, printed on stdout)")
	seed := fs.Int64("seed", 1, "seed of the generated data and traffic")
	orders := fs.Int("orders", 1000, "orders to start with, with histories lived over --history")
	history := fs.Duration("history", 0, "how far back the starting orders go (default: --orders at --orders-per-day, so the office has its usual backlog from the start)")
	perDay := fs.Float64("orders-per-day", salesapitest.DefaultOrdersPerDay, "new orders per day of sandbox time (negative: none)")
	speed := fs.Float64("speed", 1, "how many times faster than real time the sandbox clock runs")
	order := fs.String("order", "oldest", "order of list answers: oldest, newest or shuffled")
	rate := fs.Int("rate", salesapitest.DefaultRate, "calls per minute (of sandbox time) per client, GET and PATCH together; negative: unlimited")
	ogrn := fs.String("ogrn", strings.Join(salesapitest.DefaultOGRNs(), ","), "comma-separated OGRNs of the developers in the contract")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error (changes are logged at info, without personal data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("sandbox: unexpected arguments %q", fs.Args())}
	}
	if *speed <= 0 {
		return &exitError{2, errors.New("sandbox: --speed must be positive")}
	}
	if *orders < 0 {
		return &exitError{2, errors.New("sandbox: --orders must not be negative")}
	}
	if *history <= 0 {
		*history = salesapitest.DefaultHistory
		if *perDay > 0 {
			*history = max(time.Duration(float64(*orders)/(*perDay)*float64(24*time.Hour)), time.Hour)
		}
	}
	ordering, err := salesapitest.ParseOrdering(*order)
	if err != nil {
		return &exitError{2, fmt.Errorf("sandbox: --order: %w", err)}
	}
	ogrns, err := parseOGRNs(*ogrn)
	if err != nil {
		return &exitError{2, fmt.Errorf("sandbox: --ogrn: %w", err)}
	}
	if *clientID == "" || *clientSecret == "" {
		return &exitError{2, errors.New("sandbox: --client-id and --client-secret must not be empty")}
	}
	log, err := newLogger(stderr, *logLevel, true)
	if err != nil {
		return &exitError{2, err}
	}
	defer func() { _ = log.Sync() }()

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	started := time.Now()
	sb := salesapitest.NewUnstartedServer(salesapitest.Config{
		Clock:        clock.Scaled(started, *speed),
		ClientID:     *clientID,
		ClientSecret: *clientSecret,
		OGRNs:        ogrns,
		Rate:         *rate,
		Order:        ordering,
		Seed:         *seed,
		Listener:     l,
		Logger:       log.Named("sandbox"),
		Traffic:      &salesapitest.Traffic{Orders: *orders, History: *history, OrdersPerDay: *perDay},
	})
	defer sb.Close()
	fmt.Fprintf(stdout, "SALESBRIDGE_API_URL=%s\nSALESBRIDGE_AUTH_URL=%s\nSALESBRIDGE_CLIENT_ID=%s\nSALESBRIDGE_CLIENT_SECRET=%s\n",
		sb.URL, sb.AuthURL, sb.ClientID(), sb.ClientSecret())
	sb.Start()
	log.Info("sandbox serving", zap.String("api", sb.URL), zap.String("auth", sb.AuthURL),
		zap.Float64("speed", *speed), zap.String("order", ordering.String()), zap.Int("rate", *rate),
		zap.Int("orders", len(sb.Orders())), zap.Duration("seeded_in", time.Since(started)))
	<-ctx.Done()
	log.Info("sandbox stopping")
	return nil
}

// parseOGRNs splits a comma-separated list of OGRNs (13 digits) or OGRNIPs
// (15 digits).
func parseOGRNs(list string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if len(o) != 13 && len(o) != 15 || strings.Trim(o, "0123456789") != "" {
			return nil, fmt.Errorf("%q is not 13 or 15 digits", o)
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, errors.New("no OGRN given")
	}
	return out, nil
}
