package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/salesapi/salesapitest"
	"github.com/salesbridge/salesbridge/state"
)

// pki is a certificate authority with a server and a client certificate,
// as PEM files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T, dir, name string) pki {
	t.Helper()
	write := func(file, typ string, der []byte) string {
		path := filepath.Join(dir, name+"-"+file)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(cn+".pem", "CERTIFICATE", der), write(cn+"-key.pem", "EC PRIVATE KEY", kd)
	}
	p := pki{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return p
}

// natsTLS makes the server require TLS with a client certificate of p's CA.
func natsTLS(t *testing.T, p pki) func(*server.Options) {
	return func(o *server.Options) {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey, CaFile: p.ca, Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		o.TLS, o.TLSVerify, o.TLSConfig, o.TLSTimeout = true, true, tc, 5
	}
}

// operator makes the server trust one operator with one account (JetStream
// enabled) and returns the path of a user's .creds file of that account.
func operator(t *testing.T, dir string) (func(*server.Options), string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, err := okp.PublicKey()
	must(err)
	syskp, err := nkeys.CreateAccount()
	must(err)
	syspub, err := syskp.PublicKey()
	must(err)
	oc := jwt.NewOperatorClaims(opub)
	oc.SystemAccount = syspub
	ojwt, err := oc.Encode(okp)
	must(err)
	oclaims, err := jwt.DecodeOperatorClaims(ojwt)
	must(err)

	resolver := &server.MemAccResolver{}
	sysc := jwt.NewAccountClaims(syspub)
	sysc.Name = "SYS"
	sysjwt, err := sysc.Encode(okp)
	must(err)
	must(resolver.Store(syspub, sysjwt))

	akp, err := nkeys.CreateAccount()
	must(err)
	apub, err := akp.PublicKey()
	must(err)
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "SALES"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	ajwt, err := ac.Encode(okp)
	must(err)
	must(resolver.Store(apub, ajwt))

	ukp, err := nkeys.CreateUser()
	must(err)
	upub, err := ukp.PublicKey()
	must(err)
	uc := jwt.NewUserClaims(upub)
	uc.Name = "salesbridge"
	ujwt, err := uc.Encode(akp)
	must(err)
	seed, err := ukp.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	must(err)
	path := filepath.Join(dir, "salesbridge.creds")
	must(os.WriteFile(path, creds, 0o600))
	return func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{oclaims}
		o.AccountResolver = resolver
		o.SystemAccount = syspub
	}, path
}

// nkeyUser makes the server accept one nkey user and returns the path of
// its seed file.
func nkeyUser(t *testing.T, dir string) (func(*server.Options), string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	path := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} }, path
}

