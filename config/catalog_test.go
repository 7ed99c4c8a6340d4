package config

import (
	"errors"
	"strings"
	"testing"
)

func TestCatalogSettings(t *testing.T) {
	const u = "postgres://relay:pw@db.example:5432/relaycast?sslmode=disable"
	c, err := Load(newFS(), []string{"--catalog-url", u}, envMap(nil))
	if err != nil || c.CatalogURL != u {
		t.Fatalf("flag: %q %v", c.CatalogURL, err)
	}
	c, err = Load(newFS(), nil, envMap(map[string]string{"RELAYCAST_CATALOG_URL": "postgresql://db.example/r"}))
	if err != nil || c.CatalogURL != "postgresql://db.example/r" {
		t.Fatalf("env: %q %v", c.CatalogURL, err)
	}
	if d := Default(); d.CatalogURL != "" {
		t.Fatalf("default %q, want the embedded SQLite", d.CatalogURL)
	}
}

func TestCatalogValidate(t *testing.T) {
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"empty: sqlite", "", true},
		{"postgres", "postgres://u:p@127.0.0.1:5432/db", true},
		{"postgresql, no port", "postgresql://db.example/relaycast?sslmode=require", true},
		{"mysql", "mysql://u:hunter2@db.example/db", false},
		{"a path", "/var/lib/catalog.db", false},
		{"no host", "postgres:///db", false},
		{"bad port hides the password", "postgres://u:hunter2@db.example:x/db", false},
		{"space", "postgres://db.example/d b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.CatalogURL = tt.url
			err := c.Validate()
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--catalog-url") {
				t.Fatalf("err = %v, want ErrInvalid naming --catalog-url", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err %v shows the password", err)
			}
		})
	}
}
