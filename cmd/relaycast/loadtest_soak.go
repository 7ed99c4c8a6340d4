package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/relaycast/relaycast/loadtest"
)

// soakFlags are the flags of `relaycast loadtest --soak DIR` (loadtest/soak.go, loadtest/soak.sh).
type soakFlags struct {
	dir, upload, report string
	after               time.Duration
}

func (f *soakFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "soak", "", "run the soak scenario instead (loadtest/soak.go): 100 churning lean video viewers, 20 chatters, a lot every 2 min with 50 bidders, an upload every 5 min, for --duration (default 1h when not set), sampling the server every 30 s into this `directory` (samples.jsonl, soak.json, soak.md, soak.html, rewritten at each sample)")
	fs.StringVar(&f.upload, "soak-upload", "", "soak: the media `file` uploaded every 5 minutes (none: no uploads)")
	fs.StringVar(&f.report, "soak-report", "", "re-analyze the soak in this `directory` (its soak.json and samples.jsonl: a run still going or cut short) and rewrite its soak.json, soak.md and soak.html")
	fs.DurationVar(&f.after, "soak-after", 5*time.Minute, "soak: how long to keep sampling after the load stopped")
}

// runSoakCmd runs loadtest.RunSoak with the common flags of p (url, room, token, server-pid,
// ffmpeg, bitrate, duration) and prints the verdict.
func runSoakCmd(p loadtest.Params, f soakFlags, set map[string]bool, secret, dataDir string, stdout, stderr io.Writer) int {
	if f.report != "" {
		rep, err := loadtest.RenderSoakDir(f.report)
		if err != nil {
			fmt.Fprintf(stderr, "relaycast loadtest: --soak-report: %v\n", err)
			return exitFailure
		}
		_ = rep.WriteMarkdown(stdout)
		if !rep.Verdict.Pass {
			return exitFailure
		}
		return exitOK
	}
	mint, err := liveMinter(secret, dataDir, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "relaycast loadtest: %v\n", err)
		return exitFailure
	}
	p.Mint = mint
	p.Progress = stderr
	p.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("app", "relaycast")
	sp := loadtest.SoakParams{Base: p, OutDir: f.dir, UploadFile: f.upload, After: f.after}
	if set["duration"] {
		sp.Duration = p.Duration
	}
	if f.upload == "" {
		sp.UploadEvery = -1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadtest.RunSoak(ctx, sp)
	if rep == nil {
		fmt.Fprintf(stderr, "relaycast loadtest: %v\n", err)
		if errors.Is(err, loadtest.ErrBadParams) {
			return exitUsage
		}
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "relaycast loadtest: soak stopped early: %v\n", err)
	}
	_ = rep.WriteMarkdown(stdout)
	if err != nil || !rep.Verdict.Pass {
		return exitFailure
	}
	return exitOK
}
