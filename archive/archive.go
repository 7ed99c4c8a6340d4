package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/catalog"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/events"
	"github.com/relaycast/relaycast/recorder"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/storage"
	"github.com/relaycast/relaycast/transcode"
)

// Channels on Redis: transcode updates from workers, and events for SSE clients. Redis pub/sub
// ignores database numbers, so a deployment on database N > 0 uses "<channel>:dbN" (see
// channelFor): two deployments sharing one Redis server on different databases stay apart.
const (
	UpdatesChannel = "relaycast:updates"
	EventsChannel  = "relaycast:events"
)

// ChannelFor is the pub/sub channel name of base for the Redis database opt selects.
func ChannelFor(base string, opt asynq.RedisConnOpt) string {
	if o, ok := opt.(asynq.RedisClientOpt); ok && o.DB != 0 {
		return fmt.Sprintf("%s:db%d", base, o.DB)
	}
	return base
}

// Archive is the recording → VOD pipeline of one node: recorder hooks upload raw chunks and
// enqueue jobs, in-process workers transcode, worker updates flow back into the catalog and out
// to SSE clients, and a reconciler re-enqueues whatever the disk has that the archive lacks.
type Archive struct {
	cfg config.Config
	log *slog.Logger

	sellerMu sync.Mutex
	sellers  map[string]string // room → publisher subject of its current broadcast
	recorded map[string]bool   // recordings this node's recorder started or continued (sellerMu)

	embedded *transcode.Embedded
	redisOpt asynq.RedisConnOpt
	rdb      redis.UniversalClient
	ownRedis bool // rdb was opened here (not passed in Params), so Close closes it
	store    storage.Storage
	local    *storage.Local // nil with S3
	cat      catalog.Store
	events   *events.Bus // SSE fan-out
	updates  *events.Bus // transcode updates from every worker
	queue    *transcode.Client
	worker   *transcode.Worker
	rec      *recorder.Recorder
	cont     *continuation    // recordings' state in Redis (continue.go)
	ins      *asynq.Inspector // retry and the admin job list (retry.go)

	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	jobs        chan archiveJob
	jobAttempts int
	storeRetry  atomic.Bool // a job was given up on: retry once storage answers (storeretry.go)

	mu          sync.Mutex
	progress    map[string]*recProgress
	storeFailed map[string]bool // recordings with a job given up on (storeretry.go)

	stats     archiveStats
	closeOnce sync.Once
}

type recProgress struct {
	total int // chunks, once the recording ended (0 before)
	done  map[int]bool
}

type archiveStats struct {
	chunksTranscoded atomic.Int64
	jobFailures      atomic.Int64
	uploadFailures   atomic.Int64
	redisLosses      atomic.Int64 // times Redis came back without its data (redisloss.go)
	bytesUploaded    atomic.Int64
	lastSpeed        atomic.Uint64 // float64 bits
	ready            atomic.Int64
	jobSeconds       prometheus.Histogram
}

type archiveJob struct {
	chunk *recorder.ChunkInfo
	end   *recorder.Manifest
	// orphan: end of a recording whose node vanished, ended by this node (continue.go)
	orphan bool
}

// Tuning lets tests shorten the pipeline's timings (zero values: the defaults).
type Tuning struct {
	PollInterval      time.Duration // worker poll (default 1 s)
	ReconcileInterval time.Duration // default 5 min
	MaxRungs          int
	Preset            string
	JobAttempts       int // upload/enqueue attempts per job (default 6, ~30 s)
}

// Params configures an Archive.
type Params struct {
	Config config.Config
	Logger *slog.Logger
	Tuning Tuning
	// Redis and RedisOpt are the node's Redis, shared with the live room (server.New opens it).
	// When RedisOpt is nil, New opens its own: Config.RedisURL, or an in-process one without it.
	Redis    redis.UniversalClient
	RedisOpt asynq.RedisConnOpt
	// NodeID names this node in the recordings' state in Redis (continue.go); default
	// Config.NodeID (--node-id) when set, else NodeID(Config.DataDir). Nodes sharing Redis need
	// distinct ids; a restarted node must keep its own (it recognises its chunks by it).
	NodeID string
}

