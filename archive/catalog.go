package archive

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
)

// OpenCatalog opens the configured catalog: PostgreSQL at --catalog-url (shared by the nodes
// of a cluster, migrated on open), else the embedded SQLite file <data-dir>/catalog.db.
func OpenCatalog(ctx context.Context, cfg config.Config, logger *slog.Logger) (catalog.Store, error) {
	// Typed nils never escape as a non-nil Store (Close would call into a nil store).
	if cfg.CatalogURL != "" {
		c, err := catalog.OpenPostgres(ctx, catalog.PostgresParams{URL: cfg.CatalogURL, Logger: logger})
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := catalog.Open(catalog.Params{Path: filepath.Join(cfg.DataDir, "catalog.db"), Logger: logger})
	if err != nil {
		return nil, err
	}
	return c, nil
}
