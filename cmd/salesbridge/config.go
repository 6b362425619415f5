package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
)

// The contract's defaults (DESIGN.md §3).
const (
	defaultAPIURL      = "https://gateway.domapi.domrf.ru/api/eisgs/sales-module/v2/"
	defaultAuthURL     = "https://xn--80az8a.xn--d1aqf.xn--p1ai/idm-services/auth/realms/external-eisgs-idm/"
	defaultNATSURL     = "nats://127.0.0.1:4222"
	defaultStatePath   = "salesbridge.db"
	defaultMetricsAddr = "127.0.0.1:9464"
)

// config is everything `run` (and the commands that share its flags) needs.
// Each flag has an environment twin; a flag given on the command line wins.
type config struct {
	APIURL           string
	AuthURL          string
	ClientID         string
	ClientSecret     string // from SALESBRIDGE_CLIENT_SECRET or the secret file; never a flag value
	ClientSecretFile string
	NATSURL          string
	NATSCreds        string
	NATSContext      string
	NATSCA           string
	NATSCert         string
	NATSKey          string
	State            string
	Prefix           string
	Rate             int
	Lookback         time.Duration
	OGRN             []string
	Initial          diff.First
	PII              bridge.PII
	MetricsAddr      string
	LogLevel         string
}

// envLookup reads an environment variable; tests pass a map's lookup.
type envLookup func(string) (string, bool)

// option is one setting: a flag, its environment twins and its default.
type option struct {
	flag  string
	env   []string
	def   string
	usage string
}

// options lists the settings of the contract (DESIGN.md §3) and a few more.
func options() []option {
	return []option{
		{"api-url", []string{"SALESBRIDGE_API_URL"}, defaultAPIURL, "Sales Module API base URL"},
		{"auth-url", []string{"SALESBRIDGE_AUTH_URL"}, defaultAuthURL, "OAuth2 realm URL; the token endpoint is protocol/openid-connect/token under it"},
		{"client-id", []string{"SALESBRIDGE_CLIENT_ID"}, "", "API client id"},
		{"client-secret-file", []string{"SALESBRIDGE_CLIENT_SECRET_FILE"}, "", "file holding the API client secret (or set SALESBRIDGE_CLIENT_SECRET)"},
		{"nats-url", []string{"SALESBRIDGE_NATS_URL", "NATS_URL"}, defaultNATSURL, "NATS server URL(s), comma-separated"},
		{"nats-creds", []string{"SALESBRIDGE_NATS_CREDS"}, "", "NATS credentials file"},
		{"nats-context", []string{"SALESBRIDGE_NATS_CONTEXT"}, "", "a saved nats CLI context to connect with"},
		{"nats-ca", []string{"SALESBRIDGE_NATS_CA"}, "", "CA certificate for NATS TLS"},
		{"nats-cert", []string{"SALESBRIDGE_NATS_CERT"}, "", "client certificate for NATS TLS"},
		{"nats-key", []string{"SALESBRIDGE_NATS_KEY"}, "", "client key for NATS TLS"},
		{"state", []string{"SALESBRIDGE_STATE"}, defaultStatePath, "state file"},
		{"prefix", []string{"SALESBRIDGE_PREFIX"}, bridge.DefaultPrefix, "subject prefix"},
		{"rate", []string{"SALESBRIDGE_RATE"}, strconv.Itoa(salesapi.DefaultRate), "API calls per minute, GET and PATCH together"},
		{"lookback", []string{"SALESBRIDGE_LOOKBACK"}, "90d", "how far back orders are tracked (e.g. 90d, 720h)"},
		{"ogrn", []string{"SALESBRIDGE_OGRN"}, "", "comma-separated OGRNs to filter by"},
		{"initial", []string{"SALESBRIDGE_INITIAL"}, "snapshot", "what the first sync emits: snapshot, created or none"},
		{"pii", []string{"SALESBRIDGE_PII"}, "full", "visitor name, e-mail, phone in events: full, mask or omit"},
		{"metrics-addr", []string{"SALESBRIDGE_METRICS_ADDR"}, defaultMetricsAddr, "address of /metrics, /healthz, /readyz (empty: off)"},
		{"log-level", []string{"SALESBRIDGE_LOG_LEVEL"}, "info", "debug, info, warn or error"},
	}
}

