package deploy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// statefulSet is the part of an apps/v1 StatefulSet the test looks at.
type statefulSet struct {
	Spec struct {
		Replicas    *int   `yaml:"replicas"`
		ServiceName string `yaml:"serviceName"`
		Selector    struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

// job is the part of a batch/v1 Job the test looks at.
type job struct {
	Spec struct {
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot   *bool   `yaml:"runAsNonRoot"`
		RunAsUser      *int    `yaml:"runAsUser"`
		SeccompProfile seccomp `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type seccomp struct {
	Type string `yaml:"type"`
}

type container struct {
	Name    string   `yaml:"name"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

func (c container) env(name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// mountOf returns the volume mounted at the directory holding file.
func (c container) mountOf(file string) string {
	best, name := "", ""
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		if strings.HasPrefix(file, dir) && len(dir) > len(best) {
			best, name = dir, m.Name
		}
	}
	return name
}

// probeTarget returns the path and port number a probe asks.
func (c container) probeTarget(p *probe) (string, int) {
	if p == nil || p.HTTPGet == nil {
		return "", 0
	}
	switch port := p.HTTPGet.Port.(type) {
	case int:
		return p.HTTPGet.Path, port
	case string:
		for _, cp := range c.Ports {
			if cp.Name == port {
				return p.HTTPGet.Path, cp.ContainerPort
			}
		}
	}
	return p.HTTPGet.Path, 0
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkStatefulSet checks the facts the README relies on: one replica, the
// probes, the hardening, the state volume and the secret files.
func checkStatefulSet(s statefulSet) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
		fail("replicas must be exactly 1 (one bridge per account and state file)")
	}
	if !maps.Equal(s.Spec.Selector.MatchLabels, s.Spec.Template.Metadata.Labels) {
		fail("selector %v does not match the pod labels %v", s.Spec.Selector.MatchLabels, s.Spec.Template.Metadata.Labels)
	}
	pod := s.Spec.Template.Spec
	if pod.TerminationGracePeriodSeconds < 35 {
		fail("terminationGracePeriodSeconds %d does not cover the ~30 s outbox flush", pod.TerminationGracePeriodSeconds)
	}
	if !isTrue(pod.SecurityContext.RunAsNonRoot) || pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0 {
		fail("pod must run as a non-root UID")
	}
	if pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		fail("pod seccomp profile %q, want RuntimeDefault", pod.SecurityContext.SeccompProfile.Type)
	}
	if len(pod.Containers) != 1 {
		fail("%d containers, want 1", len(pod.Containers))
		return errors.Join(errs...)
	}
	c := pod.Containers[0]
	for _, p := range []struct {
		name  string
		probe *probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if path, port := c.probeTarget(p.probe); path != p.path || port != 9464 {
			fail("%s probe asks %s on port %d, want %s on 9464", p.name, path, port, p.path)
		}
	}
	sc := c.SecurityContext
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		fail("root filesystem must be read-only")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		fail("allowPrivilegeEscalation must be false")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		fail("capabilities must drop ALL")
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			fail("no %s request", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		fail("no memory limit")
	}

	state := c.env("SALESBRIDGE_STATE")
	claims := make([]string, 0, len(s.Spec.VolumeClaimTemplates))
	for _, v := range s.Spec.VolumeClaimTemplates {
		claims = append(claims, v.Metadata.Name)
	}
	if m := c.mountOf(state); state == "" || !slices.Contains(claims, m) {
		fail("SALESBRIDGE_STATE %q is not on a volumeClaimTemplate volume %v", state, claims)
	}
	secretVolumes := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = true
		}
	}
	for _, name := range []string{"SALESBRIDGE_CLIENT_SECRET_FILE", "SALESBRIDGE_NATS_CREDS"} {
		if f := c.env(name); f == "" || !secretVolumes[c.mountOf(f)] {
			fail("%s %q is not a file on a Secret volume", name, f)
		}
	}
	return errors.Join(errs...)
}

func TestStatefulSet(t *testing.T) {
	load := func() statefulSet {
		var s statefulSet
		yamlKind(t, "kubernetes/statefulset.yaml", "StatefulSet", &s)
		return s
	}
	if err := checkStatefulSet(load()); err != nil {
		t.Fatal(err)
	}

	broken := map[string]func(*statefulSet){
		"two replicas":   func(s *statefulSet) { two := 2; s.Spec.Replicas = &two },
		"readiness path": func(s *statefulSet) { s.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path = "/healthz" },
		"liveness port":  func(s *statefulSet) { s.Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Port = "http" },
		"no drop ALL":    func(s *statefulSet) { s.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Drop = nil },
		"root":           func(s *statefulSet) { zero := 0; s.Spec.Template.Spec.SecurityContext.RunAsUser = &zero },
		"writable root": func(s *statefulSet) {
			f := false
			s.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
		},
		"state off the volume": func(s *statefulSet) {
			env := s.Spec.Template.Spec.Containers[0].Env
			for i := range env {
				if env[i].Name == "SALESBRIDGE_STATE" {
					env[i].Value = "/tmp/salesbridge.db"
				}
			}
		},
		"short grace": func(s *statefulSet) { s.Spec.Template.Spec.TerminationGracePeriodSeconds = 10 },
	}
	for name, breakIt := range broken {
		s := load()
		breakIt(&s)
		if checkStatefulSet(s) == nil {
			t.Errorf("%s: checkStatefulSet = nil, want an error", name)
		}
	}
}

