//go:build ignore

// origin.go: a stand-alone LL-HLS origin for the --hls-viewers harness before the room source
// exists: a livehls.Server with room "show" (variants high and low, AAC), fed in real time at
// 30 fps with livehls/testdata (audio 100 ms behind the video, as from a transcoder), on
// 127.0.0.1:18555 with /metrics. Run from the repository root:
//
//	go run docs/reports/llhls-2026-12-07/origin.go
package main

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relaycast/relaycast/livehls"
)

func main() {
	raw, err := os.ReadFile("livehls/testdata/video.h264")
	if err != nil {
		log.Fatal(err)
	}
	var ab h264.AnnexB
	if err := ab.Unmarshal(raw); err != nil {
		log.Fatal(err)
	}
	var aus [][][]byte
	var cur [][]byte
	slice := false
	for _, n := range ab {
		typ := h264.NALUType(n[0] & 0x1f)
		is := typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR
		if slice && (!is || n[1]&0x80 != 0) {
			aus, cur, slice = append(aus, cur), nil, false
		}
		cur = append(cur, n)
		slice = slice || is
	}
	aus = append(aus, cur)
	araw, err := os.ReadFile("livehls/testdata/audio.aac")
	if err != nil {
		log.Fatal(err)
	}
	var pk mpeg4audio.ADTSPackets
	if err := pk.Unmarshal(araw); err != nil {
		log.Fatal(err)
	}
	srv := livehls.NewServer(livehls.ServerConfig{})
	st := srv.Open("show", livehls.Config{})
	asc, _ := (&mpeg4audio.AudioSpecificConfig{Type: pk[0].Type, SampleRate: pk[0].SampleRate, ChannelCount: pk[0].ChannelCount}).Marshal()
	if err := st.SetAudio(livehls.AudioParams{Config: asc}); err != nil {
		log.Fatal(err)
	}
	hi, _ := st.AddVariant(livehls.VariantParams{Name: "high", Bandwidth: 900000})
	lo, _ := st.AddVariant(livehls.VariantParams{Name: "low", Bandwidth: 300000})
	go func() {
		tk := time.NewTicker(time.Second / 30)
		start := time.Now()
		ai := 0
		fd := 1024 * time.Second / time.Duration(pk[0].SampleRate)
		for i := 0; ; i++ {
			<-tk.C
			pts := time.Since(start)
			_ = hi.WriteH264(pts, pts, aus[i%len(aus)])
			_ = lo.WriteH264(pts, pts, aus[i%len(aus)])
			for time.Duration(ai+1)*fd <= pts-100*time.Millisecond {
				_ = st.WriteAAC(time.Duration(ai)*fd, [][]byte{pk[ai%len(pk)].AU})
				ai++
			}
		}
	}()
	mux := http.NewServeMux()
	mux.Handle("/live/", srv)
	mux.Handle("/metrics", promhttp.Handler())
	log.Fatal(http.ListenAndServe("127.0.0.1:18555", mux))
}
