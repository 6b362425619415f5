package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the commands
// start the bridge, HTTP servers, embedded nats-servers and the sandbox.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded nats-server and the HTTP transports leave these
		// behind briefly after Shutdown/Close.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)
}
