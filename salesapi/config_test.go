package salesapi

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := Config{ClientID: "app-ext-x.1027700000001.eisgs", ClientSecret: "s3cr3t-value"}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"sandbox urls", func(c *Config) {
			c.APIURL, c.AuthURL = "http://127.0.0.1:8080/api/eisgs/sales-module/v2", "http://127.0.0.1:8080/idm-services/auth/realms/x/"
		}, ""},
		{"no client id", func(c *Config) { c.ClientID = " " }, "client id is required"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "client secret is required"},
		{"relative api url", func(c *Config) { c.APIURL = "/v2/" }, "api url"},
		{"ftp auth url", func(c *Config) { c.AuthURL = "ftp://example.org/" }, "auth url: scheme"},
		{"credentials in url", func(c *Config) { c.APIURL = "https://u:p@example.org/" }, "credentials in the URL"},
		{"query in url", func(c *Config) { c.APIURL = "https://example.org/v2/?a=1" }, "no query"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate -1"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{"negative cap", func(c *Config) { c.MaxBodyBytes = -1 }, "max body bytes"},
		{"negative retry", func(c *Config) { c.RetryInitial = -1 }, "retry intervals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	c, err := New(Config{ClientID: "id", ClientSecret: "secret", APIURL: "http://127.0.0.1:1/v2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := c.cfg
	if cfg.APIURL != "http://127.0.0.1:1/v2/" || cfg.AuthURL != DefaultAuthURL || cfg.Rate != DefaultRate ||
		cfg.Timeout != DefaultTimeout || cfg.MaxBodyBytes != DefaultMaxBodyBytes || cfg.MaxRetries != DefaultMaxRetries ||
		!strings.HasPrefix(cfg.UserAgent, "salesbridge/") || cfg.Clock == nil || cfg.Logger == nil {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if b := c.Budget(); b.Rate() != DefaultRate || b.Window() != RateWindow+WindowMargin {
		t.Errorf("budget %d per %s, want %d per %s", b.Rate(), b.Window(), DefaultRate, RateWindow+WindowMargin)
	}
	if got := c.tokens.conf.TokenURL; got != DefaultAuthURL+TokenPath {
		t.Errorf("token URL %q", got)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without credentials")
	}
}
