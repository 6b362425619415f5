package deploy

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

// composeFile is the part of a Compose file the test looks at.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Secrets     []string          `yaml:"secrets"`
	Volumes     []string          `yaml:"volumes"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	docs, err := yamlDocs(readFile(t, "compose.yaml"))
	if err != nil || len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents, %v", len(docs), err)
	}
	var c composeFile
	if err := docs[0].Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// flagValue returns the value of --name=value or --name value in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// checkCompose checks the bridge is wired to the NATS and sandbox services,
// reads its secret from a compose secret, keeps state on a volume and
// publishes metrics on loopback only.
func checkCompose(c composeFile) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	nats, sandbox, bridge := c.Services["nats"], c.Services["sandbox"], c.Services["bridge"]
	if !strings.HasPrefix(nats.Image, "nats:2.") || !slices.Contains(nats.Command, "-js") || !slices.Contains(nats.Command, "-sd") {
		fail("nats: want a nats:2.x image with -js -sd")
	}
	if len(sandbox.Command) == 0 || sandbox.Command[0] != "sandbox" || flagValue(sandbox.Command, "addr") != "0.0.0.0:8080" {
		fail("sandbox: want command sandbox --addr 0.0.0.0:8080")
	}
	if len(bridge.Command) == 0 || bridge.Command[0] != "run" {
		fail("bridge: want command run")
	}
	if bridge.Image != sandbox.Image {
		fail("bridge image %q and sandbox image %q differ", bridge.Image, sandbox.Image)
	}
	env := bridge.Environment
	for name, want := range map[string]string{
		"SALESBRIDGE_API_URL":      "http://sandbox:8080/api/eisgs/sales-module/v2/",
		"SALESBRIDGE_AUTH_URL":     "http://sandbox:8080/idm-services/auth/realms/external-eisgs-idm/",
		"SALESBRIDGE_NATS_URL":     "nats://nats:4222",
		"SALESBRIDGE_CLIENT_ID":    flagValue(sandbox.Command, "client-id"),
		"SALESBRIDGE_METRICS_ADDR": "0.0.0.0:9464",
	} {
		if env[name] != want {
			fail("bridge %s = %q, want %q", name, env[name], want)
		}
	}
	secret, ok := strings.CutPrefix(env["SALESBRIDGE_CLIENT_SECRET_FILE"], "/run/secrets/")
	if _, declared := c.Secrets[secret]; !ok || !slices.Contains(bridge.Secrets, secret) || !declared {
		fail("SALESBRIDGE_CLIENT_SECRET_FILE %q is not a secret the bridge mounts", env["SALESBRIDGE_CLIENT_SECRET_FILE"])
	}
	stateDir := path.Dir(env["SALESBRIDGE_STATE"])
	onVolume := slices.ContainsFunc(bridge.Volumes, func(v string) bool {
		name, target, _ := strings.Cut(v, ":")
		_, named := c.Volumes[name]
		return named && strings.TrimSuffix(target, "/") == stateDir
	})
	if !onVolume {
		fail("SALESBRIDGE_STATE %q is not on a named volume", env["SALESBRIDGE_STATE"])
	}
	if !slices.Contains(bridge.Ports, "127.0.0.1:9464:9464") {
		fail("bridge does not publish 9464 on 127.0.0.1")
	}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				fail("%s publishes %s beyond loopback", name, p)
			}
		}
	}
	if !bridge.ReadOnly || !slices.Contains(bridge.CapDrop, "ALL") {
		fail("bridge: want read_only and cap_drop ALL")
	}
	return errors.Join(errs...)
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	if err := checkCompose(c); err != nil {
		t.Fatal(err)
	}
	// The sandbox accepts exactly the secret the bridge reads.
	file := c.Secrets["client_secret"].File
	got := strings.TrimSpace(string(readFile(t, file)))
	if want := flagValue(c.Services["sandbox"].Command, "client-secret"); got != want {
		t.Errorf("%s holds %q, the sandbox expects %q", file, got, want)
	}

	broken := map[string]func(*composeFile){
		"secret as value": func(c *composeFile) {
			b := c.Services["bridge"]
			b.Environment = map[string]string{"SALESBRIDGE_CLIENT_SECRET": "x"}
			c.Services["bridge"] = b
		},
		"metrics on all interfaces": func(c *composeFile) {
			b := c.Services["bridge"]
			b.Ports = []string{"9464:9464"}
			c.Services["bridge"] = b
		},
		"no jetstream": func(c *composeFile) {
			n := c.Services["nats"]
			n.Command = []string{"-m", "8222"}
			c.Services["nats"] = n
		},
		"state in the container": func(c *composeFile) {
			b := c.Services["bridge"]
			b.Volumes = nil
			c.Services["bridge"] = b
		},
	}
	for name, breakIt := range broken {
		c := loadCompose(t)
		breakIt(&c)
		if checkCompose(c) == nil {
			t.Errorf("%s: checkCompose = nil, want an error", name)
		}
	}
}
