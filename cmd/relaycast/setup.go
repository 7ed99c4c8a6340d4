package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
)

// loadServe parses serve's flags and environment, builds the logger and
// resolves the token signing secret — the one place serve does, as `relaycast
// token` does with the same function (auth.LoadSigner), so they agree on it —
// into the Signer passed down to every component. It returns flag.ErrHelp
// after printing help; other errors are usage errors (exit 2) except those
// wrapping errSetup (exit 1).
func loadServe(args []string, env func(string) (string, bool), stderr io.Writer) (config.Config, *slog.Logger, *auth.Signer, error) {
	fs := flag.NewFlagSet("relaycast serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: relaycast serve [flags]

Runs the server. Every flag --some-name can also be set with the environment
variable RELAYCAST_SOME_NAME; flags given on the command line win.

Flags:
`)
		fs.PrintDefaults()
	}
	cfg, err := config.Load(fs, args, env)
	if err != nil {
		return config.Config{}, nil, nil, err
	}
	logger := newLogger(cfg, stderr)

	signer, generated, err := auth.LoadSigner(cfg.AuthSecret, cfg.DataDir)
	if err != nil {
		return config.Config{}, nil, nil, fmt.Errorf("%w: %w", errSetup, err)
	}
	if generated {
		logger.Info("generated a new token signing secret", "path", filepath.Join(cfg.DataDir, auth.SecretFileName))
	}
	return cfg, logger, signer, nil
}

// errSetup marks failures that are not the user's typing (exit 1, not 2).
var errSetup = errors.New("cannot start")

// newLogger builds the process logger at cfg's level and format.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	var h slog.Handler
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("app", "relaycast")
}
