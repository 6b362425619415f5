package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

const stateUsage = `Usage:
  salesbridge state inspect [--state FILE] [--json]
  salesbridge state export  [--state FILE] [--out FILE] [--pii mask|omit|full]

inspect prints what the state file holds: its id, schema, size, the orders
by status, the sync cursors and the planner's last sync, the outbox and the
command ledger. export writes the tracked orders as JSON lines (one order a
line, as the API gave it) to stdout or --out (created with mode 0600);
visitor name, e-mail and phone are masked by default (--pii mask), removed
with --pii omit, kept with --pii full. SALESBRIDGE_PII is not read: an
export leaves the bridge.

Both open the file read-only. A running bridge holds it: stop the bridge,
or copy the file and point --state at the copy.
`

// runState is `salesbridge state inspect|export`.
func runState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return stateCommand(ctx, args, stdout, stderr, os.LookupEnv)
}

func stateCommand(_ context.Context, args []string, stdout, stderr io.Writer, env envLookup) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, stateUsage)
		return &exitError{2, errors.New("state: want inspect or export")}
	}
	switch args[0] {
	case "inspect":
		return stateInspect(args[1:], stdout, stderr, env)
	case "export":
		return stateExport(args[1:], stdout, stderr, env)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, stateUsage)
		return nil
	}
	fmt.Fprint(stderr, stateUsage)
	return &exitError{2, fmt.Errorf("state: unknown command %q (want inspect or export)", args[0])}
}

// stateFlags registers --state (env SALESBRIDGE_STATE) and returns the
// path once parsed.
func stateFlags(name string, stderr io.Writer, env envLookup) (*flag.FlagSet, func() string) {
	fset := newFlagSet("state "+name, stderr)
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), stateUsage+"\nFlags:\n")
		fset.PrintDefaults()
	}
	path := fset.String("state", "", fmt.Sprintf("state file (env SALESBRIDGE_STATE; default %q)", defaultStatePath))
	return fset, func() string {
		set := false
		fset.Visit(func(f *flag.Flag) { set = set || f.Name == "state" })
		if set {
			return *path
		}
		if v, ok := env("SALESBRIDGE_STATE"); ok && v != "" {
			return v
		}
		return defaultStatePath
	}
}

func parseStateFlags(fset *flag.FlagSet, args []string) error {
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{2, err}
	}
	if fset.NArg() > 0 {
		return &exitError{2, fmt.Errorf("unexpected arguments: %s", strings.Join(fset.Args(), " "))}
	}
	return nil
}

// openStateReadOnly opens path for reading, with an error a person can act
// on when it cannot.
func openStateReadOnly(path string) (*state.Store, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("state file %s does not exist (set --state or SALESBRIDGE_STATE)", path)
	}
	store, err := state.Open(path, &state.Options{ReadOnly: true, Timeout: -1})
	switch {
	case errors.Is(err, state.ErrLocked):
		return nil, fmt.Errorf("%s: the state file is in use by a running salesbridge; stop it or copy the file", path)
	case err != nil:
		return nil, fmt.Errorf("open state file: %w", err)
	}
	return store, nil
}

// inspection is what `state inspect --json` prints.
type inspection struct {
	Path          string `json:"path"`
	ID            string `json:"id"`
	SchemaVersion int    `json:"schemaVersion"`
	SizeBytes     int64  `json:"sizeBytes"`
	Orders        struct {
		Total    int            `json:"total"`
		ByStatus map[string]int `json:"byStatus"`
	} `json:"orders"`
	Cursors []string `json:"cursors"`
	// From the planner's cursor, when it can be read.
	LastSync *time.Time `json:"lastSync"`
	Sweeps   *int       `json:"sweeps,omitempty"`
	// When the first sync completed (the "initial" cursor).
	InitialSync *time.Time `json:"initialSync"`
	Outbox      struct {
		Depth  int        `json:"depth"`
		Oldest *time.Time `json:"oldest"`
	} `json:"outbox"`
	CommandLedger int `json:"commandLedger"`
}

func stateInspect(args []string, stdout, stderr io.Writer, env envLookup) error {
	fset, path := stateFlags("inspect", stderr, env)
	asJSON := fset.Bool("json", false, "print JSON instead of text")
	if err := parseStateFlags(fset, args); err != nil {
		return err
	}
	store, err := openStateReadOnly(path())
	if err != nil {
		return err
	}
	defer store.Close()
	in, err := inspect(store)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	printInspection(stdout, in)
	return nil
}

