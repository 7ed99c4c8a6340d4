package transcode

import (
	"context"
	"fmt"
	"math"
	"strings"
)

// loadChunks reads the done markers of chunks 0.. up to n (n < 0: as many as are contiguous).
func (h *Handler) loadChunks(ctx context.Context, id string, n int) ([]chunkDone, bool, error) {
	var out []chunkDone
	for i := 0; n < 0 || i < n; i++ {
		var c chunkDone
		ok, err := h.getJSON(ctx, ChunkDoneKey(id, i), &c)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return out, n < 0, nil
		}
		out = append(out, c)
	}
	return out, true, nil
}

// mediaPlaylist stitches the segments of chunks for one rung. Timestamps are continuous across
// chunks (each chunk is encoded with -output_ts_offset = its start), so no discontinuity tags.
func mediaPlaylist(chunks []chunkDone, rung string, final bool) string {
	target := 1.0
	for _, c := range chunks {
		for _, s := range c.Segments[rung] {
			target = math.Max(target, s.Duration)
		}
	}
	var b strings.Builder
	typ := "EVENT"
	if final {
		typ = "VOD"
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:%s\n#EXT-X-INDEPENDENT-SEGMENTS\n", int(math.Ceil(target)), typ)
	for _, c := range chunks {
		for _, s := range c.Segments[rung] {
			fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.Duration, s.URI)
		}
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

func masterPlaylist(ladder []Rung, audio bool, media string) string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, r := range ladder {
		if r.Height == 0 { // audio only
			fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"mp4a.40.2\"\n%s/%s\n", AudioKbps*1100, r.Name, media)
			continue
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,RESOLUTION=%dx%d,CODECS=\"%s\"\n%s/%s\n",
			r.Bandwidth(audio), r.VideoKbps*1000+AudioKbps*1000, r.Width, r.Height, r.Codecs(audio), r.Name, media)
	}
	return b.String()
}

func (h *Handler) writePlaylists(ctx context.Context, id string, chunks []chunkDone, final bool) error {
	media, master := "live.m3u8", LiveKey(id)
	if final {
		media, master = "index.m3u8", MasterKey(id)
	}
	ladder := chunks[0].Ladder
	for _, r := range ladder {
		if err := h.put(ctx, "rec/"+id+"/"+r.Name+"/"+media, []byte(mediaPlaylist(chunks, r.Name, final))); err != nil {
			return err
		}
	}
	return h.put(ctx, master, []byte(masterPlaylist(ladder, chunks[0].Audio, media)))
}

// writeLive publishes the EVENT playlists of the contiguous chunks done so far.
func (h *Handler) writeLive(ctx context.Context, id string) (int, error) {
	chunks, _, err := h.loadChunks(ctx, id, -1)
	if err != nil || len(chunks) == 0 {
		return 0, err
	}
	return len(chunks), h.writePlaylists(ctx, id, chunks, false)
}

// TryFinalize writes the final playlists when the recording ended and every chunk is done, and
// reports whether it did. Both the last chunk's task and the finalize task call it, so whichever
// runs last finishes the recording; running it twice writes the same files.
func (h *Handler) TryFinalize(ctx context.Context, id string) (bool, error) {
	var end End
	ok, err := h.getJSON(ctx, EndKey(id), &end)
	if err != nil || !ok {
		return false, err
	}
	chunks, all, err := h.loadChunks(ctx, id, end.Chunks)
	if err != nil || !all {
		return false, err
	}
	if len(chunks) == 0 {
		h.p.Notify(ctx, Update{RecordingID: id, Kind: UpdateFailed, Error: "recording has no media"})
		return true, nil
	}
	if err := h.writePlaylists(ctx, id, chunks, true); err != nil {
		return false, err
	}
	var dur float64
	for _, c := range chunks {
		dur += c.Duration
	}
	var names []string
	for _, r := range chunks[0].Ladder {
		names = append(names, r.Name)
	}
	if !h.p.KeepRaw {
		if err := h.p.Store.DeletePrefix(ctx, "raw/"+id+"/"); err != nil {
			h.log.Warn("cannot delete raw chunks", "recording", id, "err", err)
		}
	}
	poster := ""
	if ok, _ := h.exists(ctx, PosterKey(id)); ok {
		poster = h.p.Store.URL(PosterKey(id))
	}
	h.log.Info("recording ready", "recording", id, "duration", math.Round(dur*100)/100, "chunks", len(chunks))
	h.p.Notify(ctx, Update{RecordingID: id, Kind: UpdateReady, Chunk: len(chunks), Progress: 100, Duration: dur,
		Renditions: names, HLSURL: h.p.Store.URL(MasterKey(id)), PosterURL: poster})
	return true, nil
}
