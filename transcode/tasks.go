// Package transcode turns recorded chunks into an HLS ladder in storage. It holds the asynq task
// types, payloads and constructors (one place), the worker handler (ffmpeg → HLS → storage), and
// the playlist stitching that makes a recording playable while it is still being processed.
//
// Storage layout of a recording ID (keys relative to the store):
//
//	raw/ID/c000003/video.ivf, audio.ogg   raw chunk, uploaded by the server (deleted when ready);
//	                                      video.ivf holds VP8, VP9, AV1 or H.264 (Track.Codec)
//	raw/ID/source                         an uploaded or imported file (deleted when ready)
//	rec/ID/end.json                       written by the server when the broadcast ended
//	rec/ID/holes.json                     chunk indices that may never come (a node died mid-show)
//	rec/ID/chunks/000003.json             a chunk's HLS segments, written last (= chunk done)
//	rec/ID/720p/c000003_000.ts            MPEG-TS segments (H.264 + AAC, 2 s GOP)
//	rec/ID/720p/live.m3u8, live.m3u8      EVENT playlists of the chunks done so far
//	rec/ID/720p/index.m3u8, master.m3u8   final VOD playlists (written once every chunk is done)
//	rec/ID/poster.jpg
package transcode

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task type names.
const (
	TypeChunk    = "relaycast:chunk"    // transcode one chunk
	TypeFinalize = "relaycast:finalize" // stitch the final playlists once every chunk is done
	TypeFile     = "relaycast:file"     // transcode a whole uploaded or imported file
)

// Queue names: finalize jobs jump ahead of chunk jobs.
const (
	QueueChunks   = "chunks"
	QueueFinalize = "finalize"
)

// Track is one raw media file of a chunk.
type Track struct {
	Key    string  `json:"key"`    // storage key of the raw file
	Codec  string  `json:"codec"`  // MIME type: video/VP8, video/VP9, video/AV1, video/H264, audio/opus
	Offset float64 `json:"offset"` // seconds from the chunk start to the track's first sample
}

// ChunkPayload is the payload of TypeChunk.
type ChunkPayload struct {
	RecordingID string  `json:"recording_id"`
	Index       int     `json:"index"`
	Start       float64 `json:"start"`    // chunk start on the recording timeline, seconds
	Duration    float64 `json:"duration"` // seconds; 0 = unknown (chunk cut short by a crash)
	Video       *Track  `json:"video,omitempty"`
	Audio       *Track  `json:"audio,omitempty"`
	Width       int     `json:"width"` // recording's source size (first keyframe)
	Height      int     `json:"height"`
}

// FinalizePayload is the payload of TypeFinalize.
type FinalizePayload struct {
	RecordingID string `json:"recording_id"`
	Chunks      int    `json:"chunks"` // part of the task id: a resumed recording is finalized again
}

// FilePayload is the payload of TypeFile: a whole source file (any container ffmpeg reads)
// becomes the recording's only chunk, so it gets the same ladder, layout and playlists.
type FilePayload struct {
	RecordingID string `json:"recording_id"`
	Key         string `json:"key"` // storage key of the source, SourceKey
}

// End is rec/ID/end.json: the broadcast is over and had Chunks chunks.
type End struct {
	Chunks int `json:"chunks"`
	Width  int `json:"width"`
	Height int `json:"height"`
	// Holes are chunk indices that may never come: chunks a node that died (or lost the
	// recording to another node) had claimed but maybe not uploaded. The final playlists skip
	// a hole whose chunk is not done (a discontinuity there) and take it in order if it is.
	Holes []int `json:"holes,omitempty"`
}

// Holes is rec/ID/holes.json, written when a recording goes on on another node: the chunk
// indices that may never come (End.Holes), known before the end so that the EVENT playlist
// of the chunks done so far goes past them too.
type Holes struct {
	Holes []int `json:"holes"`
}

// Task options shared by all tasks: retention keeps a finished task's ID reserved for a day,
// so the same chunk enqueued again (other server, reconciler) is refused as a duplicate.
const (
	taskRetention = 24 * time.Hour
	maxRetry      = 8
)

// ChunkTaskID identifies a chunk's task across servers.
func ChunkTaskID(recordingID string, index int) string {
	return fmt.Sprintf("chunk:%s:%06d", recordingID, index)
}

// NewChunkTask builds the task for one chunk.
func NewChunkTask(p ChunkPayload) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeChunk, b, asynq.TaskID(ChunkTaskID(p.RecordingID, p.Index)), asynq.Queue(QueueChunks),
		asynq.MaxRetry(maxRetry), asynq.Timeout(30*time.Minute), asynq.Retention(taskRetention)), nil
}

// NewFinalizeTask builds the task that stitches a recording once it ended.
func NewFinalizeTask(p FinalizePayload) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeFinalize, b, asynq.TaskID(fmt.Sprintf("finalize:%s:%d", p.RecordingID, p.Chunks)), asynq.Queue(QueueFinalize),
		asynq.MaxRetry(maxRetry), asynq.Timeout(5*time.Minute), asynq.Retention(taskRetention)), nil
}

// FileTaskID identifies a file's task across servers.
func FileTaskID(recordingID string) string { return "file:" + recordingID }

// NewFileTask builds the task that transcodes an uploaded or imported file.
func NewFileTask(p FilePayload) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeFile, b, asynq.TaskID(FileTaskID(p.RecordingID)), asynq.Queue(QueueChunks),
		asynq.MaxRetry(maxRetry), asynq.Timeout(6*time.Hour), asynq.Retention(taskRetention)), nil
}

// SourceKey is the storage key of an uploaded or imported file. It has no extension (ffmpeg
// probes the content), so the key follows from the recording id alone (recovery after a lost
// queue needs nothing else).
func SourceKey(recordingID string) string { return "raw/" + recordingID + "/source" }

func chunkName(i int) string { return fmt.Sprintf("c%06d", i) }

// RawKey is the storage key of a raw chunk file.
func RawKey(recordingID string, index int, file string) string {
	return "raw/" + recordingID + "/" + chunkName(index) + "/" + file
}

// EndKey is the storage key of a recording's end marker.
func EndKey(recordingID string) string { return "rec/" + recordingID + "/end.json" }

// HolesKey is the storage key of a recording's holes (Holes).
func HolesKey(recordingID string) string { return "rec/" + recordingID + "/holes.json" }

// MasterKey is the final master playlist; LiveKey the one usable while processing.
func MasterKey(recordingID string) string { return "rec/" + recordingID + "/master.m3u8" }

// LiveKey is the master playlist of the chunks done so far (an EVENT playlist).
func LiveKey(recordingID string) string { return "rec/" + recordingID + "/live.m3u8" }

// PosterKey is the poster image.
func PosterKey(recordingID string) string { return "rec/" + recordingID + "/poster.jpg" }

// ChunkDoneKey is the marker written last when a chunk is in storage.
func ChunkDoneKey(recordingID string, index int) string {
	return fmt.Sprintf("rec/%s/chunks/%06d.json", recordingID, index)
}
