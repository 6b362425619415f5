package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// natsContext is the part of a saved `nats` CLI context the bridge uses.
type natsContext struct {
	URL      string `json:"url"`
	Creds    string `json:"creds"`
	NKey     string `json:"nkey"`
	User     string `json:"user"`
	Password string `json:"password"`
	Token    string `json:"token"`
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	CA       string `json:"ca"`
}

// loadNATSContext reads a context saved by `nats context save NAME` (or a
// path to such a file).
func loadNATSContext(name string) (natsContext, error) {
	path := name
	if !strings.HasSuffix(name, ".json") {
		dir := os.Getenv("XDG_CONFIG_HOME")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return natsContext{}, fmt.Errorf("nats context %q: %w", name, err)
			}
			dir = filepath.Join(home, ".config")
		}
		path = filepath.Join(dir, "nats", "context", name+".json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return natsContext{}, fmt.Errorf("nats context %q: %w", name, err)
	}
	var c natsContext
	if err := json.Unmarshal(b, &c); err != nil {
		return natsContext{}, fmt.Errorf("nats context %q: %w", name, err)
	}
	return c, nil
}

// connectNATS connects as configured: a saved context first, then explicit
// settings on top. It keeps reconnecting for ever once connected, and logs
// each disconnect and reconnect.
func connectNATS(c config, name string, log *zap.Logger) (*nats.Conn, error) {
	url := c.NATSURL
	var opts []nats.Option
	if c.NATSContext != "" {
		ctx, err := loadNATSContext(c.NATSContext)
		if err != nil {
			return nil, err
		}
		if ctx.URL != "" {
			url = ctx.URL
		}
		switch {
		case ctx.Creds != "":
			opts = append(opts, nats.UserCredentials(ctx.Creds))
		case ctx.NKey != "":
			o, err := nats.NkeyOptionFromSeed(ctx.NKey)
			if err != nil {
				return nil, fmt.Errorf("nats context %q: nkey: %w", c.NATSContext, err)
			}
			opts = append(opts, o)
		case ctx.User != "":
			opts = append(opts, nats.UserInfo(ctx.User, ctx.Password))
		case ctx.Token != "":
			opts = append(opts, nats.Token(ctx.Token))
		}
		if ctx.CA != "" {
			opts = append(opts, nats.RootCAs(ctx.CA))
		}
		if ctx.Cert != "" || ctx.Key != "" {
			opts = append(opts, nats.ClientCert(ctx.Cert, ctx.Key))
		}
	}
	if c.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(c.NATSCreds))
	}
	if c.NATSCA != "" {
		opts = append(opts, nats.RootCAs(c.NATSCA))
	}
	if c.NATSCert != "" || c.NATSKey != "" {
		if c.NATSCert == "" || c.NATSKey == "" {
			return nil, errors.New("nats TLS: --nats-cert and --nats-key go together")
		}
		opts = append(opts, nats.ClientCert(c.NATSCert, c.NATSKey))
	}
	opts = append(opts,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", zap.String("server", nc.ConnectedUrlRedacted())) }),
	)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats at %s: %w", redactURL(url), err)
	}
	return nc, nil
}

// redactURL hides a password or token in a NATS URL.
func redactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if scheme := strings.Index(p, "://"); scheme >= 0 && scheme < at {
				parts[i] = p[:scheme+3] + "[REDACTED]" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}
