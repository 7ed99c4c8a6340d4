package config

import (
	"net/url"
	"strings"
)

// Catalog holds where the recordings catalog lives. It is embedded in Config, so its field
// reads as cfg.CatalogURL.
type Catalog struct {
	// CatalogURL is a PostgreSQL connection URL (postgres://user:pass@host:5432/db?sslmode=…):
	// every node and worker of a cluster shares that catalog; its schema is migrated on open.
	// --catalog-url, default "" (the embedded SQLite file <data-dir>/catalog.db, one node).
	CatalogURL string
}

// DefaultCatalog returns the documented catalog defaults (the embedded SQLite).
func DefaultCatalog() Catalog { return Catalog{} }

func (c *Catalog) settings() []setting {
	return []setting{
		{"catalog-url", "PostgreSQL `URL` of the shared recordings catalog (postgres://user:pass@host:5432/db); empty = the embedded SQLite file <data-dir>/catalog.db", (*stringValue)(&c.CatalogURL)},
	}
}

func (c Catalog) validate(bad func(flagName, format string, args ...any)) {
	if c.CatalogURL == "" {
		return
	}
	u, err := url.Parse(c.CatalogURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" || u.Fragment != "" ||
		strings.ContainsAny(c.CatalogURL, " \t\r\n") {
		bad("catalog-url", "%q is not a postgres://[user[:password]@]host[:port]/database URL", RedactURL(c.CatalogURL))
	}
}

// RedactURL hides the password of a URL (for errors and logs); a string that does not parse
// as a URL is hidden whole after its scheme.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		return raw[:i+3] + "xxxxx"
	}
	return "xxxxx"
}
