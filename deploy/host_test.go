package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, USER, …
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions: comments and blank
// lines dropped, lines ending in a backslash joined to the next.
func parseDockerfile(data []byte) ([]instruction, error) {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		body, more := strings.CutSuffix(line, `\`)
		cur.WriteString(body)
		cur.WriteString(" ")
		if more {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, errors.New("dangling line continuation at the end")
	}
	return out, nil
}

// checkDockerfile checks a multi-stage build of a static binary whose final
// stage runs as a non-root user.
func checkDockerfile(ins []instruction) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		return fmt.Errorf("%d build stages, want a multi-stage build", len(stages))
	}
	build := slices.Concat(stages[:len(stages)-1]...)
	final := stages[len(stages)-1]

	built := slices.ContainsFunc(build, func(in instruction) bool {
		return in.cmd == "RUN" && strings.Contains(in.args, "go build") &&
			strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "-trimpath") &&
			strings.Contains(in.args, "-X main.version=")
	})
	if !built {
		fail("no RUN with CGO_ENABLED=0 go build -trimpath -ldflags -X main.version= in a build stage")
	}
	base := final[0].args
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		fail("final stage FROM %s, want distroless static or scratch", base)
	}
	user := ""
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "RUN":
			fail("line %d: RUN in the final stage (it has no shell)", in.line)
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		fail("final stage USER %q, want a non-root numeric UID", user)
	}
	has := func(cmd, args string) bool {
		return slices.ContainsFunc(final, func(in instruction) bool { return in.cmd == cmd && in.args == args })
	}
	for _, want := range []instruction{
		{cmd: "EXPOSE", args: "9464"},
		{cmd: "ENTRYPOINT", args: `["salesbridge"]`},
		{cmd: "CMD", args: `["run"]`},
		{cmd: "VOLUME", args: `["/var/lib/salesbridge"]`},
	} {
		if !has(want.cmd, want.args) {
			fail("final stage has no %s %s", want.cmd, want.args)
		}
	}
	return errors.Join(errs...)
}

func TestDockerfile(t *testing.T) {
	ins, err := parseDockerfile(readFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkDockerfile(ins); err != nil {
		t.Fatal(err)
	}

	good := `FROM golang:1.26 AS build
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=dev" -o /out/salesbridge ./cmd/salesbridge
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/salesbridge /usr/local/bin/salesbridge
USER 65532:65532
VOLUME ["/var/lib/salesbridge"]
EXPOSE 9464
ENTRYPOINT ["salesbridge"]
CMD ["run"]
`
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"good", good, false},
		{"single stage", good[strings.Index(good, "FROM gcr.io"):], true},
		{"root user", strings.Replace(good, "USER 65532:65532", "USER root", 1), true},
		{"uid 0", strings.Replace(good, "USER 65532:65532", "USER 0:0", 1), true},
		{"no user", strings.Replace(good, "USER 65532:65532\n", "", 1), true},
		{"cgo", strings.Replace(good, "CGO_ENABLED=0 ", "", 1), true},
		{"golang at run time", strings.Replace(good, "FROM gcr.io/distroless/static-debian12:nonroot", "FROM golang:1.26", 1), true},
		{"other port", strings.Replace(good, "EXPOSE 9464", "EXPOSE 8080", 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins, err := parseDockerfile([]byte(tt.in))
			if err == nil {
				err = checkDockerfile(ins)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

// unit is a parsed systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

// parseUnit parses the systemd unit file syntax (sections, key=value,
// comments, backslash continuations). A key may repeat.
func parseUnit(data []byte) (unit, error) {
	u := unit{}
	section := ""
	var pending string
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if pending == "" && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if body, more := strings.CutSuffix(line, `\`); more {
			pending += body + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header", i+1)
			}
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: not key=value in a section", i+1)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	return u, nil
}

func (u unit) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// checkUnit checks the hardening and the wiring of salesbridge.service.
func checkUnit(u unit) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for key, want := range map[string]string{
		"ExecStart":               "/usr/local/bin/salesbridge run",
		"DynamicUser":             "yes",
		"StateDirectory":          "salesbridge",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"NoNewPrivileges":         "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Restart":                 "on-failure",
		"CapabilityBoundingSet":   "",
		"EnvironmentFile":         "-/etc/salesbridge/salesbridge.env",
	} {
		vals, ok := u["Service"][key]
		if !ok || vals[len(vals)-1] != want {
			fail("[Service] %s=%q, want %q", key, u.last("Service", key), want)
		}
	}
	if !slices.Contains(u["Service"]["SystemCallFilter"], "@system-service") {
		fail("SystemCallFilter does not allow-list @system-service")
	}
	for _, key := range []string{"MemoryMax", "RestartSec"} {
		if u.last("Service", key) == "" {
			fail("no %s", key)
		}
	}
	stop, err := time.ParseDuration(u.last("Service", "TimeoutStopSec"))
	if err != nil || stop < 35*time.Second {
		fail("TimeoutStopSec %q does not cover the ~30 s outbox flush", u.last("Service", "TimeoutStopSec"))
	}
	env := u["Service"]["Environment"]
	creds := u["Service"]["LoadCredential"]
	for _, c := range []struct{ env, credential string }{
		{"SALESBRIDGE_CLIENT_SECRET_FILE", "client-secret"},
		{"SALESBRIDGE_NATS_CREDS", "nats.creds"},
	} {
		if !slices.Contains(env, c.env+"=%d/"+c.credential) {
			fail("no Environment=%s=%%d/%s", c.env, c.credential)
		}
		if !slices.ContainsFunc(creds, func(v string) bool { return strings.HasPrefix(v, c.credential+":") }) {
			fail("no LoadCredential=%s:…", c.credential)
		}
	}
	if !slices.Contains(env, "SALESBRIDGE_STATE=%S/salesbridge/salesbridge.db") {
		fail("SALESBRIDGE_STATE is not in the StateDirectory")
	}
	return errors.Join(errs...)
}

func TestSystemdUnit(t *testing.T) {
	data := string(readFile(t, "systemd/salesbridge.service"))
	u, err := parseUnit([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkUnit(u); err != nil {
		t.Fatal(err)
	}

	broken := map[string]string{
		"no DynamicUser":       "DynamicUser=yes\n",
		"no ProtectSystem":     "ProtectSystem=strict\n",
		"no NoNewPrivileges":   "NoNewPrivileges=yes\n",
		"no syscall filter":    "SystemCallFilter=@system-service\n",
		"no secret credential": "LoadCredential=client-secret:/etc/salesbridge/client-secret\n",
		"no secret file env":   "Environment=SALESBRIDGE_CLIENT_SECRET_FILE=%d/client-secret\n",
		"no stop timeout":      "TimeoutStopSec=45s\n",
	}
	for name, line := range broken {
		if !strings.Contains(data, line) {
			t.Fatalf("%s: the unit has no line %q to remove", name, line)
		}
		u, err := parseUnit([]byte(strings.Replace(data, line, "", 1)))
		if err != nil {
			t.Fatal(err)
		}
		if checkUnit(u) == nil {
			t.Errorf("%s: checkUnit = nil, want an error", name)
		}
	}
	for _, bad := range []string{"Key=value\n", "[Service]\nnot a key\n", "[Service\nA=b\n"} {
		if _, err := parseUnit([]byte(bad)); err == nil {
			t.Errorf("parseUnit(%q) = nil error", bad)
		}
	}
	env, err := parseEnvFile(readFile(t, "systemd/salesbridge.env"))
	if err != nil {
		t.Fatal(err)
	}
	if env["SALESBRIDGE_CLIENT_ID"] == "" {
		t.Error("salesbridge.env does not set SALESBRIDGE_CLIENT_ID")
	}
}