// configFlags registers the shared flags on fs and returns a function that,
// after fs.Parse, resolves flags and environment into a config.
func configFlags(fs *flag.FlagSet, env envLookup) func() (config, error) {
	vals := map[string]*string{}
	byName := map[string]option{}
	for _, o := range options() {
		byName[o.flag] = o
		vals[o.flag] = fs.String(o.flag, "", fmt.Sprintf("%s (env %s; default %q)", o.usage, strings.Join(o.env, ", then "), o.def))
	}
	return func() (config, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		get := func(name string) string {
			if set[name] {
				return *vals[name]
			}
			for _, e := range byName[name].env {
				if v, ok := env(e); ok && v != "" {
					return v
				}
			}
			return byName[name].def
		}
		var c config
		var errs []error
		c.APIURL = withSlash(get("api-url"))
		c.AuthURL = withSlash(get("auth-url"))
		c.ClientID = get("client-id")
		c.ClientSecretFile = get("client-secret-file")
		c.NATSURL = get("nats-url")
		c.NATSCreds = get("nats-creds")
		c.NATSContext = get("nats-context")
		c.NATSCA, c.NATSCert, c.NATSKey = get("nats-ca"), get("nats-cert"), get("nats-key")
		c.State = get("state")
		c.Prefix = get("prefix")
		c.MetricsAddr = get("metrics-addr")
		c.LogLevel = get("log-level")
		if v, ok := env("SALESBRIDGE_CLIENT_SECRET"); ok {
			c.ClientSecret = v
		}
		var err error
		if c.Rate, err = strconv.Atoi(get("rate")); err != nil || c.Rate < 1 {
			errs = append(errs, fmt.Errorf("rate %q: want a whole number of calls per minute ≥ 1", get("rate")))
		}
		if c.Lookback, err = parseDays(get("lookback")); err != nil || c.Lookback <= 0 {
			errs = append(errs, fmt.Errorf("lookback %q: want a positive duration like 90d or 720h", get("lookback")))
		}
		for _, o := range strings.Split(get("ogrn"), ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.OGRN = append(c.OGRN, o)
			}
		}
		if err := (salesapi.Query{OGRN: c.OGRN}).Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.Initial, err = parseInitial(get("initial")); err != nil {
			errs = append(errs, err)
		}
		if c.PII, err = bridge.ParsePII(get("pii")); err != nil {
			errs = append(errs, err)
		}
		if !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") {
			errs = append(errs, fmt.Errorf("api-url %q: want an http(s) URL", c.APIURL))
		}
		if !strings.HasPrefix(c.AuthURL, "http://") && !strings.HasPrefix(c.AuthURL, "https://") {
			errs = append(errs, fmt.Errorf("auth-url %q: want an http(s) URL", c.AuthURL))
		}
		if c.Prefix == "" || strings.ContainsAny(c.Prefix, " *>\t") {
			errs = append(errs, fmt.Errorf("prefix %q: want a non-empty subject without spaces or wildcards", c.Prefix))
		}
		return c, errors.Join(errs...)
	}
}

// requireCredentials checks that an API account is configured and reads
// the secret file. The secret never appears in an error.
func (c *config) requireCredentials() error {
	var errs []error
	if c.ClientID == "" {
		errs = append(errs, errors.New("client id is required: --client-id or SALESBRIDGE_CLIENT_ID"))
	}
	if c.ClientSecretFile != "" {
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("client secret file: %w", err))
		} else {
			c.ClientSecret = strings.TrimSpace(string(b))
		}
	}
	if c.ClientSecret == "" && len(errs) == 0 {
		errs = append(errs, errors.New("client secret is required: SALESBRIDGE_CLIENT_SECRET, SALESBRIDGE_CLIENT_SECRET_FILE or --client-secret-file"))
	}
	return errors.Join(errs...)
}

func withSlash(u string) string {
	if u != "" && !strings.HasSuffix(u, "/") {
		return u + "/"
	}
	return u
}

// parseDays reads a Go duration, also accepting whole days ("90d").
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func parseInitial(s string) (diff.First, error) {
	switch s {
	case "snapshot":
		return diff.FirstSnapshot, nil
	case "created":
		return diff.FirstCreated, nil
	case "none":
		return diff.FirstNone, nil
	}
	return 0, fmt.Errorf("initial %q: want snapshot, created or none", s)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
