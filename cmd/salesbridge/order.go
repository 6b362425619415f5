package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
)

// Exit codes of `salesbridge order`: 0 the command succeeded, 1 it failed
// (or something else went wrong), 2 usage, 3 no outcome within --timeout.
const exitNoOutcome = 3

const orderUsage = `Usage:
  salesbridge order patch --id N [--status S] [--final-price N] [--comment TEXT]
                          [--command-id ID] [--sync] [--timeout 30s] [NATS flags]

Sends a command to change an order and prints its outcome (JSON). By default
the command goes through the commands stream, so it waits there while the
bridge is down; --sync asks the bridge's micro endpoint instead and needs it
running. The exit code is 0 when the API accepted the change, 1 when the
command failed, 3 when no outcome arrived within --timeout (a queued command
stays queued; its outcome is published on <prefix>.cmd.result.<command id>).
`

// runOrder is `salesbridge order`.
func runOrder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runOrderEnv(ctx, args, stdout, stderr, os.LookupEnv)
}

func runOrderEnv(ctx context.Context, args []string, stdout, stderr io.Writer, env envLookup) error {
	if len(args) == 0 || args[0] != "patch" {
		fmt.Fprint(stderr, orderUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return flag.ErrHelp
		}
		return &exitError{2, errors.New("order: want the subcommand patch")}
	}
	fs := newFlagSet("order patch", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, orderUsage, "\nFlags:\n"); fs.PrintDefaults() }
	resolve := configFlags(fs, env)
	orderID := fs.Int64("id", 0, "the order id (required)")
	status := fs.String("status", "", "new status: 1-5 or PROGRESS, CONFIRMED, COMPLETE, REFUSED, TERMINATED")
	finalPrice := fs.Int64("final-price", 0, "new final price, roubles")
	comment := fs.String("comment", "", "new customer comment (at most 1000 characters)")
	commandID := fs.String("command-id", "", "the command id (default: a new random one); the same id is executed at most once")
	sync := fs.Bool("sync", false, "ask the bridge's micro endpoint and wait for its reply, instead of the commands stream")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the outcome")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("order patch: unexpected argument %q", fs.Arg(0))}
	}
	c, err := resolve()
	if err != nil {
		return &exitError{2, fmt.Errorf("configuration: %w", err)}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cmd, err := buildCommand(*commandID, *orderID, set, *status, *finalPrice, *comment)
	if err != nil {
		return &exitError{2, fmt.Errorf("order patch: %w", err)}
	}
	if *timeout <= 0 {
		return &exitError{2, errors.New("order patch: --timeout must be positive")}
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	nc, err := connectNATS(c, "salesbridge order", zap.NewNop())
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	names := bridge.NamesFor(c.Prefix)
	var data []byte
	if *sync {
		data, err = requestCommand(ctx, nc, names, cmd.CommandID, body, *timeout)
	} else {
		data, err = queueCommand(ctx, nc, names, cmd.CommandID, body, *timeout, stderr)
	}
	if err != nil {
		return err
	}
	return printOutcome(stdout, cmd.CommandID, data)
}

// patchCommand is the body of a patch command.
type patchCommand struct {
	CommandID  string           `json:"commandId"`
	ID         int64            `json:"id"`
	Status     *salesapi.Status `json:"status,omitempty"`
	FinalPrice *int64           `json:"finalPrice,omitempty"`
	Comment    *string          `json:"comment,omitempty"`
}

// buildCommand checks the flags the way the bridge checks a command, so
// that a mistake is reported here rather than as an invalid outcome.
func buildCommand(id string, orderID int64, set map[string]bool, status string, finalPrice int64, comment string) (patchCommand, error) {
	if id == "" {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return patchCommand{}, err
		}
		id = "cli-" + hex.EncodeToString(b)
	}
	if err := bridge.CheckCommandID(id); err != nil {
		return patchCommand{}, fmt.Errorf("--command-id: %w", err)
	}
	if orderID <= 0 {
		return patchCommand{}, errors.New("--id (the order id) is required and must be positive")
	}
	cmd := patchCommand{CommandID: id, ID: orderID}
	var p salesapi.Patch
	if set["status"] {
		st, err := salesapi.ParseStatus(strings.ToUpper(status))
		if err != nil {
			return patchCommand{}, fmt.Errorf("--status: %w", err)
		}
		cmd.Status, p.Status = &st, &st
	}
	if set["final-price"] {
		cmd.FinalPrice, p.FinalPrice = &finalPrice, &finalPrice
	}
	if set["comment"] {
		cmd.Comment, p.Comment = &comment, &comment
	}
	if err := p.Validate(); err != nil {
		return patchCommand{}, fmt.Errorf("%w (flags --status, --final-price, --comment)", err)
	}
	return cmd, nil
}