// New starts the pipeline of p.Config: Redis (in-process without --redis-url), storage, the
// catalog, the event buses, the in-process workers, the recorder and the reconciler.
func New(p Params) (a *Archive, err error) {
	cfg, logger, ap := p.Config, p.Logger, p.Tuning
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a = &Archive{cfg: cfg, log: logger.With("component", "archive"), progress: map[string]*recProgress{}, sellers: map[string]string{}}
	a.stats.jobSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "relaycast_archive_chunk_job_seconds", Help: "Wall time of chunk transcode jobs (ffmpeg run), any worker.",
		Buckets: []float64{1, 2, 4, 8, 15, 30, 60, 120},
	})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	self := a // the error returns below set a to nil
	defer func() {
		if err != nil {
			self.Close()
		}
	}()
	if ap.ReconcileInterval <= 0 {
		ap.ReconcileInterval = 5 * time.Minute
	}
	if ap.JobAttempts <= 0 {
		ap.JobAttempts = 6
	}
	a.jobAttempts = ap.JobAttempts

	switch {
	case p.RedisOpt != nil && p.Redis != nil:
		a.redisOpt, a.rdb = p.RedisOpt, p.Redis
	case cfg.RedisURL == "":
		if a.embedded, err = transcode.StartEmbedded(); err != nil {
			return nil, err
		}
		a.redisOpt = asynq.RedisClientOpt{Addr: a.embedded.Addr()}
		a.log.Info("using the in-process Redis (single node; set --redis-url for several)")
	default:
		if a.redisOpt, err = transcode.RedisOpt(cfg.RedisURL); err != nil {
			return nil, err
		}
	}
	if a.rdb == nil {
		a.rdb = a.redisOpt.MakeRedisClient().(redis.UniversalClient)
		a.ownRedis = true
	}
	pctx, pcancel := context.WithTimeout(a.ctx, 5*time.Second)
	err = a.rdb.Ping(pctx).Err()
	pcancel()
	if err != nil {
		return nil, fmt.Errorf("archive: redis: %w", err)
	}

	if a.store, a.local, err = OpenStorage(a.ctx, cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	if a.cat, err = OpenCatalog(a.ctx, cfg, logger); err != nil { // catalog.go
		return nil, err
	}
	if a.events, err = events.New(events.Params{Redis: a.rdb, Channel: ChannelFor(EventsChannel, a.redisOpt), Logger: logger}); err != nil {
		return nil, err
	}
	if a.updates, err = events.New(events.Params{Redis: a.rdb, Channel: ChannelFor(UpdatesChannel, a.redisOpt), Logger: logger, Buffer: 4096}); err != nil {
		return nil, err
	}
	a.queue = transcode.NewClient(a.redisOpt)
	if p.NodeID == "" {
		p.NodeID = cfg.NodeID // --node-id when given; else the host and data directory
	}
	if p.NodeID == "" {
		p.NodeID = NodeID(cfg.DataDir)
	}
	a.cont = &continuation{rdb: a.rdb, node: p.NodeID, grace: cfg.ReconnectGrace, store: a.store, async: a.goAsync,
		log: logger.With("component", "archive", "node", p.NodeID)}
	if cfg.Workers > 0 {
		h := transcode.NewHandler(transcode.HandlerParams{
			Store: a.store, Logger: logger, FFmpeg: cfg.FFmpeg, Notify: PublishUpdates(a.updates),
			MaxRungs: ap.MaxRungs, Preset: ap.Preset, Nice: true, TmpDir: cfg.ScratchDir(),
		})
		a.worker = transcode.NewWorker(transcode.WorkerParams{Redis: a.redisOpt, Handler: h, Logger: logger,
			Concurrency: cfg.Workers, PollInterval: ap.PollInterval, ShutdownTimeout: 3 * time.Second})
		if err := a.worker.Start(); err != nil {
			a.worker = nil
			return nil, fmt.Errorf("archive: worker: %w", err)
		}
	}
	rp := recorder.Params{
		Dir: cfg.RecordingsDir(), ChunkDuration: cfg.ChunkDuration, Logger: logger, ReconnectGrace: cfg.ReconnectGrace,
		Hooks: recorder.Hooks{Started: a.onStarted, Chunk: a.onChunk, Ended: a.onEnded, Failed: a.onFailed,
			Paused: a.onPaused, Resumed: a.onResumed},
	}
	if cfg.ReconnectGrace > 0 {
		rp.Continue = a.cont.resume // a broadcast continues its recording on any node (continue.go)
	}
	if a.rec, err = recorder.New(rp); err != nil {
		return nil, err
	}
	a.jobs = make(chan archiveJob, 4096)
	a.wg.Add(4)
	go a.runBeat()
	go a.runJobs()
	go a.runUpdates()
	go a.runMaintenance(ap.ReconcileInterval)
	a.wg.Add(2)
	go a.watchRedis()    // redisloss.go
	go a.runStoreRetry() // storeretry.go
	a.ins = asynq.NewInspector(a.redisOpt)
	return a, nil
}

