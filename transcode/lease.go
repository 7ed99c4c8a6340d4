package transcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Job leases: fast takeover of a dead worker's jobs.
//
// asynq's own lease on a running task is fixed at 30 s (internal/rdb.LeaseDuration), and its
// recoverer looks only every minute, for leases expired 30 s ago: a worker killed mid-job (SIGKILL,
// OOM, power loss) had its job restarted 60–120 s later. asynq offers no option for either, so
// every worker keeps a lease of its own beside asynq's:
//
//   - while a job runs, its worker holds a lease in the sorted set asynq:{queue}:relaycast-leases
//     (member: task id, score: expiry in ms on the Redis server's clock, so workers' clocks may
//     differ), LeaseTTL long (default 6 s), renewed every second (LeaseTTL/4 if shorter);
//   - every worker sweeps the active tasks as often: a task whose lease has expired, or
//     that has had none for leaseGrace (asynq moves a task to active just before the handler takes
//     its lease; a worker may die in between), goes back to the head of its queue — the same move
//     asynq itself makes for the running jobs of a worker that shuts down (rdb.Requeue), done in
//     one Lua script so that of several sweeping workers exactly one moves it;
//   - a task taken over more than maxTakeovers times in a row (it kills every worker that runs
//     it) is archived as failed instead of being run again.
//
// A worker never takes over a job it runs itself (its renewals may be late on a starved machine).
// So a job whose worker dies is running again on another worker within about
// LeaseTTL + 1 s + PollInterval (≈ 8 s with the defaults; TestWorkerKilledMidJob measures it).
// Redis key expiry is not used: the embedded miniredis does not expire keys on its own.

const (
	// DefaultLeaseTTL is the default WorkerParams.LeaseTTL.
	DefaultLeaseTTL = 6 * time.Second
	// leaseGrace is how long an active task may be without a lease before it is taken over.
	leaseGrace = 2 * time.Second
	// maxTakeovers: a task taken over more often than this in a row is archived.
	maxTakeovers = 3
)

func qkey(queue, name string) string { return "asynq:{" + queue + "}:" + name }

// renewScript sets task ARGV[1]'s lease in KEYS[1] to now + ARGV[2] ms.
var renewScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1`)

// takeoverScript moves an active task whose worker is gone back to the head of its queue.
// KEYS: active list, asynq lease zset, pending list, task hash, our leases, takeover counts.
// ARGV: task id, "1" when the task has had no lease for leaseGrace.
// Returns 0 when the task is alive (or no longer active), -1 when it has no lease (yet), else how
// often it was taken over.
var takeoverScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = redis.call("ZSCORE", KEYS[5], ARGV[1])
if exp then
  if tonumber(exp) > now then
    return 0
  end
elseif ARGV[2] ~= "1" then
  return -1
end
redis.call("ZREM", KEYS[5], ARGV[1])
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
  return 0
end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("RPUSH", KEYS[3], ARGV[1])
redis.call("HSET", KEYS[4], "state", "pending")
return redis.call("HINCRBY", KEYS[6], ARGV[1], 1)`)

// leases holds the leases of this worker's jobs and sweeps everyone's.
type leases struct {
	rdb    redis.UniversalClient
	ins    *asynq.Inspector
	ttl    time.Duration
	queues []string
	log    *slog.Logger
	failed func(ctx context.Context, t *asynq.Task, err error) // a task archived after maxTakeovers

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	noLease map[string]time.Time // sweeper only: active tasks seen without a lease, since

	mu   sync.Mutex
	mine map[string]bool // queue/id of the jobs this worker runs
}

// every is how often leases are renewed and swept.
func (l *leases) every() time.Duration { return min(time.Second, l.ttl/4) }

func newLeases(opt asynq.RedisConnOpt, ttl time.Duration, queues []string, log *slog.Logger,
	failed func(context.Context, *asynq.Task, error)) (*leases, error) {
	rc := opt.MakeRedisClient()
	c, ok := rc.(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("%w: redis client %T", ErrLease, rc)
	}
	return &leases{rdb: c, ins: asynq.NewInspector(opt), ttl: ttl, queues: queues, log: log,
		failed: failed, noLease: map[string]time.Time{}, mine: map[string]bool{}}, nil
}

