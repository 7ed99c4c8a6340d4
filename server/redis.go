package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/live"
	"github.com/relaycast/relaycast/live/stream"
	"github.com/relaycast/relaycast/transcode"
)

// openRedis opens the node's one Redis, shared by the recording pipeline (job queue, status
// events) and the live room (event streams, auctions, chat): --redis-url, or an in-process
// Redis-compatible server (miniredis; single node) without it.
func (s *Server) openRedis() error {
	var err error
	if s.cfg.RedisURL == "" {
		if s.embedded, err = transcode.StartEmbedded(); err != nil {
			return err
		}
		s.redisOpt = asynq.RedisClientOpt{Addr: s.embedded.Addr()}
		s.log.Info("using the in-process Redis (single node; set --redis-url for several)")
	} else if s.redisOpt, err = transcode.RedisOpt(s.cfg.RedisURL); err != nil {
		return err
	}
	s.rdb = s.redisOpt.MakeRedisClient().(redis.UniversalClient)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// openStream starts the live rooms' event stream on the node's Redis.
func (s *Server) openStream() error {
	var err error
	s.stream, err = stream.New(stream.Params{
		Redis: s.rdb, Prefix: stream.DefaultPrefix, Logger: s.p.Logger,
		Channel: archive.ChannelFor(stream.DefaultPrefix+":events", s.redisOpt),
		Batch:   liveEventBatch(s.cfg.LiveEventBatch), Prompt: live.PromptKind,
	})
	return err
}

// liveEventBatch is --live-event-batch as stream.Params.Batch (0 there is its default; here
// it sends every event at once).
func liveEventBatch(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// closeRedis closes what openRedis and openStream opened, last (after every user of them).
func (s *Server) closeRedis() {
	if s.stream != nil {
		_ = s.stream.Close()
	}
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
}