// writeContext writes a nats CLI context file and returns its path.
func writeContext(t *testing.T, dir string, ctx natsContext) string {
	t.Helper()
	b, err := json.Marshal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ctx.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// bridgeWorks runs the bridge (serve) over nc against a sandbox until an
// order's event comes back through JetStream.
func bridgeWorks(t *testing.T, nc *nats.Conn) {
	t.Helper()
	sb := salesapitest.NewServer(salesapitest.Config{Seed: 9})
	defer sb.Close()
	sb.CreateOrder(salesapitest.OrderSpec{})
	events, err := nc.SubscribeSync("salesbridge.order.>")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Unsubscribe()
	c := config{
		APIURL: sb.URL, AuthURL: sb.AuthURL, ClientID: sb.ClientID(), ClientSecret: sb.ClientSecret(),
		State: filepath.Join(t.TempDir(), "state.db"), Prefix: bridge.DefaultPrefix, Rate: salesapi.DefaultRate,
		Lookback: 24 * time.Hour, Initial: diff.FirstSnapshot, PII: bridge.PIIFull, LogLevel: "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, clock.Real(), nc, zap.NewNop()) }()
	m, err := events.NextMsg(20 * time.Second)
	cancel()
	if serr := <-done; serr != nil && !errors.Is(serr, context.Canceled) {
		t.Errorf("bridge: %v", serr)
	}
	if err != nil {
		t.Fatalf("no event through the secured connection: %v", err)
	}
	if !strings.HasPrefix(m.Subject, "salesbridge.order.snapshot.") {
		t.Errorf("event on %s", m.Subject)
	}
}

// TestNATSSecurity connects with connectNATS, as `salesbridge run` does,
// to servers that require TLS with client certificates, an operator's
// .creds file, or an nkey — given as flags or through a nats CLI context
// file — and runs the bridge over each connection. The wrong credentials
// are refused with an error that holds no key material.
func TestNATSSecurity(t *testing.T) {
	dir := t.TempDir()
	good := newPKI(t, dir, "good")
	other := newPKI(t, dir, "other")
	tlsURL := startTestNATS(t, natsTLS(t, good))
	tlsURL = strings.Replace(tlsURL, "nats://", "tls://", 1)
	opMod, creds := operator(t, dir)
	credsURL := startTestNATS(t, opMod)
	nkMod, seedFile := nkeyUser(t, dir)
	nkURL := startTestNATS(t, nkMod)
	seed, _ := os.ReadFile(seedFile)
	credsText, _ := os.ReadFile(creds)
	keyText, _ := os.ReadFile(good.clientKey)

	tests := []struct {
		name   string
		cfg    config
		works  bool
		errHas string
	}{
		{"tls: flags", config{NATSURL: tlsURL, NATSCA: good.ca, NATSCert: good.clientCert, NATSKey: good.clientKey}, true, ""},
		{"tls: context", config{NATSURL: "nats://127.0.0.1:1", NATSContext: writeContext(t, t.TempDir(), natsContext{URL: tlsURL, CA: good.ca, Cert: good.clientCert, Key: good.clientKey})}, true, ""},
		{"tls: no client certificate", config{NATSURL: tlsURL, NATSCA: good.ca}, false, ""},
		{"tls: a server of another CA", config{NATSURL: tlsURL, NATSCA: other.ca, NATSCert: other.clientCert, NATSKey: other.clientKey}, false, "certificate"},
		{"tls: cert without key", config{NATSURL: tlsURL, NATSCA: good.ca, NATSCert: good.clientCert}, false, "go together"},
		{"creds: flag", config{NATSURL: credsURL, NATSCreds: creds}, true, ""},
		{"creds: context", config{NATSContext: writeContext(t, t.TempDir(), natsContext{URL: credsURL, Creds: creds})}, true, ""},
		{"creds: none", config{NATSURL: credsURL}, false, "uthorization"},
		{"nkey: context", config{NATSContext: writeContext(t, t.TempDir(), natsContext{URL: nkURL, NKey: seedFile})}, true, ""},
		{"nkey: a creds file of another server", config{NATSURL: nkURL, NATSCreds: creds}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := connectNATS(tc.cfg, "salesbridge test", zap.NewNop())
			if !tc.works {
				if err == nil {
					nc.Close()
					t.Fatal("connected")
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q, want it to mention %q", err, tc.errHas)
				}
				for _, secret := range [][]byte{seed, credsText, keyText} {
					if s := strings.TrimSpace(string(secret)); s != "" && strings.Contains(err.Error(), s) {
						t.Errorf("the error quotes key material: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if strings.HasPrefix(tc.name, "tls") {
				if _, err := nc.TLSConnectionState(); err != nil {
					t.Errorf("not TLS: %v", err)
				}
			}
			bridgeWorks(t, nc)
		})
	}
}

// TestStateFileMode: the state file `run` creates is 0600, and one found
// readable by others is restricted to 0600 on start.
func TestStateFileMode(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	s, err := state.Open(fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Close())
	fi, err := os.Stat(fresh)
	must(err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new state file mode %v, want 0600", fi.Mode().Perm())
	}
	must(os.Chmod(fresh, 0o644))
	s, err = state.Open(fresh, nil)
	must(err)
	must(s.Close())
	fi, err = os.Stat(fresh)
	must(err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("reopened state file mode %v, want 0600", fi.Mode().Perm())
	}
}

// relLogBuffer is a log sink safe for concurrent writes.
type relLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *relLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *relLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretsInOutput runs `salesbridge run` (runDaemon) at debug level
// with a NATS URL holding a password, against a sandbox whose token
// endpoint fails for a while, executes a command, scrapes /metrics and
// fails to start a second time with a wrong password: the API secret, the
// bearer tokens, the NATS password and the visitors' personal data appear
// in no log line, no error and no metric.
func TestNoSecretsInOutput(t *testing.T) {
	const natsPass = "n4ts-pa55w0rd-7731"
	url := startTestNATS(t, func(o *server.Options) { o.Username, o.Password = "bridge", natsPass })
	authURL := strings.Replace(url, "nats://", "nats://bridge:"+natsPass+"@", 1)
	sb := salesapitest.NewServer(salesapitest.Config{Seed: 11, ClientSecret: "api-s3cr3t-0f-the-acc0unt"})
	defer sb.Close()
	spec := salesapitest.OrderSpec{ClientName: "Жуковский Дмитрий Николаевич", ClientEmail: "zhukovskiy1995@bk.ru", ClientPhone: "+7 (982) 845-57-23", ClientComment: "Перезвоните после шести"}
	order := sb.CreateOrder(spec)
	sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 503, Path: salesapitest.PathToken, Count: 2})
	sb.InjectFault(salesapitest.Fault{Kind: salesapitest.FaultError, Status: 500, Path: salesapitest.PathOrders, Count: 1})

	dir := t.TempDir()
	metricsAddr := freePort(t)
	env := map[string]string{
		"SALESBRIDGE_API_URL": sb.URL, "SALESBRIDGE_AUTH_URL": sb.AuthURL, "SALESBRIDGE_CLIENT_ID": sb.ClientID(),
		"SALESBRIDGE_CLIENT_SECRET": sb.ClientSecret(), "SALESBRIDGE_NATS_URL": authURL,
		"SALESBRIDGE_STATE": filepath.Join(dir, "state.db"), "SALESBRIDGE_LOOKBACK": "1d",
		"SALESBRIDGE_METRICS_ADDR": metricsAddr, "SALESBRIDGE_LOG_LEVEL": "debug", "SALESBRIDGE_INITIAL": "created",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var logs relLogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, nil, io.Discard, &logs, lookup) }()

	nc, err := nats.Connect(url, nats.UserInfo("bridge", natsPass))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var reply *nats.Msg
	deadline := time.Now().Add(20 * time.Second)
	for {
		body := fmt.Appendf(nil, `{"commandId":"secret-test-1","id":%d,"status":1,"comment":"Клиент просит перезвонить"}`, order.ID)
		reply, err = nc.Request("salesbridge.api.order.patch", body, 10*time.Second)
		if err == nil && !strings.Contains(string(reply.Data), `"ok":false`) && reply.Header.Get("Nats-Service-Error-Code") == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command did not run: %v %s", err, msgText(reply))
		}
		time.Sleep(50 * time.Millisecond)
	}
	metrics := scrapeMetrics(t, "http://"+metricsAddr+"/metrics")
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v", err)
	}

	// A second start with a wrong NATS password: the error names the
	// server without the password.
	env["SALESBRIDGE_NATS_URL"] = strings.Replace(url, "nats://", "nats://bridge:wrong-"+natsPass+"@", 1)
	runErr := runDaemon(context.Background(), nil, io.Discard, &logs, lookup)
	if runErr == nil || !strings.Contains(runErr.Error(), "[REDACTED]") {
		t.Errorf("start with a wrong password: %v", runErr)
	}

	secrets := map[string]string{
		"the API secret": sb.ClientSecret(), "the NATS password": natsPass, "a bearer token": "eyJ",
		"the visitor's name": "Жуковский", "the visitor's e-mail": spec.ClientEmail, "the visitor's phone": "845-57-23",
		"the visitor's comment": spec.ClientComment, "the office comment": "Клиент просит перезвонить",
	}
	for what, s := range secrets {
		for where, text := range map[string]string{"the log": logs.String(), "/metrics": metrics, "the error": fmt.Sprint(runErr)} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows in %s", what, where)
			}
		}
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(metrics, "salesbridge_token_fetches_total") {
		t.Errorf("the faults left no trace: %d bytes of log, metrics %d bytes", len(logs.String()), len(metrics))
	}
}

func msgText(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// freePort returns a 127.0.0.1 address nobody listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func scrapeMetrics(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
