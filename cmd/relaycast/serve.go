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

	// The first SIGINT/SIGTERM stops the server (a cluster member drains first, up to
	// --drain-timeout); a second one cuts the drain short.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hurry, returned := make(chan struct{}), make(chan struct{})
	defer close(returned)
	go func() {
		select {
		case <-sigs:
		case <-returned:
			return
		}
		cancel()
		select {
		case sig := <-sigs:
			logger.Warn("second signal: not waiting for the drain", "signal", sig.String())
			close(hurry)
		case <-returned:
		}
	}()

	srv, err := server.New(server.Params{Config: cfg, Logger: logger, Signer: signer, Hurry: hurry})
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
