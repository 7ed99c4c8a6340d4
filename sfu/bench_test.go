package sfu

import (
	"context"
	"github.com/relaycast/relaycast/sfu/internal/udpsend"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/relaycast/relaycast/client"
)

// benchSocket is a batching socket whose datagrams go to a loopback receiver drained by a
// goroutine (so the kernel accepts them), as in the server.
func benchSocket(b *testing.B, gso bool) (*udpsend.Conn, netip.AddrPort) {
	b.Helper()
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	_ = send.SetWriteBuffer(8 << 20)
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	_ = recv.SetReadBuffer(8 << 20)
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := recv.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	bc := udpsend.New(send, udpsend.Options{GSO: gso})
	b.Cleanup(func() { _ = bc.Close(); _ = recv.Close() })
	return bc, recv.LocalAddr().(*net.UDPAddr).AddrPort()
}

// plainWriter is the last step of a viewer's send path without encryption: marshal the packet
// into the batching socket's queue.
type plainWriter struct {
	bc   *udpsend.Conn
	addr netip.AddrPort
	buf  []byte
}

func (w *plainWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(w.buf)
	if err != nil {
		return 0, err
	}
	n += copy(w.buf[n:], payload)
	return w.bc.WriteToAddrPort(w.buf[:n], w.addr)
}

func (w *plainWriter) Write(b []byte) (int, error) { return w.bc.WriteToAddrPort(b, w.addr) }

// benchPacket is packet seq of a stream of 6-packet frames: five of 1,100 bytes, the last shorter
// (as Pion's VP8 payloader cuts a 6 KB frame: 1.5 Mbps at 30 frames a second).
func benchPacket(seq uint16) *rtp.Packet {
	size, last := 1100, seq%6 == 5
	if last {
		size = 600
	}
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq/6) * 3000, SSRC: 1234, Marker: last},
		Payload: make([]byte, size),
	}
}

// benchTrack builds an upTrack (no Pion receiver) with viewers whose writers are made by mk.
func benchTrack(b *testing.B, viewers int, mk func(i int) webrtc.TrackLocalWriter) *upTrack {
	b.Helper()
	s := &SFU{}
	r := &room{s: s, name: "bench"}
	u := &upTrack{room: r, kind: webrtc.RTPCodecTypeVideo, codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	u.subs.Store(&[]*downTrack{})
	for i := 0; i < viewers; i++ {
		lt := newLocalTrack(u.codec, u.kind, "video", "bench")
		lt.b.Store(&binding{ssrc: uint32(1000 + i), pt: 96, w: mk(i)})
		u.addViewer(&downTrack{up: u, local: lt})
	}
	b.Cleanup(func() { u.stopAllGroups(); s.wg.Wait() })
	return u
}

// BenchmarkFanout: one op is one publisher packet going through the read loop's work (prepare,
// cache, hand-off to the writer groups), every group writer's per-viewer write and the batching
// socket's queue, for `viewers` viewers, with UDP GSO (gso) or one message per datagram (nogso).
// The ring of packets is allocated up front, like the packets Pion hands the read loop, so
// allocs/op counts only the fan-out path. The producer hands the groups a frame (6 packets) at a
// time, as a publisher sends it, and waits while a group queue holds more than a frame or the
// socket's queue is a quarter full (the real read loop never waits; it drops instead), so ns/op
// includes sending every datagram on loopback, where the kernel also delivers it to the receiving
// socket (and cuts GSO messages into datagrams there).
func BenchmarkFanout(b *testing.B) {
	for _, viewers := range []int{1, 32, 256} {
		for _, mode := range []string{"gso", "nogso"} {
			b.Run(strconv.Itoa(viewers)+"viewers/"+mode, func(b *testing.B) {
				bc, addr := benchSocket(b, mode == "gso")
				if mode == "gso" && !bc.GSO() {
					b.Skip("no UDP GSO on this kernel")
				}
				u := benchTrack(b, viewers, func(int) webrtc.TrackLocalWriter { return directBenchWriter(b, bc, addr) })
				ring := make([]*rtp.Packet, 2048)
				for i := range ring {
					ring[i] = benchPacket(uint16(i))
				}
				st := &u.room.s.stats
				for i := 0; i < 8; i++ { // warm the datagram pools
					runFanout(b, bc, u, ring, 0)
				}
				b.ReportAllocs()
				b.ResetTimer()
				start := st.packetsOut.Load() + st.dropped.Load()
				c0 := bc.Counters()
				runFanout(b, bc, u, ring, b.N)
				b.StopTimer()
				c1 := bc.Counters()
				// Datagrams the socket's queue dropped because the kernel (loopback) could not keep up.
				b.ReportMetric(float64(c1.Dropped-c0.Dropped)/float64(b.N*viewers), "queue-drops/viewer-packet")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*viewers), "ns/viewer-packet")
				if m := c1.Messages - c0.Messages; m > 0 {
					b.ReportMetric(float64(c1.Datagrams-c0.Datagrams)/float64(m), "datagrams/message")
				}
				if got := st.packetsOut.Load() + st.dropped.Load() - start; got != uint64(b.N*viewers) {
					b.Fatalf("%d of %d viewer-packets accounted for", got, b.N*viewers)
				}
			})
		}
	}
}

