package main

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzConfig parses arbitrary command lines and environments with the
// flags of `run` (configFlags, then requireCredentials). It never panics,
// and nothing it says — errors, usage text — holds the value of
// SALESBRIDGE_CLIENT_SECRET (unless that value was also given somewhere
// else, where quoting it is fair). args is one argument per line; env one
// KEY=VALUE per line. The seed corpus is in testdata/fuzz/FuzzConfig.
func FuzzConfig(f *testing.F) {
	f.Add("--rate\n20\n--lookback\n30d", "SALESBRIDGE_CLIENT_ID=app-1\nSALESBRIDGE_PII=mask", "s3cr3t-value-42")
	f.Add("--rate=abc\n--initial=all", "SALESBRIDGE_CLIENT_ID=x", "s3cr3t-value-42")
	f.Fuzz(func(t *testing.T, args, env, secret string) {
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		vars["SALESBRIDGE_CLIENT_SECRET"] = secret
		lookup := func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		}
		var argv []string
		if args != "" {
			argv = strings.Split(args, "\n")
		}
		var out bytes.Buffer
		fs := newFlagSet("run", &out)
		resolve := configFlags(fs, lookup)
		var said []string
		if err := fs.Parse(argv); err != nil {
			said = append(said, err.Error())
		} else {
			c, err := resolve()
			if err != nil {
				said = append(said, err.Error())
			}
			if c.ClientSecret != secret {
				t.Fatalf("client secret %q, want the environment's %q", c.ClientSecret, secret)
			}
			c.ClientSecretFile = "" // the fuzzer must not read files
			if err := c.requireCredentials(); err != nil {
				said = append(said, err.Error())
			}
		}
		said = append(said, out.String())
		if len(secret) < 4 || strings.Contains(args, secret) || strings.Contains(env, secret) {
			return // too short to tell from other text, or given elsewhere too
		}
		for _, s := range said {
			if strings.Contains(s, secret) {
				t.Fatalf("the secret shows in %q", s)
			}
		}
	})
}