// OpenStorage opens the configured VOD storage: S3 with --s3-bucket, else the local directory
// (returned twice, the second time as *storage.Local for its HTTP handler).
func OpenStorage(ctx context.Context, cfg config.Config) (storage.Storage, *storage.Local, error) {
	if cfg.S3Bucket != "" {
		s, err := storage.NewS3(ctx, storage.S3Params{Bucket: cfg.S3Bucket, Prefix: cfg.S3Prefix, Region: cfg.S3Region,
			Endpoint: cfg.S3Endpoint, PathStyle: cfg.S3PathStyle, PublicURL: cfg.S3PublicURL})
		return s, nil, err
	}
	l, err := storage.NewLocal(storage.LocalParams{Dir: cfg.VODDir(), BaseURL: "/vod/"})
	return l, l, err
}

// PublishUpdates returns a transcode Notify hook that publishes updates on bus (used by serve's
// in-process workers and by `relaycast worker`).
func PublishUpdates(bus *events.Bus) func(context.Context, transcode.Update) {
	return func(ctx context.Context, u transcode.Update) {
		if u.Nonce == "" {
			var b [8]byte
			_, _ = rand.Read(b[:])
			u.Nonce = hex.EncodeToString(b[:])
		}
		bus.PublishData(context.WithoutCancel(ctx), u.Kind, u.RecordingID, u)
	}
}

// OnLive is the sfu.Config.OnLive hook: every live room is recorded (unless --record=false).
func (a *Archive) OnLive(room sfu.LiveRoom) sfu.Sink {
	if !a.cfg.Record || a.rec == nil {
		return nil
	}
	a.sellerMu.Lock()
	a.sellers[room.Name()] = room.Publisher()
	a.sellerMu.Unlock()
	return a.rec.Attach(room)
}

// seller is the publisher of the room's current broadcast, as OnLive saw it.
func (a *Archive) seller(room string) string {
	a.sellerMu.Lock()
	defer a.sellerMu.Unlock()
	return a.sellers[room]
}

// ---- recorder hooks (called from the room's sink goroutine: keep them short) ----

func (a *Archive) onStarted(m recorder.Manifest) {
	a.sellerMu.Lock()
	if a.recorded == nil {
		a.recorded = map[string]bool{}
	}
	a.recorded[m.ID] = true
	a.sellerMu.Unlock()
	a.savePart(m) // the recording's timeline (show.go)
	if m.Resumed == 0 && a.cfg.ReconnectGrace > 0 {
		a.cont.begin(m, a.seller(m.Room)) // continue.go
	}

	if m.Resumed > 0 { // the publisher reconnected: the same recording goes on
		if r, err := a.cat.Update(a.ctx, m.ID, func(r *catalog.Recording) error {
			r.Status, r.EndedAt, r.Error = catalog.StatusRecording, nil, ""
			return nil
		}); err == nil {
			a.publish("recording", r.ID, r)
			return
		}
	}
	r := catalog.Recording{ID: m.ID, Room: m.Room, Title: m.Room + " — " + m.StartedAt.Format("2006-01-02 15:04"),
		Seller: a.seller(m.Room), StartedAt: m.StartedAt, Status: catalog.StatusRecording}
	if err := a.cat.Put(a.ctx, r); err != nil {
		a.log.Error("catalog", "err", err)
	}
	a.publishRecording(r.ID)
}

func (a *Archive) onChunk(c recorder.ChunkInfo) { a.submit(archiveJob{chunk: &c}) }