// runFanout feeds n packets (warm-up when n == 0: one lap of the ring) and waits until every
// group has written them.
func runFanout(b *testing.B, bc *udpsend.Conn, u *upTrack, ring []*rtp.Packet, n int) {
	if n == 0 {
		n = len(ring)
	}
	st := &u.room.s.stats
	want := st.packetsOut.Load() + st.dropped.Load()
	viewers := 0
	for _, g := range u.fan.load() {
		viewers += len(*g.members.Load())
	}
	for i := 0; i < n; i++ {
		p := ring[i&(len(ring)-1)]
		if i%6 == 0 { // a frame starts: its packets follow without waiting
			for _, g := range u.fan.load() {
				for len(g.queue) > 6 {
					runtime.Gosched()
				}
			}
			// Nor let the socket's queue overflow: the datagrams are really sent.
			for bc.QueuedBytes() > udpsend.QueueLen*udpsend.SlotSize/4 {
				runtime.Gosched()
			}
		}
		if u.prepare(p) {
			u.cache.put(p)
			u.fanOut(p, monoNow())
		}
	}
	want += uint64(n * viewers)
	for deadline := time.Now().Add(time.Minute); st.packetsOut.Load()+st.dropped.Load() < want; {
		if time.Now().After(deadline) {
			b.Fatalf("writers stuck: %d of %d", st.packetsOut.Load()+st.dropped.Load(), want)
		}
		runtime.Gosched()
	}
}

// directBenchWriter is the direct send path's writer (SRTP AEAD-AES-128-GCM) to addr.
func directBenchWriter(b *testing.B, bc *udpsend.Conn, addr netip.AddrPort) *directWriter {
	seal, err := udpsend.NewSealer(srtp.ProtectionProfileAeadAes128Gcm, make([]byte, 16), make([]byte, 12))
	if err != nil {
		b.Fatal(err)
	}
	w := &directWriter{conn: bc, dst: &atomic.Pointer[netip.AddrPort]{}, seal: seal}
	w.dst.Store(&addr)
	return w
}

// BenchmarkViewerWrite is the per-viewer step alone: header rewrite, marshal, SRTP encryption
// (plain: none) and the batch queue.
func BenchmarkViewerWrite(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		bc, addr := benchSocket(b, false)
		benchViewerWrite(b, bc, directBenchWriter(b, bc, addr))
	})
	b.Run("plain", func(b *testing.B) {
		bc, addr := benchSocket(b, false)
		benchViewerWrite(b, bc, &plainWriter{bc: bc, addr: addr, buf: make([]byte, 1500)})
	})
}

func benchViewerWrite(b *testing.B, bc *udpsend.Conn, w webrtc.TrackLocalWriter) {
	lt := newLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, webrtc.RTPCodecTypeVideo, "v", "s")
	lt.b.Store(&binding{ssrc: 1, pt: 96, w: w})
	p := benchPacket(1)
	for i := 0; i < 1024; i++ { // warm the datagram pool
		_, _ = lt.write(p)
	}
	for bc.Queued() > 0 {
		runtime.Gosched()
	}
	b.ReportAllocs()
	b.SetBytes(int64(p.MarshalSize()))
	for i := 0; i < b.N; i++ {
		p.SequenceNumber = uint16(i)
		if _, err := lt.write(p); err != nil {
			b.Fatal(err)
		}
		if i%64 == 0 {
			// Let the flushers keep up so the benchmark measures queueing, not dropping.
			for bc.Queued() > 256 {
				runtime.Gosched()
			}
		}
	}
}

