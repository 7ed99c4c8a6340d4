package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/relaycast/relaycast/server"
)

// runServe implements `relaycast serve`: load config, build the logger, run
// the server until SIGINT/SIGTERM.
func runServe(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	_ = stdout // the server prints its ready links through the logger / itself
	cfg, logger, signer, err := loadServe(args, env, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errSetup):
		fmt.Fprintf(stderr, "relaycast serve: %v\n", err)
		return exitFailure
	case err != nil:
		fmt.Fprintf(stderr, "relaycast serve: %v\n", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := server.New(server.Params{Config: cfg, Logger: logger, Signer: signer})
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exitFailure
	}
	if err := srv.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("server stopped", "err", err)
		return exitFailure
	}
	logger.Info("shut down")
	return exitOK
}