func (a *Archive) onEnded(m recorder.Manifest) {
	if a.cfg.ReconnectGrace > 0 {
		a.cont.ended(m) // continue.go
	}
	a.submit(archiveJob{end: &m})
	if r, err := a.cat.Update(a.ctx, m.ID, func(r *catalog.Recording) error {
		r.EndedAt = m.EndedAt
		if m.EndedAt != nil {
			r.Duration = m.EndedAt.Sub(m.StartedAt).Seconds()
		}
		if r.Status == catalog.StatusRecording {
			r.Status = catalog.StatusProcessing
		}
		return nil
	}); err == nil {
		a.publish("recording", r.ID, r)
	}
}

func (a *Archive) onFailed(m recorder.Manifest, err error) {
	a.setFailedLog(m.ID, MsgDiskFailed, err) // archive_tracks.go
}

// onPaused: the disk filled; the recording says so (status still recording) until it resumes.
func (a *Archive) onPaused(m recorder.Manifest, err error) {
	a.noteRecording(m.ID, func(r *catalog.Recording) bool {
		r.Error, r.Log = MsgDiskFull, transcode.CleanLog(err.Error())
		return true
	})
}

// onResumed: there is room again; the note goes.
func (a *Archive) onResumed(m recorder.Manifest) {
	a.noteRecording(m.ID, func(r *catalog.Recording) bool {
		if r.Error != MsgDiskFull {
			return false
		}
		r.Error, r.Log = "", ""
		return true
	})
}

// noteRecording changes a recording in the catalog off the recorder's goroutine (its hooks must
// not wait for the catalog) and publishes it.
func (a *Archive) noteRecording(id string, change func(*catalog.Recording) bool) {
	a.goAsync(func(ctx context.Context) {
		r, err := a.cat.Update(ctx, id, func(r *catalog.Recording) error {
			if !change(r) {
				return errNoChange
			}
			return nil
		})
		if err == nil {
			a.publish("recording", id, r)
		}
	})
}

func (a *Archive) submit(j archiveJob) {
	select {
	case a.jobs <- j:
	default:
		// The reconciler picks it up from disk later.
		a.log.Error("archive job queue full; left for the reconciler")
	}
}

