package transcode

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/storage"
)

// TestFinalizeSkipsHoles: a recording whose chunks came from two nodes, with chunk 2 claimed by
// the node that died and never uploaded (a hole): the final playlists hold chunks 0, 1, 3, 4 in
// order with a discontinuity where chunk 2 is missing, the duration is what is there, and the
// recording is ready; a chunk missing that is not a hole keeps it waiting; the late hole, once
// done, joins in order.
func TestFinalizeSkipsHoles(t *testing.T) {
	ctx := context.Background()
	st, err := storage.NewLocal(storage.LocalParams{Dir: t.TempDir(), BaseURL: "/vod/"})
	if err != nil {
		t.Fatal(err)
	}
	var updates []Update
	h := NewHandler(HandlerParams{Store: st, Notify: func(_ context.Context, u Update) { updates = append(updates, u) }})
	const id = "rec1"
	put := func(key string, v any) {
		b, _ := json.Marshal(v)
		if err := st.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	done := func(i int, start float64) {
		put(ChunkDoneKey(id, i), chunkDone{Index: i, Start: start, Duration: 3, Audio: true,
			Ladder:   []Rung{{Name: "360p", Height: 360, Width: 640, VideoKbps: 800}},
			Segments: map[string][]segment{"360p": {{URI: chunkName(i) + "_000.ts", Duration: 3}}}})
	}
	for i, start := range map[int]float64{0: 0, 1: 3, 3: 9, 4: 12} {
		done(i, start)
	}
	put(EndKey(id), End{Chunks: 5, Holes: []int{2}})
	if ok, err := h.TryFinalize(ctx, id); err != nil || !ok {
		t.Fatalf("finalize with a hole: %v %v", ok, err)
	}
	if len(updates) != 1 || updates[0].Kind != UpdateReady || updates[0].Duration != 12 {
		t.Fatalf("updates %+v: want ready, 12 s", updates)
	}
	pl := read(t, st, "rec/"+id+"/360p/index.m3u8")
	want := "c000000_000.ts\n#EXTINF:3.000000,\nc000001_000.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:3.000000,\nc000003_000.ts\n#EXTINF:3.000000,\nc000004_000.ts\n#EXT-X-ENDLIST\n"
	if !strings.HasSuffix(pl, want) {
		t.Errorf("playlist:\n%s\nwant it to end with:\n%s", pl, want)
	}

	// Not a hole: the recording waits for it.
	put(EndKey(id), End{Chunks: 6, Holes: []int{2}})
	if ok, err := h.TryFinalize(ctx, id); err != nil || ok {
		t.Fatalf("finalize with chunk 5 missing (not a hole): %v %v", ok, err)
	}
	// The hole comes late (the dead node restarted): it joins in order, no discontinuity.
	done(2, 6)
	done(5, 15)
	if ok, err := h.TryFinalize(ctx, id); err != nil || !ok {
		t.Fatalf("finalize: %v %v", ok, err)
	}
	if u := updates[len(updates)-1]; u.Kind != UpdateReady || u.Duration != 18 {
		t.Fatalf("last update %+v: want ready, 18 s", u)
	}
	if pl := read(t, st, "rec/"+id+"/360p/index.m3u8"); strings.Contains(pl, "DISCONTINUITY") || !strings.Contains(pl, "c000001_000.ts\n#EXTINF:3.000000,\nc000002_000.ts\n") {
		t.Errorf("playlist after the late hole:\n%s", pl)
	}

	// The live playlist goes past a hole known from holes.json before the end.
	const live = "rec2"
	for i, start := range map[int]float64{0: 0, 2: 6} {
		b, _ := json.Marshal(chunkDone{Index: i, Start: start, Duration: 3, Ladder: []Rung{{Name: "360p", Height: 360, Width: 640, VideoKbps: 800}},
			Segments: map[string][]segment{"360p": {{URI: chunkName(i) + "_000.ts", Duration: 3}}}})
		_ = st.Put(ctx, ChunkDoneKey(live, i), bytes.NewReader(b), int64(len(b)))
	}
	if n, err := h.writeLive(ctx, live); err != nil || n != 1 {
		t.Fatalf("live without holes.json: %d chunks, %v", n, err)
	}
	b, _ := json.Marshal(Holes{Holes: []int{1}})
	_ = st.Put(ctx, HolesKey(live), bytes.NewReader(b), int64(len(b)))
	if n, err := h.writeLive(ctx, live); err != nil || n != 2 {
		t.Fatalf("live with hole 1: %d chunks, %v", n, err)
	}
}

func read(t *testing.T, st *storage.Local, key string) string {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(rc)
	return b.String()
}
