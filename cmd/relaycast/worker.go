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

	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/server"
)

// runWorker implements `relaycast worker`: transcode workers only, sharing Redis and storage
// with the servers (flags as for serve; --redis-url is required).
func runWorker(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	_ = stdout
	fs := flag.NewFlagSet("relaycast worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: relaycast worker --redis-url redis://HOST:6379 [flags]

Runs transcode workers only: they take recorded chunks from the Redis queue, build the HLS
ladder with ffmpeg and write it to the storage (--storage-dir on a shared disk, or --s3-*),
reporting progress to every server. Run as many as you like, on any machine: with S3 it
shares no disk with the servers (every job, uploads and imports included, reads its input
from storage), and it needs no catalog (the servers write it; --catalog-url is accepted and
ignored, so one environment file serves both). It uses --redis-url, --workers, --ffmpeg,
--storage-dir/--data-dir, --temp-dir, --s3-*, --log-*; the other flags are those of serve and
are ignored. Every flag also reads RELAYCAST_<FLAG>.

Flags:
`)
		fs.PrintDefaults()
	}
	cfg, err := config.Load(fs, args, env)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "relaycast worker: %v\n", err)
		return exitUsage
	case cfg.RedisURL == "":
		fmt.Fprintln(stderr, "relaycast worker: --redis-url is required (the servers' Redis)")
		return exitUsage
	}
	logger := newLogger(cfg, stderr).With("role", "worker")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.RunWorker(ctx, cfg, logger); err != nil {
		logger.Error("worker stopped", "err", err)
		return exitFailure
	}
	return exitOK
}
