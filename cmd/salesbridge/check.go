package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// checkTimeout bounds each network step of `check` (wall-clock).
const checkTimeout = 20 * time.Second

// runCheck is `salesbridge check`: it checks the configuration, the API
// account (one token, one list call), NATS, JetStream, the streams and
// buckets and the state file, and prints one line per check.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return check(ctx, args, stdout, stderr, os.LookupEnv)
}

// checkReport prints the lines of the report and counts what failed.
type checkReport struct {
	w                  io.Writer
	failures, warnings int
}

// The marks of a report line.
const (
	markOK      = "✓"
	markFail    = "✗"
	markWarn    = "!"
	markSkipped = "-"
)

func (r *checkReport) line(mark, what, detail string) {
	switch mark {
	case markFail:
		r.failures++
	case markWarn:
		r.warnings++
	}
	fmt.Fprintf(r.w, "%s %-27s %s\n", mark, what, detail)
}

func check(ctx context.Context, args []string, stdout, stderr io.Writer, env envLookup) error {
	fset := newFlagSet("check", stderr)
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), `Usage: salesbridge check [flags]

Checks what "salesbridge run" needs, with the same flags and environment:
the configuration, a token from the token endpoint, ONE list call (limit=1:
it spends one of the account's calls of the minute, so run it while the
bridge is stopped), the NATS connection, JetStream, the streams and buckets,
and the state file. Prints one line per check (✓ ok, ✗ failed, ! warning,
- skipped) and exits 1 if any check failed, 2 if the configuration is wrong.

`)
		fset.PrintDefaults()
	}
	resolve := configFlags(fset, env)
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{2, err}
	}
	r := &checkReport{w: stdout}
	c, err := resolve()
	if err == nil {
		err = c.requireCredentials()
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			r.line(markFail, "configuration", line)
		}
		return &exitError{2, fmt.Errorf("configuration: %w", err)}
	}
	r.line(markOK, "configuration", fmt.Sprintf("client %s, API %s, prefix %s", c.ClientID, c.APIURL, c.Prefix))

	checkAPI(ctx, r, c)
	if nc := checkNATS(r, c); nc != nil {
		checkJetStream(ctx, r, c, nc)
		nc.Close()
	}
	checkState(r, c.State)

	if r.failures > 0 {
		fmt.Fprintf(stdout, "\n%d check(s) failed, %d warning(s)\n", r.failures, r.warnings)
		return &exitError{1, fmt.Errorf("%d check(s) failed", r.failures)}
	}
	fmt.Fprintf(stdout, "\nall checks passed, %d warning(s)\n", r.warnings)
	return nil
}

