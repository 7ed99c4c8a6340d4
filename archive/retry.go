package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/transcode"
)

// Retry restarts a failed recording (POST /api/recordings/{id}/retry): see retry.
func (a *Archive) Retry(ctx context.Context, id string) (catalog.Recording, error) {
	return a.retry(ctx, a.ins, id)
}

// retry restarts a failed recording. With its raw files on disk it does what the reconciler does
// at startup (upload the chunks not done yet again, enqueue them and the finalize job) after
// removing the recording's dead tasks from the queue, whose task IDs would refuse the new ones.
// Without raw files (an upload, or past retention) it runs the dead tasks again as they are.
func (a *Archive) retry(ctx context.Context, ins *asynq.Inspector, id string) (catalog.Recording, error) {
	rec, err := a.cat.Get(ctx, id)
	if err != nil {
		return rec, err
	}
	if rec.Status != catalog.StatusFailed {
		return rec, fmt.Errorf("%w (it is %s)", ErrNotFailed, rec.Status)
	}
	// The job that failed the recording marks it failed before asynq archives the job: let it
	// settle first, or its dead task would be missed here (and its ID refuse the new job).
	settleActive(ctx, ins, id, 5*time.Second)
	dead, err := deadTasks(ins, id)
	if err != nil {
		return rec, fmt.Errorf("queue: %w", err)
	}
	var onDisk *recorder.Pending
	pending, _ := recorder.Scan(a.rec.Dir(), a.rec.Live())
	for i := range pending {
		if pending[i].Manifest.ID == id {
			onDisk = &pending[i]
		}
	}
	if onDisk == nil && len(dead) == 0 {
		return rec, ErrNothingToRetry
	}
	rec, err = a.cat.Update(ctx, id, func(r *catalog.Recording) error {
		r.Status, r.Error, r.Progress = catalog.StatusProcessing, "", 0
		return nil
	})
	if err != nil {
		return rec, err
	}
	a.log.Info("retrying recording", "recording", id, "raw_on_disk", onDisk != nil, "dead_tasks", len(dead))
	if onDisk == nil {
		for _, t := range dead {
			if err := ins.RunTask(t.Queue, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				a.setFailed(id, "retry: "+err.Error())
				return rec, fmt.Errorf("queue: %w", err)
			}
		}
	} else {
		for _, t := range dead {
			if err := ins.DeleteTask(t.Queue, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				a.setFailed(id, "retry: "+err.Error())
				return rec, fmt.Errorf("queue: %w", err)
			}
		}
		m := onDisk.Manifest
		for i := range onDisk.Chunks {
			c := onDisk.Chunks[i]
			if ok, _ := a.exists(ctx, transcode.ChunkDoneKey(id, c.Index)); ok {
				continue
			}
			if c.Width == 0 {
				c.Width, c.Height = m.Width, m.Height
			}
			a.submit(archiveJob{chunk: &c})
		}
		a.submit(archiveJob{end: &m})
	}
	a.publish("recording", id, rec)
	return rec, nil
}

// settleActive waits, at most max, until no task of the recording is active.
func settleActive(ctx context.Context, ins *asynq.Inspector, recordingID string, max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		active := false
		if err := eachTask(ins, []string{"active"}, func(t *asynq.TaskInfo) {
			active = active || payloadRecording(t.Payload) == recordingID
		}); err != nil || !active || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// deadTasks are the recording's tasks that will not run again by themselves: archived (failed
// for good) or waiting to retry.
func deadTasks(ins *asynq.Inspector, recordingID string) ([]*asynq.TaskInfo, error) {
	var out []*asynq.TaskInfo
	err := eachTask(ins, []string{"archived", "retry"}, func(t *asynq.TaskInfo) {
		if payloadRecording(t.Payload) == recordingID {
			out = append(out, t)
		}
	})
	return out, err
}

// eachTask calls fn for every task in the given states of every queue (100 per page).
func eachTask(ins *asynq.Inspector, states []string, fn func(*asynq.TaskInfo)) error {
	queues, err := ins.Queues()
	if err != nil {
		return err
	}
	for _, q := range queues {
		for _, st := range states {
			list := listFunc(ins, st)
			for page := 1; ; page++ {
				ts, err := list(q, asynq.PageSize(100), asynq.Page(page))
				if errors.Is(err, asynq.ErrQueueNotFound) {
					break
				}
				if err != nil {
					return err
				}
				for _, t := range ts {
					fn(t)
				}
				if len(ts) < 100 {
					break
				}
			}
		}
	}
	return nil
}

func listFunc(ins *asynq.Inspector, state string) func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error) {
	switch state {
	case "retry":
		return ins.ListRetryTasks
	case "active":
		return ins.ListActiveTasks
	case "pending":
		return ins.ListPendingTasks
	case "scheduled":
		return ins.ListScheduledTasks
	default:
		return ins.ListArchivedTasks
	}
}

func payloadRecording(b []byte) string {
	var p struct {
		RecordingID string `json:"recording_id"`
	}
	_ = json.Unmarshal(b, &p)
	return p.RecordingID
}

// ---- jobs ----

// Job is one task of the transcode queue, as the admin API lists it.
type Job struct {
	ID           string     `json:"id"`
	Queue        string     `json:"queue"`
	Type         string     `json:"type"`
	State        string     `json:"state"`
	RecordingID  string     `json:"recording_id"`
	Error        string     `json:"error"`
	Retried      int        `json:"retried"`
	MaxRetry     int        `json:"max_retry"`
	LastFailedAt *time.Time `json:"last_failed_at,omitempty"`
}

// Jobs lists the queue's tasks in state ("" = archived): ErrBadState for an unknown state,
// ErrQueue when Redis fails.
func (a *Archive) Jobs(state string) ([]Job, error) {
	switch state {
	case "":
		state = "archived"
	case "archived", "retry", "active", "pending", "scheduled":
	default:
		return nil, ErrBadState
	}
	jobs := []Job{}
	err := eachTask(a.ins, []string{state}, func(t *asynq.TaskInfo) {
		j := Job{ID: t.ID, Queue: t.Queue, Type: t.Type, State: t.State.String(), RecordingID: payloadRecording(t.Payload),
			Error: transcode.CleanLog(t.LastErr), Retried: t.Retried, MaxRetry: t.MaxRetry}
		if !t.LastFailedAt.IsZero() {
			at := t.LastFailedAt.UTC()
			j.LastFailedAt = &at
		}
		jobs = append(jobs, j)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	return jobs, nil
}

// RunJob runs an archived, retrying or scheduled task now (ErrNoSuchJob, ErrQueue,
// ErrJobNotRunnable); the failed recording it belongs to is being processed again.
func (a *Archive) RunJob(ctx context.Context, queue, id string) error {
	info, err := a.ins.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrQueueNotFound) || errors.Is(err, asynq.ErrTaskNotFound) {
		return ErrNoSuchJob
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrQueue, err)
	}
	if err := a.ins.RunTask(queue, id); err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) {
			return ErrNoSuchJob
		}
		return fmt.Errorf("%w: %w", ErrJobNotRunnable, err)
	}
	// The recording it belongs to is being processed again.
	if rid := payloadRecording(info.Payload); rid != "" {
		if rec, err := a.cat.Update(ctx, rid, func(rec *catalog.Recording) error {
			if rec.Status != catalog.StatusFailed {
				return errNoChange
			}
			rec.Status, rec.Error = catalog.StatusProcessing, ""
			return nil
		}); err == nil {
			a.publish("recording", rid, rec)
		}
	}
	return nil
}