// queueCommand publishes the command to the commands stream and waits for
// its outcome event. It subscribes before publishing, so that the outcome
// cannot slip by; when the stream already held the command id (a repeat
// within the duplicate window), the outcome may be in the events stream
// already, so it looks there too.
func queueCommand(ctx context.Context, nc *nats.Conn, names bridge.Names, id string, body []byte, timeout time.Duration, stderr io.Writer) ([]byte, error) {
	result := names.CommandResultSubject(id)
	sub, err := nc.SubscribeSync(result)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", result, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.FlushWithContext(ctx); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", result, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	msg := &nats.Msg{Subject: names.CommandPatchSubject(), Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
			return nil, fmt.Errorf("no stream takes %s: has the bridge ever started with prefix %q? (it creates %s): %w", msg.Subject, names.Prefix, names.CommandsStream, err)
		}
		return nil, fmt.Errorf("publish the command: %w", err)
	}
	if ack.Duplicate {
		fmt.Fprintf(stderr, "the commands stream already had command %s; waiting for its outcome\n", id)
		if s, err := js.Stream(ctx, names.EventsStream); err == nil {
			if m, err := s.GetLastMsgForSubject(ctx, result); err == nil {
				return outcomeData(m.Data)
			}
		}
	}
	m, err := sub.NextMsgWithContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &exitError{exitNoOutcome, fmt.Errorf("no outcome of command %s within %s; it stays queued and its outcome will be published on %s", id, timeout, result)}
		}
		return nil, fmt.Errorf("wait for the outcome: %w", err)
	}
	return outcomeData(m.Data)
}

// requestCommand asks the micro endpoint; the reply is the outcome data.
func requestCommand(ctx context.Context, nc *nats.Conn, names bridge.Names, id string, body []byte, timeout time.Duration) ([]byte, error) {
	msg := &nats.Msg{Subject: names.APIPatchSubject(), Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	reply, err := nc.RequestMsgWithContext(ctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("no bridge answers %s: is it running with prefix %q?", msg.Subject, names.Prefix)
	case err != nil && ctx.Err() != nil:
		return nil, &exitError{exitNoOutcome, fmt.Errorf("no reply within %s; the command may still run, and its outcome will be published on %s", timeout, names.CommandResultSubject(id))}
	case err != nil:
		return nil, fmt.Errorf("request %s: %w", msg.Subject, err)
	}
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, fmt.Errorf("the bridge answered %s: %s", code, reply.Header.Get(micro.ErrorHeader))
	}
	return reply.Data, nil
}

// outcomeData takes the data out of an outcome event.
func outcomeData(event []byte) ([]byte, error) {
	var ev struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(event, &ev); err != nil || len(ev.Data) == 0 {
		return nil, fmt.Errorf("unreadable outcome event: %.200s", event)
	}
	return ev.Data, nil
}

// printOutcome writes the outcome as indented JSON and turns a failure
// into an error (exit code 1).
func printOutcome(w io.Writer, id string, data []byte) error {
	var out struct {
		OK    bool `json:"ok"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return fmt.Errorf("unreadable outcome: %.200s", data)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return fmt.Errorf("unreadable outcome: %w", err)
	}
	buf.WriteByte('\n')
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	if out.OK {
		return nil
	}
	if out.Error == nil {
		return fmt.Errorf("command %s failed", id)
	}
	msg := fmt.Sprintf("command %s failed: %s: %s", id, out.Error.Code, out.Error.Message)
	if out.Error.Field != "" {
		msg += " (field " + out.Error.Field + ")"
	}
	return errors.New(msg)
}
