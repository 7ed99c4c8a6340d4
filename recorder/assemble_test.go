package recorder

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// vp8Frames packetizes n VP8 frames of size bytes each (frame i filled with byte i), 3,000 RTP
// units apart, sequence numbers from seq (so tests can cross the 16-bit wrap).
func vp8Frames(n, size int, seq uint16) [][]*rtp.Packet {
	pz := rtp.NewPacketizer(500, 96, 1, &codecs.VP8Payloader{}, rtp.NewFixedSequencer(seq), 90000)
	var out [][]*rtp.Packet
	for i := range n {
		f := bytes.Repeat([]byte{byte(i)}, size)
		pkts := pz.Packetize(f, 0)
		for _, p := range pkts {
			p.Timestamp = uint32(1000 + 3000*i)
		}
		out = append(out, pkts)
	}
	return out
}

type asmOut struct {
	data    []byte
	ts      uint32
	dropped uint16
}

func drain(a *frameAssembler, flush bool, out *[]asmOut) {
	for {
		d, ts, dropped, ok := a.pop(flush)
		if !ok {
			return
		}
		*out = append(*out, asmOut{bytes.Clone(d), ts, dropped})
	}
}

// TestFrameAssembler: frames come out whole and in order whatever the arrival order; a frame
// is handed out as soon as its marker packet is in; a packet never resent is given up after
// maxLate packets or maxDelay of media, with its frame, and the next frame says so (dropped);
// padding and duplicates change nothing; the 16-bit sequence wrap is crossed.
func TestFrameAssembler(t *testing.T) {
	const size = 1200 // 3 packets a frame
	frameOf := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	type tc struct {
		name    string
		order   func(fr [][]*rtp.Packet) []*rtp.Packet
		want    []int // frames handed out, in order
		dropped int   // index in want of the frame that reports a loss (-1: none)
		maxLate uint16
	}
	flat := func(fr [][]*rtp.Packet) (out []*rtp.Packet) {
		for _, f := range fr {
			out = append(out, f...)
		}
		return out
	}
	all := func(n int) (w []int) {
		for i := range n {
			w = append(w, i)
		}
		return w
	}
	for _, c := range []tc{
		{name: "in order", order: flat, want: all(10), dropped: -1},
		{name: "reordered within frames and across", order: func(fr [][]*rtp.Packet) []*rtp.Packet {
			p := flat(fr)
			p[1], p[2] = p[2], p[1]
			p[5], p[7] = p[7], p[5]
			p[10], p[13] = p[13], p[10]
			return p
		}, want: all(10), dropped: -1},
		{name: "padding and duplicates", order: func(fr [][]*rtp.Packet) []*rtp.Packet {
			p := flat(fr)
			// Padding takes a sequence number of its own: renumber what follows.
			pad := &rtp.Packet{Header: rtp.Header{SequenceNumber: p[5].SequenceNumber + 1, Timestamp: p[5].Timestamp}}
			out := append([]*rtp.Packet{}, p[:6]...)
			out = append(out, pad, p[4]) // a duplicate too
			for _, q := range p[6:] {
				c := q.Clone()
				c.SequenceNumber++
				out = append(out, c)
			}
			return out
		}, want: all(10), dropped: -1},
		{name: "a packet never resent: given up after maxLate", maxLate: 8, order: func(fr [][]*rtp.Packet) []*rtp.Packet {
			p := flat(fr)
			return append(p[:4:4], p[5:]...) // frame 1's middle packet
		}, want: []int{0, 2, 3, 4, 5, 6, 7, 8, 9}, dropped: 1},
		{name: "a frame's first packet never resent: given up after maxDelay", order: func(fr [][]*rtp.Packet) []*rtp.Packet {
			p := flat(fr)
			return append(p[:6:6], p[7:]...) // frame 2's first packet
		}, want: []int{0, 1, 3, 4, 5, 6, 7, 8, 9}, dropped: 2},
		{name: "across the sequence wrap", order: func([][]*rtp.Packet) []*rtp.Packet {
			return flat(vp8Frames(10, size, 65530))
		}, want: all(10), dropped: -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			maxLate := c.maxLate
			if maxLate == 0 {
				maxLate = videoMaxLate
			}
			// 10 frames span 27,000 units: a maxDelay of 9,000 (100 ms) gives a gap up before the end.
			a := newFrameAssembler(maxLate, &codecs.VP8Packet{}, 9000)
			var got []asmOut
			for _, p := range c.order(vp8Frames(10, size, 100)) {
				a.push(p)
				drain(a, false, &got)
			}
			drain(a, true, &got)
			if len(got) != len(c.want) {
				t.Fatalf("got %d frames, want %d", len(got), len(c.want))
			}
			for k, w := range c.want {
				g := got[k]
				if !bytes.Equal(g.data, frameOf(w)) || g.ts != uint32(1000+3000*w) {
					t.Errorf("frame %d: got %d bytes of %x at %d, want frame %d", k, len(g.data), g.data[:1], g.ts, w)
				}
				if wantDrop := k == c.dropped; (g.dropped > 0) != wantDrop {
					t.Errorf("frame %d: dropped %d, want a loss reported: %v", k, g.dropped, wantDrop)
				}
			}
		})
	}
}

// TestFrameAssemblerHandsOutAtMarker: a frame comes out with its marker packet, without
// waiting for the next frame (nothing whole is held in memory for a SIGKILL to lose).
func TestFrameAssemblerHandsOutAtMarker(t *testing.T) {
	a := newFrameAssembler(videoMaxLate, &codecs.VP8Packet{}, 31500)
	for i, f := range vp8Frames(3, 1200, 7) {
		for _, p := range f {
			a.push(p)
		}
		d, _, _, ok := a.pop(false)
		if !ok || d[0] != byte(i) {
			t.Fatalf("frame %d not handed out at its marker", i)
		}
	}
	// Nothing held: no slot keeps an array (what a track keeps is its free list, bounded).
	for i := range a.slots {
		if a.slots[i].ok || a.slots[i].payload != nil {
			t.Fatalf("slot %d still holds a packet", i)
		}
	}
	if len(a.free) == 0 || len(a.free) > asmFree {
		t.Fatalf("free list of %d arrays", len(a.free))
	}
}

// BenchmarkFrameAssembler: per packet, push + pop of 3-packet VP8 frames (no allocations).
func BenchmarkFrameAssembler(b *testing.B) {
	fr := vp8Frames(64, 1200, 0)
	a := newFrameAssembler(videoMaxLate, &codecs.VP8Packet{}, 31500)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		f := fr[n%len(fr)]
		for _, p := range f {
			a.push(p)
		}
		for {
			if _, _, _, ok := a.pop(false); !ok {
				break
			}
		}
		n++
		if n%len(fr) == 0 { // go round again with fresh numbers and timestamps
			for _, f := range fr {
				for _, p := range f {
					p.SequenceNumber += uint16(len(fr) * len(f))
					p.Timestamp += uint32(3000 * len(fr))
				}
			}
		}
	}
}