func inspect(store *state.Store) (inspection, error) {
	st, err := store.Stats()
	if err != nil {
		return inspection{}, err
	}
	var in inspection
	in.Path, in.ID, in.SchemaVersion, in.SizeBytes = store.Path(), st.ID, st.SchemaVersion, st.FileSize
	in.Orders.Total = st.Total
	in.Orders.ByStatus = map[string]int{}
	for s, n := range st.Orders {
		in.Orders.ByStatus[s.String()] = n
	}
	in.Cursors = st.Cursors
	in.Outbox.Depth = st.OutboxDepth
	in.Outbox.Oldest = utcPtr(st.OutboxOldest)
	in.CommandLedger = st.Commands
	// The planner's cursor is its own business; read only what is stable
	// enough to show, and say nothing if it does not parse.
	if raw, ok, err := store.Cursor("plan"); err == nil && ok {
		var p struct {
			LastSync time.Time `json:"lastSync"`
			Sweeps   *int      `json:"sweeps"`
		}
		if json.Unmarshal(raw, &p) == nil {
			in.LastSync, in.Sweeps = utcPtr(p.LastSync), p.Sweeps
		}
	}
	if raw, ok, err := store.Cursor("initial"); err == nil && ok {
		if t, err := salesapi.ParseTime(string(raw)); err == nil {
			in.InitialSync = utcPtr(t)
		}
	}
	return in, nil
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func printInspection(w io.Writer, in inspection) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	when := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return salesapi.FormatTime(*t)
	}
	fmt.Fprintf(tw, "state file\t%s\n", in.Path)
	fmt.Fprintf(tw, "id\t%s\n", in.ID)
	fmt.Fprintf(tw, "schema\t%d\n", in.SchemaVersion)
	fmt.Fprintf(tw, "size\t%s\n", bytesText(uint64(max(in.SizeBytes, 0))))
	fmt.Fprintf(tw, "orders\t%d\n", in.Orders.Total)
	names := make([]string, 0, len(in.Orders.ByStatus))
	for _, s := range salesapi.Statuses() {
		names = append(names, s.String())
	}
	for name := range in.Orders.ByStatus {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		fmt.Fprintf(tw, "  %s\t%d\n", name, in.Orders.ByStatus[name])
	}
	cursors := "none"
	if len(in.Cursors) > 0 {
		cursors = strings.Join(in.Cursors, ", ")
	}
	fmt.Fprintf(tw, "cursors\t%s\n", cursors)
	fmt.Fprintf(tw, "first sync done\t%s\n", when(in.InitialSync))
	last := when(in.LastSync)
	if in.Sweeps != nil && in.LastSync != nil {
		last += fmt.Sprintf(" (start of complete sync no. %d)", *in.Sweeps)
	}
	fmt.Fprintf(tw, "last sync\t%s\n", last)
	outbox := fmt.Sprintf("%d waiting", in.Outbox.Depth)
	if in.Outbox.Oldest != nil {
		outbox += ", oldest added " + when(in.Outbox.Oldest)
	}
	fmt.Fprintf(tw, "outbox\t%s\n", outbox)
	fmt.Fprintf(tw, "command ledger\t%d record(s)\n", in.CommandLedger)
	_ = tw.Flush()
}

func stateExport(args []string, stdout, stderr io.Writer, env envLookup) error {
	fset, path := stateFlags("export", stderr, env)
	out := fset.String("out", "", "write to this file (mode 0600) instead of stdout")
	piiFlag := fset.String("pii", "mask", "visitor name, e-mail and phone: mask, omit or full")
	if err := parseStateFlags(fset, args); err != nil {
		return err
	}
	pii, err := bridge.ParsePII(*piiFlag)
	if err != nil {
		return &exitError{2, err}
	}
	store, err := openStateReadOnly(path())
	if err != nil {
		return err
	}
	defer store.Close()

	w := stdout
	var file *os.File
	if *out != "" {
		if file, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, state.FileMode); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriter(w)
	n := 0
	err = store.ForEachOrder(func(o state.Order) error {
		line, err := pii.Order(o.Raw)
		if err != nil {
			return fmt.Errorf("order %d: %w", o.ID, err)
		}
		bw.Write(line)
		n++
		return bw.WriteByte('\n')
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && file != nil {
		err = file.Close()
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	dest := "stdout"
	if *out != "" {
		dest = *out
	}
	fmt.Fprintf(stderr, "exported %d order(s) to %s (personal data: %s)\n", n, dest, pii)
	return nil
}
