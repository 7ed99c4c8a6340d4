package config

import (
	"errors"
	"strings"
	"testing"
)

func TestWebhookSettings(t *testing.T) {
	c, err := Load(newFS(), []string{"--webhook-url", "https://shop.example/a,https://shop.example/b", "--webhook-url", "http://10.1.2.3:8000/hook"},
		envMap(map[string]string{"RELAYCAST_WEBHOOK_SECRET": "0123456789abcdef", "RELAYCAST_WEBHOOK_ALLOW_PRIVATE": "true",
			"RELAYCAST_WEBHOOK_URL": "https://ignored.example/"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://shop.example/a", "https://shop.example/b", "http://10.1.2.3:8000/hook"}
	if strings.Join(c.WebhookURLs, " ") != strings.Join(want, " ") || c.WebhookSecret != "0123456789abcdef" || !c.WebhookAllowPrivate {
		t.Fatalf("%+v", c.Webhooks)
	}
	c, err = Load(newFS(), nil, envMap(map[string]string{"RELAYCAST_WEBHOOK_URL": "https://a.example/,https://b.example/", "RELAYCAST_WEBHOOK_SECRET": "0123456789abcdef"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.WebhookURLs) != 2 || c.WebhookAllowPrivate {
		t.Fatalf("from the environment: %+v", c.Webhooks)
	}
	if d := Default(); len(d.WebhookURLs) != 0 || d.WebhookAllowPrivate {
		t.Fatalf("defaults %+v", d.Webhooks)
	}
}

func TestWebhookValidate(t *testing.T) {
	const sec = "0123456789abcdef"
	tests := []struct {
		name   string
		w      Webhooks
		flag   string
		hidden string
	}{
		{"ok", Webhooks{WebhookURLs: []string{"https://shop.example/hook?x=1"}, WebhookSecret: sec}, "", ""},
		{"secret alone is fine", Webhooks{WebhookSecret: "s"}, "", ""},
		{"ftp", Webhooks{WebhookURLs: []string{"ftp://shop.example/"}, WebhookSecret: sec}, "--webhook-url", ""},
		{"no host", Webhooks{WebhookURLs: []string{"https:///x"}, WebhookSecret: sec}, "--webhook-url", ""},
		{"relative", Webhooks{WebhookURLs: []string{"/hook"}, WebhookSecret: sec}, "--webhook-url", ""},
		{"fragment", Webhooks{WebhookURLs: []string{"https://a.example/#x"}, WebhookSecret: sec}, "--webhook-url", ""},
		{"password hidden", Webhooks{WebhookURLs: []string{"gopher://u:hunter2@a.example/"}, WebhookSecret: sec}, "--webhook-url", "hunter2"},
		{"no secret", Webhooks{WebhookURLs: []string{"https://a.example/"}}, "--webhook-secret", ""},
		{"short secret", Webhooks{WebhookURLs: []string{"https://a.example/"}, WebhookSecret: "short"}, "--webhook-secret", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Webhooks = tt.w
			err := c.Validate()
			if tt.flag == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("err = %v, want ErrInvalid naming %s", err, tt.flag)
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Fatalf("err %v shows %q", err, tt.hidden)
			}
		})
	}
}
