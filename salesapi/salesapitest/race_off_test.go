//go:build !race

package salesapitest_test

const raceEnabled = false