// checkAPI fetches a token and makes one list call with limit=1, without
// retries, so that it spends exactly one call.
func checkAPI(ctx context.Context, r *checkReport, c config) {
	var (
		tokenSeen bool
		tokenErr  error
		status    int
	)
	client, err := salesapi.New(salesapi.Config{
		APIURL: c.APIURL, AuthURL: c.AuthURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		Rate: c.Rate, Timeout: checkTimeout, MaxRetries: -1, UserAgent: "salesbridge/" + version + " (check)",
		Logger: zap.NewNop(),
		Hooks: salesapi.Hooks{
			Token: func(err error) { tokenSeen, tokenErr = true, err },
			Call:  func(ci salesapi.CallInfo) { status = ci.StatusCode },
		},
	})
	if err != nil {
		r.line(markFail, "API client", err.Error())
		r.line(markSkipped, "API call", "skipped")
		return
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
	defer cancel()
	orders, err := client.ListOrders(ctx, salesapi.Query{Limit: 1, OGRN: c.OGRN})
	tokenURL := strings.TrimSuffix(c.AuthURL, "/") + "/" + salesapi.TokenPath
	switch {
	case tokenSeen && tokenErr == nil:
		r.line(markOK, "token", fmt.Sprintf("got an access token for client %s from %s", c.ClientID, tokenURL))
	case tokenErr != nil:
		r.line(markFail, "token", tokenErr.Error()+tokenHint(tokenErr))
		r.line(markSkipped, "API call", "skipped: no token (no call was spent)")
		return
	default:
		r.line(markFail, "token", fmt.Sprintf("no token from %s: %v", tokenURL, err))
		r.line(markSkipped, "API call", "skipped: no token (no call was spent)")
		return
	}
	spent := fmt.Sprintf("(spent 1 of the %d calls a minute of the account)", c.Rate)
	if err != nil {
		r.line(markFail, "API call", fmt.Sprintf("GET external/orders?limit=1: %v%s %s", err, apiHint(err), spent))
		return
	}
	what := "no orders created in the last 24 hours"
	if len(orders) > 0 {
		what = "1 order"
	}
	r.line(markOK, "API call", fmt.Sprintf("GET external/orders?limit=1 answered %d: %s %s", status, what, spent))
}

func tokenHint(err error) string {
	var te *salesapi.TokenError
	if !errors.As(err, &te) {
		return ""
	}
	switch {
	case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusBadRequest || te.Code == "unauthorized_client" || te.Code == "invalid_client":
		return " — check the client id and secret (SALESBRIDGE_CLIENT_ID, SALESBRIDGE_CLIENT_SECRET_FILE)"
	case te.StatusCode == http.StatusNotFound:
		return " — check SALESBRIDGE_AUTH_URL"
	case te.StatusCode == 0:
		return " — the token endpoint did not answer: check SALESBRIDGE_AUTH_URL and the network"
	}
	return ""
}

func apiHint(err error) string {
	switch {
	case errors.Is(err, salesapi.ErrRateLimited):
		return " — something else spends this account's budget: a running bridge, another copy, a script"
	case errors.Is(err, salesapi.ErrForbidden):
		return " — an OGRN outside the contract? check SALESBRIDGE_OGRN"
	case errors.Is(err, salesapi.ErrUnauthorized):
		return " — the API refused a fresh token: the account may not be allowed on this API"
	case errors.Is(err, salesapi.ErrNotFound):
		return " — check SALESBRIDGE_API_URL (it ends in /v2/)"
	case errors.Is(err, salesapi.ErrUnavailable):
		return " — the API did not answer or failed: check SALESBRIDGE_API_URL and the network, or try later"
	}
	return ""
}

// checkNATS connects as the bridge would; nil if it cannot.
func checkNATS(r *checkReport, c config) *nats.Conn {
	nc, err := connectNATS(c, "salesbridge check "+version, zap.NewNop())
	if err != nil {
		r.line(markFail, "NATS", err.Error()+" — check SALESBRIDGE_NATS_URL (or NATS_URL), the creds and TLS settings")
		r.line(markSkipped, "JetStream", "skipped")
		return nil
	}
	r.line(markOK, "NATS", fmt.Sprintf("connected to %s (server %s)", nc.ConnectedUrlRedacted(), nc.ConnectedServerVersion()))
	return nc
}

// checkJetStream checks that JetStream answers, and the streams and buckets
// of the contract. Absent ones are warnings: the bridge creates them.
func checkJetStream(ctx context.Context, r *checkReport, c config, nc *nats.Conn) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	js, err := jetstream.New(nc)
	if err == nil {
		var info *jetstream.AccountInfo
		if info, err = js.AccountInfo(ctx); err == nil {
			r.line(markOK, "JetStream", fmt.Sprintf("available: %d stream(s), %s of file storage used", info.Streams, bytesText(info.Store)))
		}
	}
	if err != nil {
		hint := ""
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			hint = " — enable JetStream on the server (and for this account)"
		}
		r.line(markFail, "JetStream", err.Error()+hint)
		return
	}
	names := bridge.NamesFor(c.Prefix)
	for _, want := range []jetstream.StreamConfig{names.EventsStreamConfig(bridge.StreamOptions{}), names.CommandsStreamConfig(bridge.StreamOptions{})} {
		checkStream(ctx, r, js, want)
	}
	for _, bucket := range []string{names.OrdersBucket, names.SchemasBucket} {
		what := "KV " + bucket
		kv, err := js.KeyValue(ctx, bucket)
		switch {
		case errors.Is(err, jetstream.ErrBucketNotFound):
			r.line(markWarn, what, "absent: the bridge creates it at start")
		case err != nil:
			r.line(markFail, what, err.Error())
		default:
			st, err := kv.Status(ctx)
			if err != nil {
				r.line(markFail, what, err.Error())
				continue
			}
			r.line(markOK, what, fmt.Sprintf("present, %d value(s)", st.Values()))
		}
	}
}

