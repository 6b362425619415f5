package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// runDaemon is `salesbridge run`: the bridge against the configured API and
// NATS, until a signal stops it.
func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer, env envLookup) error {
	fs := newFlagSet("run", stderr)
	resolve := configFlags(fs, env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := resolve()
	if err == nil {
		err = c.requireCredentials()
	}
	if err != nil {
		return &exitError{2, fmt.Errorf("configuration: %w", err)}
	}
	log, err := newLogger(stderr, c.LogLevel, false)
	if err != nil {
		return &exitError{2, err}
	}
	defer func() { _ = log.Sync() }()
	nc, err := connectNATS(c, "salesbridge "+version, log.Named("nats"))
	if err != nil {
		return err
	}
	defer nc.Close()
	return serve(ctx, c, clock.Real(), nc, log)
}

// serve runs the bridge on an open NATS connection: it opens the state file
// and the API client, serves metrics, and runs until ctx ends.
func serve(ctx context.Context, c config, clk clock.Clock, nc *nats.Conn, log *zap.Logger) error {
	store, err := state.Open(c.State, &state.Options{Clock: clk, Logger: log.Named("state")})
	if err != nil {
		if errors.Is(err, state.ErrLocked) {
			return fmt.Errorf("state file %s is held by another salesbridge process (only one bridge may run per state file): %w", c.State, err)
		}
		if errors.Is(err, state.ErrCorrupt) {
			return fmt.Errorf("%w; to recover, move the file aside (mv %s %s.damaged) and start again: the bridge reads the --lookback window again and emits it per --initial, and JetStream's de-duplication drops what it had already published within the duplicate window (24 h)", err, c.State, c.State)
		}
		return fmt.Errorf("open state file: %w", err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close state file", zap.Error(err))
		}
	}()
	metrics := bridge.NewMetrics()
	client, err := salesapi.New(salesapi.Config{
		APIURL:       c.APIURL,
		AuthURL:      c.AuthURL,
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Rate:         c.Rate,
		Clock:        clk,
		UserAgent:    "salesbridge/" + version,
		Logger:       log.Named("api"),
		Hooks:        metrics.APIHooks(),
	})
	if err != nil {
		return fmt.Errorf("api client: %w", err)
	}
	defer client.Close()
	b, err := bridge.New(bridge.Config{
		Prefix:   c.Prefix,
		ClientID: c.ClientID,
		Lookback: c.Lookback,
		OGRN:     c.OGRN,
		Initial:  c.Initial,
		PII:      c.PII,
		Version:  version,
		Clock:    clk,
		Logger:   log,
		Metrics:  metrics,
	}, client, store, nc)
	if err != nil {
		return err
	}
	stopMetrics, err := serveMetrics(c.MetricsAddr, metrics, b, log.Named("http"))
	if err != nil {
		return err
	}
	defer stopMetrics()
	log.Info("starting", zap.String("version", version), zap.String("api", c.APIURL), zap.String("state", c.State),
		zap.String("client_id", c.ClientID), zap.Int("rate", c.Rate), zap.Duration("lookback", c.Lookback))
	return b.Run(ctx)
}