// BenchmarkSendPath compares the two per-viewer send paths on a real viewer connection (a Pion
// peer in-process): "pion" writes through Pion's interceptors, SRTP session, endpoint mux, ICE
// connection and candidate pair; "direct" encrypts and queues itself (direct.go). One op is one
// packet written for one viewer, up to the batching socket's queue (whose flushers and the
// kernel cost the same for both and are excluded: the timer stops while they drain).
func BenchmarkSendPath(b *testing.B) {
	for _, mode := range []string{"pion", "direct"} {
		b.Run(mode, func(b *testing.B) {
			s, r := liveRoomWith(b, "bench", Config{PionSend: mode == "pion"})
			v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = v.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
				_, a, err := s.Subscribe(ctx, SubscribeParams{Room: "bench", Offer: offer})
				return a, err
			}); err != nil {
				b.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); v.Stats().VideoPackets < 10; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("no video")
				}
			}
			var d *downTrack
			r.mu.Lock()
			for sub := range r.subs {
				for _, x := range sub.downs {
					// The benchmark is now the only writer of the viewer's tracks (and the only
					// caller of localTrack.write: valgrind --toggle-collect can count just that).
					x.up.removeViewer(x)
					if x.up.kind == webrtc.RTPCodecTypeVideo {
						d = x
					}
				}
			}
			r.mu.Unlock()
			if direct := s.Stats().DirectSend == 1; direct != (mode == "direct") {
				b.Fatalf("mode %s but direct = %v", mode, direct)
			}
			bc := s.batch()
			p := benchPacket(1)
			b.ReportAllocs()
			b.ResetTimer()
			// Only the writes are timed (in bursts of 256), not the waits for the flushers.
			var inWrites time.Duration
			for i := 0; i < b.N; {
				start := time.Now()
				for end := min(i+256, b.N); i < end; i++ {
					p.SequenceNumber = uint16(i)
					if _, err := d.local.write(p); err != nil {
						b.Fatal(err)
					}
				}
				inWrites += time.Since(start)
				for bc.Queued() > 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
			b.ReportMetric(float64(inWrites.Nanoseconds())/float64(b.N), "ns/write")
		})
	}
}

// BenchmarkGroupBatch is a writer group's work for one batch, called synchronously: a 6-packet
// frame written to each of 32 viewers on the direct path (SRTP AEAD-AES-128-GCM) with UDP GSO,
// up to the batching socket's queue. The socket has no flushers: the benchmark empties the
// queues itself with the timer stopped, so no goroutine is woken inside the batch and the count
// is deterministic (the flushers and the kernel are measured by the loadtest profile). One op is
// one viewer-packet. Under callgrind, with --toggle-collect on (*group).writeBatch, the
// instructions per op are the writer groups' user-space work per datagram (docs/PERFORMANCE.md,
// "User-space send cost").
func BenchmarkGroupBatch(b *testing.B) {
	const viewers, frame = 32, 6
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	bc := udpsend.NewIdle(conn, udpsend.Options{GSO: true}) // no flushers
	if !bc.GSO() {
		b.Skip("no UDP GSO on this kernel")
	}
	drain := bc.Discard
	addr := netip.MustParseAddrPort("127.0.0.1:9")
	u := benchTrack(b, viewers, func(int) webrtc.TrackLocalWriter { return directBenchWriter(b, bc, addr) })
	g := u.fan.load()[0]
	st := &u.room.s.stats
	frames := make([][]fanItem, 64)
	seq := uint16(0)
	for i := range frames {
		for range frame {
			frames[i] = append(frames[i], fanItem{pkt: benchPacket(seq), at: monoNow()})
			seq++
		}
	}
	var n uint
	for i := range frames { // warm the pools
		g.writeBatch(frames[i], st, &n)
		drain()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += viewers * frame {
		g.writeBatch(frames[(done/(viewers*frame))%len(frames)], st, &n)
		b.StopTimer()
		drain()
		b.StartTimer()
	}
	b.StopTimer()
	if d := bc.Counters().Dropped; d > 0 {
		b.Fatalf("%d datagrams dropped", d)
	}
}