// checkStream compares a stream with the configuration the bridge gives it.
func checkStream(ctx context.Context, r *checkReport, js jetstream.JetStream, want jetstream.StreamConfig) {
	what := "stream " + want.Name
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		r.line(markWarn, what, "absent: the bridge creates it at start")
		return
	}
	if err != nil {
		r.line(markFail, what, err.Error())
		return
	}
	info := s.CachedInfo()
	got := info.Config
	// What the bridge cannot change by updating the stream.
	var fatal []string
	if got.Retention != want.Retention {
		fatal = append(fatal, fmt.Sprintf("retention %s, want %s", got.Retention, want.Retention))
	}
	if got.Storage != want.Storage {
		fatal = append(fatal, fmt.Sprintf("storage %s, want %s", got.Storage, want.Storage))
	}
	if len(fatal) > 0 {
		r.line(markFail, what, strings.Join(fatal, "; ")+" — the bridge cannot change this: recreate the stream or use another prefix")
		return
	}
	// What the bridge sets at start.
	var diffs []string
	for _, subj := range want.Subjects {
		if !slices.Contains(got.Subjects, subj) {
			diffs = append(diffs, "subject "+subj+" missing")
		}
	}
	if got.MaxAge != want.MaxAge {
		diffs = append(diffs, fmt.Sprintf("max age %s, the bridge sets %s", got.MaxAge, want.MaxAge))
	}
	if got.Duplicates != want.Duplicates {
		diffs = append(diffs, fmt.Sprintf("duplicate window %s, the bridge sets %s", got.Duplicates, want.Duplicates))
	}
	if len(diffs) > 0 {
		r.line(markWarn, what, strings.Join(diffs, "; ")+" (updated when the bridge starts, if its NATS user may)")
		return
	}
	r.line(markOK, what, fmt.Sprintf("as expected: %d message(s)", info.State.Msgs))
}

// checkState opens the state file read-only, if there is one.
func checkState(r *checkReport, path string) {
	what := "state file"
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(path)
		if d, err := os.Stat(dir); err != nil || !d.IsDir() {
			r.line(markFail, what, fmt.Sprintf("%s does not exist and its directory %s is missing", path, dir))
			return
		}
		r.line(markWarn, what, path+" does not exist yet: the bridge creates it and starts with a first sync")
		return
	}
	if err != nil {
		r.line(markFail, what, err.Error())
		return
	}
	store, err := state.Open(path, &state.Options{ReadOnly: true, Timeout: -1})
	if errors.Is(err, state.ErrLocked) {
		r.line(markWarn, what, path+" is in use by a running salesbridge; skipped (this check's API call came on top of its budget)")
		return
	}
	if err != nil {
		r.line(markFail, what, err.Error())
		return
	}
	defer store.Close()
	st, err := store.Stats()
	if err != nil {
		r.line(markFail, what, err.Error())
		return
	}
	r.line(markOK, what, fmt.Sprintf("%s: %d order(s), %d event(s) waiting in the outbox, schema %d", path, st.Total, st.OutboxDepth, st.SchemaVersion))
	if fi.Mode().Perm()&0o077 != 0 {
		r.line(markWarn, what, fmt.Sprintf("mode %v lets others read visitor data: the bridge tightens it to %v at start", fi.Mode().Perm(), state.FileMode))
	}
}

// bytesText writes n bytes for humans.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
