package catalog

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
)

// Versioned schemas: each store's SQL files (goose format: -- +goose Up / -- +goose Down),
// embedded in the binary and applied in order on open. A schema change is a new file with the
// next number in both directories, never an edit of an applied one.

//go:embed migrations/pg/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// MigrationsTable is the table where goose records the applied versions of a catalog's schema
// (in SQLite and in PostgreSQL).
const MigrationsTable = "relaycast_catalog_version"

// migrate brings db to the latest version of the schema in migrations/<dir>.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, log *slog.Logger, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(migrationFiles, "migrations/"+dir)
	if err != nil {
		return err
	}
	opts = append(opts, goose.WithTableName(MigrationsTable), goose.WithDisableGlobalRegistry(true))
	prov, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return err
	}
	res, err := prov.Up(ctx)
	if err != nil {
		return err
	}
	for _, r := range res {
		log.Info("catalog migrated", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}
