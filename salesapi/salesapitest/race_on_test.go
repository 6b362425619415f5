//go:build race

package salesapitest_test

// raceEnabled: the race detector slows the generator about tenfold, so the
// bulk tests load fewer orders under it.
const raceEnabled = true