// TestKubernetesWiring checks the objects refer to each other correctly and
// that kustomization.yaml lists every manifest but the example Secret.
func TestKubernetesWiring(t *testing.T) {
	var sts statefulSet
	yamlKind(t, "kubernetes/statefulset.yaml", "StatefulSet", &sts)
	podLabels := sts.Spec.Template.Metadata.Labels

	var cm, secret struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
		StringData map[string]string `yaml:"stringData"`
	}
	yamlKind(t, "kubernetes/configmap.yaml", "ConfigMap", &cm)
	yamlKind(t, "kubernetes/secret.example.yaml", "Secret", &secret)
	c := sts.Spec.Template.Spec.Containers[0]
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Metadata.Name {
		t.Errorf("envFrom does not reference the ConfigMap %q", cm.Metadata.Name)
	}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName != secret.Metadata.Name {
			t.Errorf("secret volume uses %q, the example Secret is %q", v.Secret.SecretName, secret.Metadata.Name)
		}
	}
	for _, key := range []string{"client-secret", "nats.creds"} {
		if !strings.Contains(secret.StringData[key], "PLACEHOLDER") {
			t.Errorf("example Secret key %s is not a marked placeholder", key)
		}
	}
	if addr := cm.Data["SALESBRIDGE_METRICS_ADDR"]; addr != "0.0.0.0:9464" {
		t.Errorf("ConfigMap SALESBRIDGE_METRICS_ADDR %q: probes need 0.0.0.0:9464", addr)
	}

	// The check Job runs `check` with the bridge's settings and secrets.
	var j job
	yamlKind(t, "kubernetes/check-job.example.yaml", "Job", &j)
	jc := j.Spec.Template.Spec.Containers
	if len(jc) != 1 || !slices.Equal(jc[0].Args, []string{"check"}) {
		t.Fatalf("check Job: want one container with args [check]")
	}
	if len(jc[0].EnvFrom) != 1 || jc[0].EnvFrom[0].ConfigMapRef == nil || jc[0].EnvFrom[0].ConfigMapRef.Name != cm.Metadata.Name {
		t.Errorf("check Job: envFrom does not reference the ConfigMap %q", cm.Metadata.Name)
	}
	for _, name := range []string{"SALESBRIDGE_CLIENT_SECRET_FILE", "SALESBRIDGE_NATS_CREDS"} {
		if jc[0].env(name) != c.env(name) {
			t.Errorf("check Job %s = %q, the bridge uses %q", name, jc[0].env(name), c.env(name))
		}
	}

	docs, err := yamlDocs(readFile(t, "kubernetes/service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	headless := false
	for _, d := range docs {
		var svc struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				ClusterIP string            `yaml:"clusterIP"`
				Selector  map[string]string `yaml:"selector"`
				Ports     []struct {
					Port       int `yaml:"port"`
					TargetPort any `yaml:"targetPort"`
				} `yaml:"ports"`
			} `yaml:"spec"`
		}
		if err := d.Decode(&svc); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(svc.Spec.Selector, podLabels) {
			t.Errorf("service %s selects %v, pods have %v", svc.Metadata.Name, svc.Spec.Selector, podLabels)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9464 {
			t.Errorf("service %s does not expose 9464", svc.Metadata.Name)
		}
		if svc.Metadata.Name == sts.Spec.ServiceName && svc.Spec.ClusterIP == "None" {
			headless = true
		}
	}
	if !headless || len(docs) != 2 {
		t.Errorf("want a headless Service %q and a metrics Service, got %d services (headless %v)", sts.Spec.ServiceName, len(docs), headless)
	}

	var k struct {
		Resources []string `yaml:"resources"`
	}
	yamlKind(t, "kubernetes/kustomization.yaml", "Kustomization", &k)
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		listed := slices.Contains(k.Resources, base)
		switch {
		case base == "kustomization.yaml":
		case strings.HasSuffix(base, ".example.yaml") && listed:
			t.Errorf("kustomization lists %s: apply -k would overwrite the real object with placeholders", base)
		case !strings.HasSuffix(base, ".example.yaml") && !listed:
			t.Errorf("kustomization does not list %s", base)
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join("kubernetes", filepath.FromSlash(path.Clean(r)))); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}
}
