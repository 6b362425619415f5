package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunSandbox(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runSandbox(ctx, []string{"--addr", "127.0.0.1:0", "--orders", "50", "--speed", "600", "--seed", "3", "--order", "newest", "--rate", "-1"}, pw, &stderr)
		pw.Close()
	}()
	env := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(env) < 4 && sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("stdout line %q", sc.Text())
		}
		env[k] = v
	}
	go io.Copy(io.Discard, pr)
	for _, k := range []string{"SALESBRIDGE_API_URL", "SALESBRIDGE_AUTH_URL", "SALESBRIDGE_CLIENT_ID", "SALESBRIDGE_CLIENT_SECRET"} {
		if env[k] == "" {
			t.Fatalf("no %s in %v", k, env)
		}
	}
	if env["SALESBRIDGE_CLIENT_ID"] != "app-ext-sandbox.1027700000001.eisgs" {
		t.Errorf("client id %q", env["SALESBRIDGE_CLIENT_ID"])
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	resp, err := hc.PostForm(env["SALESBRIDGE_AUTH_URL"]+"protocol/openid-connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {env["SALESBRIDGE_CLIENT_ID"]}, "client_secret": {env["SALESBRIDGE_CLIENT_SECRET"]}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: %v %v", err, resp)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", env["SALESBRIDGE_API_URL"]+"external/orders?beginCreatedAt=2000-01-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list: %v %v", err, resp)
	}
	var orders []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&orders)
	resp.Body.Close()
	if len(orders) < 50 {
		t.Errorf("%d orders", len(orders))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runSandbox did not return after ctx ended")
	}
	if !strings.Contains(stderr.String(), "sandbox serving") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestRunSandboxFlags(t *testing.T) {
	tests := []struct {
		args []string
		help bool
	}{
		{args: []string{"--speed", "0"}},
		{args: []string{"--order", "random"}},
		{args: []string{"--ogrn", "123"}},
		{args: []string{"--ogrn", ""}},
		{args: []string{"--nope"}},
		{args: []string{"extra"}},
		{args: []string{"-h"}, help: true},
	}
	for _, tt := range tests {
		var out, errw bytes.Buffer
		err := runSandbox(context.Background(), tt.args, &out, &errw)
		if err == nil || out.Len() != 0 {
			t.Errorf("%v: err %v, stdout %q", tt.args, err, out.String())
		}
		if tt.help != errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: %v", tt.args, err)
		}
	}
}
