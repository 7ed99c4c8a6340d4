package transcode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// The child worker of TestWorkerKilledMidJob: a real process (this test binary run again) whose
// worker starts the job and then blocks in it until the parent kills the process with SIGKILL.
const childEnv = "RELAYCAST_TEST_LEASE_CHILD" // redis addr,db,marker file

func TestLeaseChildWorker(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("the child worker of TestWorkerKilledMidJob")
	}
	f := strings.Split(spec, ",")
	db, _ := strconv.Atoi(f[1])
	opt := asynq.RedisClientOpt{Addr: f[0], DB: db}
	w := NewWorker(WorkerParams{Redis: opt, Concurrency: 1, PollInterval: 50 * time.Millisecond,
		mux: asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
			_ = os.WriteFile(f[2], task.Payload(), 0o644)
			<-ctx.Done() // until killed
			return ctx.Err()
		})})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute)
	t.Fatal("not killed")
}

// jobLog records which worker ran which job when.
type jobLog struct {
	mu   sync.Mutex
	runs []jobRun
}

type jobRun struct {
	worker, id string
	at         time.Time
}

func (l *jobLog) handler(worker string, d time.Duration) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		var p ChunkPayload
		_ = json.Unmarshal(task.Payload(), &p)
		l.mu.Lock()
		l.runs = append(l.runs, jobRun{worker, p.RecordingID, time.Now()})
		l.mu.Unlock()
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// get lists the runs of job id (other tests' tasks may share the queue).
func (l *jobLog) get(id string) []jobRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []jobRun
	for _, r := range l.runs {
		if r.id == id {
			out = append(out, r)
		}
	}
	return out
}

// TestWorkerKilledMidJob: a worker process is SIGKILLed while it runs a job; another worker runs
// the job again within 10 s (asynq alone: 60–120 s). A worker that is alive keeps its job however
// long it runs, and the other worker does not take it.
func TestWorkerKilledMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a worker process (skipped with -short)")
	}
	for name, mk := range redisOpts(t) {
		t.Run(name, func(t *testing.T) {
			opt, _ := mk(t)
			ro := opt.(asynq.RedisClientOpt)
			c := NewClient(opt)
			defer c.Close()
			ctx := context.Background()
			id := fmt.Sprintf("kill%d", time.Now().UnixNano())

			marker := filepath.Join(t.TempDir(), "started")
			child := exec.Command(os.Args[0], "-test.run=^TestLeaseChildWorker$", "-test.count=1")
			child.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%s", childEnv, ro.Addr, ro.DB, marker))
			child.Stdout, child.Stderr = os.Stderr, os.Stderr
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
			if err := c.EnqueueChunk(ctx, ChunkPayload{RecordingID: id, Index: 0}); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if b, err := os.ReadFile(marker); err == nil && strings.Contains(string(b), id) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the child worker never started the job")
				}
			}

			// The other worker, running beside the live child for longer than a lease: it must
			// not take the job.
			var log jobLog
			other := NewWorker(WorkerParams{Redis: opt, Concurrency: 1, PollInterval: 50 * time.Millisecond,
				mux: log.handler("other", 0)})
			if err := other.Start(); err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			time.Sleep(DefaultLeaseTTL + 2*time.Second)
			if runs := log.get(id); len(runs) != 0 {
				t.Fatalf("the job of a live worker was taken over: %+v", runs)
			}

			if err := child.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed := time.Now()
			_ = child.Wait()
			for deadline := killed.Add(30 * time.Second); len(log.get(id)) == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the job was not taken over %v after its worker was killed", time.Since(killed).Round(time.Second))
				}
			}
			r := log.get(id)[0]
			took := r.at.Sub(killed)
			t.Logf("taken over %.1f s after the SIGKILL", took.Seconds())
			if r.id != id || took > 10*time.Second {
				t.Errorf("job %q taken over after %v: want %q within 10 s", r.id, took, id)
			}
		})
	}
}

// TestWorkerLongJobKept: a job that runs for several leases stays with its worker: a second
// worker sweeping beside it never runs it, and it runs once.
func TestWorkerLongJobKept(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jobs for seconds (skipped with -short)")
	}
	for name, mk := range redisOpts(t) {
		t.Run(name, func(t *testing.T) {
			opt, _ := mk(t)
			c := NewClient(opt)
			defer c.Close()
			var log jobLog
			const ttl = time.Second
			job := 4 * ttl
			for _, w := range []string{"a", "b"} {
				wk := NewWorker(WorkerParams{Redis: opt, Concurrency: 1, PollInterval: 50 * time.Millisecond,
					LeaseTTL: ttl, mux: log.handler(w, job)})
				if err := wk.Start(); err != nil {
					t.Fatal(err)
				}
				defer wk.Close()
			}
			id := fmt.Sprintf("long%d", time.Now().UnixNano())
			if err := c.EnqueueChunk(context.Background(), ChunkPayload{RecordingID: id}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(job + 3*time.Second)
			if mine := log.get(id); len(mine) != 1 {
				t.Errorf("the job ran %d times (%+v), want once", len(mine), mine)
			}
		})
	}
}
