package transcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
)

// RedisOpt parses a redis:// URL ("redis://[:password@]host:port[/db]").
func RedisOpt(url string) (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, fmt.Errorf("transcode: redis url: %w", err)
	}
	return opt, nil
}

// Embedded is an in-process Redis-compatible server (miniredis) for single-binary setups.
// It keeps data in memory only; the reconciler re-enqueues whatever is lost with it.
type Embedded struct {
	m   *miniredis.Miniredis
	clk *slewClock // answers TIME (embedded_clock.go)
}

// StartEmbedded starts it on a free loopback port, with the node's clock made step-free for
// TIME (StartEmbeddedWith with the defaults).
func StartEmbedded() (*Embedded, error) { return StartEmbeddedWith(EmbeddedParams{}) }

// Addr is host:port.
func (e *Embedded) Addr() string { return e.m.Addr() }

// URL is redis://Addr.
func (e *Embedded) URL() string { return "redis://" + e.m.Addr() }

// FlushAll wipes every key (tests of the reconciler).
func (e *Embedded) FlushAll() { e.m.FlushAll() }

// Close stops it.
func (e *Embedded) Close() { e.m.Close() }

// Client enqueues tasks.
type Client struct {
	c   *asynq.Client
	ins *asynq.Inspector
}

// NewClient connects to Redis (lazily).
func NewClient(opt asynq.RedisConnOpt) *Client {
	return &Client{c: asynq.NewClient(opt), ins: asynq.NewInspector(opt)}
}

// EnqueueChunk enqueues a chunk; a duplicate (same recording + index) is not an error.
func (c *Client) EnqueueChunk(ctx context.Context, p ChunkPayload) error {
	t, err := NewChunkTask(p)
	if err != nil {
		return err
	}
	return c.enqueue(ctx, t)
}

// EnqueueFinalize enqueues the finalize task of a recording of n chunks (duplicates ignored).
func (c *Client) EnqueueFinalize(ctx context.Context, id string, n int) error {
	t, err := NewFinalizeTask(FinalizePayload{RecordingID: id, Chunks: n})
	if err != nil {
		return err
	}
	return c.enqueue(ctx, t)
}

// EnqueueFile enqueues the transcode of an uploaded or imported file (duplicates ignored).
func (c *Client) EnqueueFile(ctx context.Context, p FilePayload) error {
	t, err := NewFileTask(p)
	if err != nil {
		return err
	}
	return c.enqueue(ctx, t)
}

func (c *Client) enqueue(ctx context.Context, t *asynq.Task) error {
	_, err := c.c.EnqueueContext(ctx, t)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}

// QueueStats is the number of tasks per state, summed over the archive's queues.
type QueueStats struct {
	Pending, Active, Scheduled, Retry, Archived, Completed int
}

// Stats reads the queue depths (for metrics).
func (c *Client) Stats() (QueueStats, error) {
	var s QueueStats
	queues, err := c.ins.Queues()
	if err != nil {
		return s, err
	}
	for _, q := range queues {
		if q != QueueChunks && q != QueueFinalize {
			continue
		}
		in, err := c.ins.GetQueueInfo(q)
		if err != nil {
			return s, err
		}
		s.Pending += in.Pending
		s.Active += in.Active
		s.Scheduled += in.Scheduled
		s.Retry += in.Retry
		s.Archived += in.Archived
		s.Completed += in.Completed
	}
	return s, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	_ = c.ins.Close()
	return c.c.Close()
}

// WorkerParams configures a Worker.
type WorkerParams struct {
	Redis   asynq.RedisConnOpt
	Handler *Handler
	Logger  *slog.Logger
	// Concurrency is the number of jobs run at once (default: half the cores, at least 1).
	Concurrency int
	// PollInterval is how often idle workers look for new and retried tasks (default 1 s;
	// tests use less).
	PollInterval time.Duration
	// ShutdownTimeout bounds how long Close waits for running jobs before handing them back.
	ShutdownTimeout time.Duration
	// LeaseTTL is how long a running job's lease lives without renewal (default 6 s; renewed
	// every second): the job of a worker that dies is run again by another worker about
	// LeaseTTL + 1 s + PollInterval later (lease.go).
	LeaseTTL time.Duration

	mux asynq.Handler // tests: runs jobs instead of Handler
}

// DefaultConcurrency is half the cores (ffmpeg itself is multi-threaded), at least 1.
func DefaultConcurrency() int { return max(1, runtime.NumCPU()/2) }

// Worker runs tasks from Redis until Close.
type Worker struct {
	srv    *asynq.Server
	h      *Handler
	mux    asynq.Handler
	leases *leases
	log    *slog.Logger
}

// NewWorker builds a worker; Start runs it.
func NewWorker(p WorkerParams) *Worker {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency()
	}
	if p.PollInterval <= 0 {
		p.PollInterval = time.Second
	}
	if p.ShutdownTimeout <= 0 {
		p.ShutdownTimeout = 10 * time.Second
	}
	if p.LeaseTTL <= 0 {
		p.LeaseTTL = DefaultLeaseTTL
	}
	log := p.Logger.With("component", "worker")
	h := p.Handler
	failed := func(ctx context.Context, t *asynq.Task, err error) {
		if h != nil {
			h.notifyFailed(ctx, t, err)
		}
	}
	srv := asynq.NewServer(p.Redis, asynq.Config{
		Concurrency:              p.Concurrency,
		Queues:                   map[string]int{QueueFinalize: 6, QueueChunks: 3},
		TaskCheckInterval:        p.PollInterval,
		DelayedTaskCheckInterval: p.PollInterval,
		ShutdownTimeout:          p.ShutdownTimeout,
		Logger:                   slogAdapter{log},
		LogLevel:                 asynq.WarnLevel,
		RetryDelayFunc: func(n int, err error, t *asynq.Task) time.Duration {
			// 1 s, 2 s, 4 s … capped at 1 min.
			return min(time.Minute, time.Second<<min(n, 6))
		},
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			retried, _ := asynq.GetRetryCount(ctx)
			maxR, _ := asynq.GetMaxRetry(ctx)
			final := errors.Is(err, asynq.SkipRetry) || retried >= maxR
			log.Warn("task failed", "type", t.Type(), "retry", retried, "final", final, "err", err)
			if final {
				failed(ctx, t, err)
			}
		}),
	})
	w := &Worker{srv: srv, h: h, mux: p.mux, log: log}
	if w.mux == nil && h != nil {
		w.mux = h
	}
	var err error
	if w.leases, err = newLeases(p.Redis, p.LeaseTTL, []string{QueueFinalize, QueueChunks}, log, failed); err != nil {
		// Without its own leases a worker still runs; a dead worker's jobs then wait for asynq's
		// recoverer (about a minute).
		log.Warn("job leases off", "err", err)
	}
	return w
}

// Start runs the worker in the background.
func (w *Worker) Start() error {
	if w.h != nil {
		w.h.CleanTmp()
	}
	mux := w.mux
	if w.leases != nil {
		mux = w.leases.wrap(mux)
	}
	if err := w.srv.Start(mux); err != nil {
		return err
	}
	if w.leases != nil {
		w.leases.start()
	}
	return nil
}

// Close stops fetching, waits for running jobs (bounded by ShutdownTimeout; unfinished jobs go
// back to the queue) and returns.
func (w *Worker) Close() error {
	w.srv.Shutdown()
	if w.leases != nil {
		w.leases.close()
	}
	return nil
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a slogAdapter) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a slogAdapter) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a slogAdapter) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a slogAdapter) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
