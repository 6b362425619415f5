// Package deploy holds deployment files; its test checks they parse.
//
// The files here are how salesbridge runs outside a developer's shell: a
// container image (Dockerfile), a compose file with NATS and the sandbox, Kubernetes
// manifests, a hardened systemd unit, JetStream stream and consumer configs for
// `nats stream add --config`, Prometheus alert rules and a Grafana dashboard.
// None of them is compiled, so nothing else would notice when one stops parsing
// or drifts from the binary's contract (environment names, ports, probe paths,
// stream subjects, metric names). The package's tests parse every YAML and JSON
// file and check those facts; there is no Go API.
package deploy
