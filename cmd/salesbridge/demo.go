package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
)

// runDemo is `salesbridge demo`: an embedded NATS server with JetStream, the
// sandbox API with live traffic on fast time, the bridge between them, and a
// live view of the events as JetStream delivers them. Nothing to install,
// no network.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	speed := fs.Float64("speed", 60, "how many times faster than real time the sandbox and the bridge run")
	orders := fs.Int("orders", 40, "orders the sandbox starts with")
	seed := fs.Int64("seed", 1, "seed of the sandbox's traffic")
	natsPort := fs.Int("nats-port", 4222, "port of the embedded NATS server (a free one if taken)")
	metricsAddr := fs.String("metrics-addr", defaultMetricsAddr, "address of /metrics, /healthz, /readyz (a free port if taken)")
	dir := fs.String("dir", "", "directory for the NATS store and the state file (default: a temporary one, removed at exit)")
	pii := fs.String("pii", "mask", "visitor data in events: full, mask or omit")
	logLevel := fs.String("log-level", "warn", "log level of the bridge: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *speed <= 0 {
		return &exitError{2, errors.New("speed must be positive")}
	}
	piiMode, err := bridge.ParsePII(*pii)
	if err != nil {
		return &exitError{2, err}
	}
	log, err := newLogger(stderr, *logLevel, true)
	if err != nil {
		return &exitError{2, err}
	}
	defer func() { _ = log.Sync() }()

	if *dir == "" {
		tmp, err := os.MkdirTemp("", "salesbridge-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}

	ns, err := startNATS(filepath.Join(*dir, "nats"), *natsPort)
	if err != nil {
		return err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()

	clk := clock.Scaled(time.Now(), *speed)
	sb := salesapitest.NewServer(salesapitest.Config{
		Clock:   clk,
		Seed:    *seed,
		Traffic: &salesapitest.Traffic{Orders: *orders, OrdersPerDay: 1500, OfficeReaction: 10 * time.Minute, OfficeStep: 40 * time.Minute},
		Logger:  log.Named("sandbox"),
	})
	defer sb.Close()

	nc, err := nats.Connect(ns.ClientURL(), nats.Name("salesbridge demo"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to embedded nats: %w", err)
	}
	defer nc.Close()

	c := config{
		APIURL: sb.URL, AuthURL: sb.AuthURL, ClientID: sb.ClientID(), ClientSecret: sb.ClientSecret(),
		State: filepath.Join(*dir, "salesbridge.db"), Prefix: bridge.DefaultPrefix, Rate: salesapi.DefaultRate,
		Lookback: bridge.DefaultLookback, Initial: diff.FirstSnapshot, PII: piiMode,
		MetricsAddr: freeAddr(*metricsAddr),
	}
	printBanner(stdout, ns.ClientURL(), c, *speed)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	viewDone := make(chan error, 1)
	go func() { viewDone <- watchEvents(ctx, nc, bridge.NamesFor(c.Prefix), stdout) }()

	err = serve(ctx, c, clk, nc, log)
	cancel()
	if verr := <-viewDone; verr != nil && !errors.Is(verr, context.Canceled) && err == nil {
		err = verr
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	fmt.Fprintln(stdout, "demo stopped")
	return err
}

// startNATS starts an embedded NATS server with JetStream on loopback.
func startNATS(storeDir string, port int) (*server.Server, error) {
	if port > 0 && !portFree(port) {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats did not start within 10s")
	}
	return ns, nil
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// freeAddr returns addr if it can be listened on, else the same host with a
// port the system picks.
func freeAddr(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		return addr
	}
	host, _, _ := net.SplitHostPort(addr)
	ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return ""
	}
	defer ln.Close()
	return ln.Addr().String()
}

func printBanner(w io.Writer, natsURL string, c config, speed float64) {
	n := bridge.NamesFor(c.Prefix)
	fmt.Fprintf(w, `salesbridge demo — embedded NATS, the sandbox API at %gx speed, the bridge
  NATS:     %s   (JetStream; stream %s, KV %s)
  API:      %s   (sandbox, client %s)
  metrics:  http://%s/metrics
Watch from another terminal with the nats CLI:
  nats -s %s stream info %s
  nats -s %s sub '%s.order.>'
  nats -s %s micro ls
  nats -s %s kv ls %s
Press Ctrl-C to stop.

`, speed, natsURL, n.EventsStream, n.OrdersBucket, c.APIURL, c.ClientID, c.MetricsAddr,
		natsURL, n.EventsStream, natsURL, c.Prefix, natsURL, natsURL, n.OrdersBucket)
}