// runJobs uploads raw chunks and enqueues their jobs, in order, retrying storage and Redis
// errors with backoff (about 30 s in all) before giving up on that job: the files stay on disk
// and the reconciler tries again.
func (a *Archive) runJobs() {
	defer a.wg.Done()
	for {
		select {
		case <-a.ctx.Done():
			return
		case j := <-a.jobs:
			var err error
			for attempt, wait := 0, 500*time.Millisecond; ; attempt, wait = attempt+1, min(wait*2, 8*time.Second) {
				if err = a.doJob(j); err == nil || attempt == a.jobAttempts-1 {
					break
				}
				a.log.Warn("archive job failed; retrying", "attempt", attempt+1, "err", err)
				select {
				case <-a.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			if err != nil {
				a.stats.uploadFailures.Add(1)
				id := ""
				if j.chunk != nil {
					id = j.chunk.RecordingID
				} else {
					id = j.end.ID
				}
				a.log.Error("archive job failed; raw files kept on disk for the reconciler", "recording", id, "err", err)
				a.giveUp(id)                            // storeretry.go
				a.setFailedLog(id, MsgStoreFailed, err) // archive_tracks.go
			}
		}
	}
}

func (a *Archive) doJob(j archiveJob) error {
	ctx, cancel := context.WithTimeout(a.ctx, 5*time.Minute)
	defer cancel()
	if c := j.chunk; c != nil {
		// The index must be this node's to use: after the recording went on on another node, a
		// chunk of the part that was taken over is not part of it (continue.go).
		if ok, err := a.cont.claim(ctx, *c); err != nil {
			return err
		} else if !ok {
			a.log.Warn("chunk dropped: the recording went on on another node from before it", "recording", c.RecordingID, "chunk", c.Index)
			return nil
		}
		p := transcode.ChunkPayload{RecordingID: c.RecordingID, Index: c.Index, Start: c.Start, Duration: c.Duration,
			Width: c.Width, Height: c.Height}
		for _, tf := range []struct {
			in  *recorder.TrackFile
			out **transcode.Track
		}{{c.Video, &p.Video}, {c.Audio, &p.Audio}} {
			if tf.in == nil {
				continue
			}
			key := transcode.RawKey(c.RecordingID, c.Index, filepath.Base(tf.in.Path))
			if err := a.uploadFile(ctx, tf.in.Path, key); err != nil {
				return err
			}
			*tf.out = &transcode.Track{Key: key, Codec: tf.in.Codec, Offset: tf.in.Offset}
		}
		if err := a.queue.EnqueueChunk(ctx, p); err != nil {
			return err
		}
		a.cont.ack(ctx, c.RecordingID, c.Index)
		return nil
	}
	m := j.end
	holes, mine, err := a.cont.mayEnd(ctx, m.ID)
	if err != nil {
		return err
	}
	if !mine && !j.orphan {
		a.log.Info("recording goes on on another node: that node ends it", "recording", m.ID)
		return nil
	}
	b, _ := json.Marshal(transcode.End{Chunks: m.Chunks, Width: m.Width, Height: m.Height, Holes: holes})
	if err := a.store.Put(ctx, transcode.EndKey(m.ID), bytes.NewReader(b), int64(len(b))); err != nil {
		return err
	}
	a.mu.Lock()
	a.prog(m.ID).total = m.Chunks
	a.mu.Unlock()
	return a.queue.EnqueueFinalize(ctx, m.ID, m.Chunks)
}

func (a *Archive) uploadFile(ctx context.Context, path, key string) error {
	if fp, ok := a.store.(storage.FilePutter); ok { // the local store links the closed chunk's file
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if err := fp.PutFile(ctx, key, path); err != nil {
			return err
		}
		a.stats.bytesUploaded.Add(st.Size())
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := a.store.Put(ctx, key, f, st.Size()); err != nil {
		return err
	}
	a.stats.bytesUploaded.Add(st.Size())
	return nil
}

func (a *Archive) prog(id string) *recProgress {
	p := a.progress[id]
	if p == nil {
		p = &recProgress{done: map[int]bool{}}
		a.progress[id] = p
	}
	return p
}

// ---- updates from workers ----

func (a *Archive) runUpdates() {
	defer a.wg.Done()
	ch, cancel := a.updates.Subscribe()
	defer cancel()
	for {
		select {
		case <-a.ctx.Done():
			return
		case e := <-ch:
			var u transcode.Update
			if err := json.Unmarshal(e.Data, &u); err != nil || u.RecordingID == "" {
				continue
			}
			a.apply(u, e.Data)
		}
	}
}

func (a *Archive) apply(u transcode.Update, raw []byte) {
	ctx := a.ctx
	switch u.Kind {
	case transcode.UpdateProgress, transcode.UpdateChunk:
		a.mu.Lock()
		p := a.prog(u.RecordingID)
		if u.Kind == transcode.UpdateChunk {
			p.done[u.Chunk] = true
		}
		overall := -1.0
		if p.total > 0 {
			frac := float64(len(p.done))
			if u.Kind == transcode.UpdateProgress && !p.done[u.Chunk] {
				frac += u.Progress / 100
			}
			overall = min(99, 100*frac/float64(p.total))
		}
		known := p.total > 0
		a.mu.Unlock()
		if u.Kind == transcode.UpdateChunk {
			// The chunks done so far are playable (EVENT playlist) while the broadcast goes on.
			_, _ = a.cat.Update(ctx, u.RecordingID, func(r *catalog.Recording) error {
				if r.Status == catalog.StatusReady || r.HLSURL != "" {
					return errNoChange
				}
				r.HLSURL = a.store.URL(transcode.LiveKey(u.RecordingID))
				return nil
			})
		}
		// Every node hears every update; one of them counts it and tells the SSE clients (once.go).
		a.announce(raw, known, func() {
			if u.Kind == transcode.UpdateChunk {
				a.stats.chunksTranscoded.Add(1)
				a.stats.lastSpeed.Store(math.Float64bits(u.Speed))
				if u.Took > 0 {
					a.stats.jobSeconds.Observe(u.Took)
				}
			}
			a.saveProgress(u.RecordingID, math.Round(overall)) // archive_tracks.go
			a.publish("progress", u.RecordingID, map[string]any{"id": u.RecordingID, "chunk": u.Chunk,
				"chunk_progress": u.Progress, "progress": overall, "kind": u.Kind})
		})
	case transcode.UpdateReady:
		// Resumed by a reconnect since, here or on another node (continue.go): not done yet.
		live := a.rec.Live()[u.RecordingID] || a.cont.live(ctx, u.RecordingID)
		// With a shared catalog (PostgreSQL) every node applies every update; a node that did
		// not record this broadcast cannot know it is live again elsewhere, so it leaves a
		// recording that the catalog says is being recorded to the node recording it.
		elsewhere := !live && !a.recordedHere(u.RecordingID)
		r, err := a.cat.Update(ctx, u.RecordingID, func(r *catalog.Recording) error {
			if r.Status == catalog.StatusReady && r.HLSURL == u.HLSURL && r.Duration == u.Duration {
				return errNoChange
			}
			if elsewhere && r.Status == catalog.StatusRecording {
				return errNoChange
			}
			if !live {
				r.Status, r.Progress = catalog.StatusReady, 100
			}
			r.Duration, r.Renditions, r.HLSURL, r.PosterURL = u.Duration, u.Renditions, u.HLSURL, u.PosterURL
			applyMedia(r, u) // archive_tracks.go
			return nil
		})
		if err != nil {
			return // another node's recording, or already applied
		}
		if live {
			a.publish("recording", r.ID, r)
			return
		}
		a.stats.ready.Add(1)
		a.mu.Lock()
		delete(a.progress, u.RecordingID)
		a.mu.Unlock()
		if _, err := os.Stat(filepath.Join(a.rec.Dir(), u.RecordingID)); err == nil {
			if err := recorder.MarkArchived(a.rec.Dir(), u.RecordingID); err != nil {
				a.log.Warn("cannot mark archived", "err", err)
			} else if a.cfg.Retention == 0 {
				_, _ = recorder.RemoveRaw(a.rec.Dir(), 0, time.Now().Add(time.Second))
			}
		}
		a.publish("recording", r.ID, r)
	case transcode.UpdateFailed:
		a.mu.Lock()
		delete(a.progress, u.RecordingID)
		a.mu.Unlock()
		r, err := a.setFailedUpdate(u) // tracks.go
		a.announce(raw, true, func() {
			a.stats.jobFailures.Add(1)
			if err != nil { // this node's write failed; another node's may not have: say what the catalog holds
				r, err = a.cat.Get(ctx, u.RecordingID)
			}
			if err == nil {
				a.publish("recording", u.RecordingID, r)
			}
		})
	}
}

// recordedHere reports whether this node recorded (a part of) recording id: it started or
// continued it since it started, or its disk holds raw files of it.
func (a *Archive) recordedHere(id string) bool {
	a.sellerMu.Lock()
	mine := a.recorded[id]
	a.sellerMu.Unlock()
	if mine {
		return true
	}
	_, err := os.Stat(filepath.Join(a.rec.Dir(), id))
	return err == nil
}

func (a *Archive) setFailed(id, msg string) {
	r, err := a.cat.Update(a.ctx, id, func(r *catalog.Recording) error {
		r.Status, r.Error = catalog.StatusFailed, msg
		return nil
	})
	if err == nil {
		a.publish("recording", id, r)
	}
}

func (a *Archive) publish(typ, id string, data any) {
	if a.events != nil {
		a.events.PublishData(a.ctx, typ, id, publicData(data))
	}
}

func (a *Archive) publishRecording(id string) {
	if r, err := a.cat.Get(a.ctx, id); err == nil {
		a.publish("recording", id, r)
	}
}

// EndStreams ends the open /api/events responses (on HTTP shutdown: they never go idle).
func (a *Archive) EndStreams() {
	if a.events != nil {
		a.events.EndStreams()
	}
}

// Close stops the pipeline: running transcode jobs get a few seconds to finish (the rest go
// back to the queue), then every goroutine is waited for.
func (a *Archive) Close() { a.closeOnce.Do(a.close) }

func (a *Archive) close() {
	if a.worker != nil {
		_ = a.worker.Close()
	}
	// Give queued uploads a moment (the room sinks were closed before).
	deadline := time.Now().Add(5 * time.Second)
	for a.jobs != nil && len(a.jobs) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	a.cancel()
	a.wg.Wait()
	if a.ins != nil {
		_ = a.ins.Close()
	}
	if a.queue != nil {
		_ = a.queue.Close()
	}
	if a.updates != nil {
		_ = a.updates.Close()
	}
	if a.events != nil {
		_ = a.events.Close()
	}
	if a.rdb != nil && a.ownRedis {
		_ = a.rdb.Close()
	}
	if a.cat != nil {
		_ = a.cat.Close()
	}
	if a.embedded != nil {
		a.embedded.Close()
	}
}
