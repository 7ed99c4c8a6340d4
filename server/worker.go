package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/events"
	"github.com/relaycast/relaycast/transcode"
)

// ErrNoRedis is returned by RunWorker without --redis-url: a separate worker must share the
// queue with the servers.
var ErrNoRedis = errors.New("worker: --redis-url is required")

// RunWorker runs transcode workers only (`relaycast worker`): it takes jobs from the Redis at
// cfg.RedisURL, writes to the configured storage and reports progress to every server through
// Redis pub/sub, until ctx is done. Running jobs get a few seconds to finish; the rest go back
// to the queue for another worker.
func RunWorker(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RedisURL == "" {
		return ErrNoRedis
	}
	opt, err := transcode.RedisOpt(cfg.RedisURL)
	if err != nil {
		return err
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		return fmt.Errorf("worker: redis: %w", err)
	}
	store, _, err := archive.OpenStorage(ctx, cfg)
	if err != nil {
		return err
	}
	bus, err := events.New(events.Params{Redis: rdb, Channel: archive.ChannelFor(archive.UpdatesChannel, opt), Logger: logger})
	if err != nil {
		return err
	}
	defer bus.Close()
	workers := cfg.Workers
	if workers <= 0 {
		workers = config.DefaultWorkers()
	}
	h := transcode.NewHandler(transcode.HandlerParams{Store: store, Logger: logger, FFmpeg: cfg.FFmpeg, Notify: archive.PublishUpdates(bus), TmpDir: cfg.ScratchDir()})
	w := transcode.NewWorker(transcode.WorkerParams{Redis: opt, Handler: h, Logger: logger, Concurrency: workers})
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	logger.Info("worker running", "redis", redactURL(cfg.RedisURL), "concurrency", workers)
	<-ctx.Done()
	logger.Info("worker stopping")
	return w.Close()
}

func redactURL(u string) string {
	if at := strings.LastIndexByte(u, '@'); at >= 0 {
		if i := strings.Index(u, "://"); i >= 0 && i < at {
			return u[:i+3] + "***" + u[at:]
		}
	}
	return u
}
