package freshness_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the simulations leave no goroutine behind (each
// step runs the bridge's call on a goroutine of its own; the sandbox and
// nats-server start more).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded nats-server and the HTTP transports leave these
		// behind briefly after Shutdown/Close.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)
}
