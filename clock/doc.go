// Package clock provides the time source that every part of salesbridge takes
// as a dependency instead of calling time.Now directly.
//
// Three clocks cover the three ways the bridge runs: Real for production;
// Scaled for the demo and integration tests, where the sandbox and the bridge
// share an accelerated time base (a rate limit of 10 calls per minute at speed
// 600 becomes 10 calls per 100 ms of wall time, and both sides agree); and
// Manual for unit tests, where time moves only when the test says so.
package clock
