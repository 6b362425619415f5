// Command salesbridge connects the DOM.RF Sales Module API to NATS: it polls
// the API within its call budget and publishes what changed as events on
// JetStream, and turns commands from NATS into API calls.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "salesbridge:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

const usage = `salesbridge connects the DOM.RF Sales Module API to NATS JetStream.

Usage:
  salesbridge run       the daemon: poll the API, publish events, execute commands
  salesbridge demo      everything on this machine: embedded NATS, the sandbox API, the bridge, a live view
  salesbridge sandbox   serve a faithful fake of the Sales Module API
  salesbridge check     check the configuration, the API account and NATS (spends one API call)
  salesbridge state     inspect or export the state file (inspect | export)
  salesbridge order     send a command and wait for its outcome (order patch --id N …)
  salesbridge schemas   list or write out the message schemas
  salesbridge bench     measure how fresh the sync planner keeps orders (bench freshness)
  salesbridge version   print the version

Run "salesbridge COMMAND -h" for the flags of a command. Every flag of run has
an environment twin (SALESBRIDGE_…); a flag given on the command line wins.
`

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runDaemon(ctx, rest, stdout, stderr, os.LookupEnv)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "sandbox":
		return runSandbox(ctx, rest, stdout, stderr)
	case "schemas":
		return runSchemas(ctx, rest, stdout, stderr)
	case "order":
		return runOrder(ctx, rest, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, stdout, stderr)
	case "state":
		return runState(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "salesbridge", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{2, fmt.Errorf("unknown command %q", cmd)}
}