// wrap holds a lease for every job h runs.
func (l *leases) wrap(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		q, _ := asynq.GetQueueName(ctx)
		if id == "" || q == "" {
			return h.ProcessTask(ctx, t)
		}
		l.mu.Lock()
		l.mine[q+"/"+id] = true
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			delete(l.mine, q+"/"+id)
			l.mu.Unlock()
		}()
		l.renew(q, id)
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			tick := time.NewTicker(l.every())
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					l.renew(q, id)
				}
			}
		}()
		err := h.ProcessTask(ctx, t)
		close(stop)
		<-stopped
		// The job came back (done, failed or handed back): its worker did not die with it.
		rctx, cancel := context.WithTimeout(context.Background(), l.ttl)
		defer cancel()
		l.rdb.ZRem(rctx, qkey(q, "relaycast-leases"), id)
		l.rdb.HDel(rctx, qkey(q, "relaycast-takeovers"), id)
		return err
	})
}

func (l *leases) renew(q, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/2)
	defer cancel()
	if err := renewScript.Run(ctx, l.rdb, []string{qkey(q, "relaycast-leases")}, id, l.ttl.Milliseconds()).Err(); err != nil {
		l.log.Warn("job lease not renewed", "queue", q, "task", id, "err", err)
	}
}

// start sweeps every l.every() until close.
func (l *leases) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(l.every())
		defer tick.Stop()
		for {
			if _, err := l.sweep(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("job lease sweep", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// sweep takes over the active tasks of dead workers and returns how many it took over.
func (l *leases) sweep(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	seen := map[string]bool{}
	for _, q := range l.queues {
		ids, err := l.rdb.LRange(ctx, qkey(q, "active"), 0, -1).Result()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range ids {
			k := q + "/" + id
			seen[k] = true
			l.mu.Lock()
			mine := l.mine[k]
			l.mu.Unlock()
			if mine {
				continue
			}
			since, absent := l.noLease[k]
			long := "0"
			if absent && time.Since(since) >= leaseGrace {
				long = "1"
			}
			keys := []string{qkey(q, "active"), qkey(q, "lease"), qkey(q, "pending"), qkey(q, "t:"+id),
				qkey(q, "relaycast-leases"), qkey(q, "relaycast-takeovers")}
			times, err := takeoverScript.Run(ctx, l.rdb, keys, id, long).Int()
			switch {
			case err != nil:
				errs = append(errs, err)
				continue
			case times == -1:
				if !absent {
					l.noLease[k] = time.Now()
				}
				continue
			case times == 0:
				delete(l.noLease, k)
				continue
			}
			delete(l.noLease, k)
			n++
			if times <= maxTakeovers {
				l.log.Warn("job of a dead worker taken over", "queue", q, "task", id, "takeovers", times)
				continue
			}
			l.archive(ctx, q, id, times)
		}
	}
	for k := range l.noLease {
		if !seen[k] {
			delete(l.noLease, k)
		}
	}
	return n, errors.Join(errs...)
}

// archive gives up on a task that every worker running it died of.
func (l *leases) archive(ctx context.Context, q, id string, times int) {
	err := fmt.Errorf("%w: %d times in a row", ErrWorkerLost, times)
	l.log.Error("task archived", "queue", q, "task", id, "err", err)
	info, ierr := l.ins.GetTaskInfo(q, id)
	if aerr := l.ins.ArchiveTask(q, id); aerr != nil {
		l.log.Warn("archiving a task", "task", id, "err", aerr)
		return
	}
	l.rdb.HDel(ctx, qkey(q, "relaycast-takeovers"), id)
	if ierr == nil && l.failed != nil {
		l.failed(ctx, asynq.NewTask(info.Type, info.Payload), err)
	}
}

// close stops sweeping and closes the connections.
func (l *leases) close() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	_ = l.ins.Close()
	_ = l.rdb.Close()
}
