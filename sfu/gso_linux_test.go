package sfu

import (
	"bytes"
	"encoding/binary"
	"github.com/relaycast/relaycast/sfu/internal/udpsend"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/ipv4"
)

// srtpKeys returns a fresh encrypting context and a decrypting one for the same (test) key.
func srtpKeys(t testing.TB, key byte) (*udpsend.Sealer, *srtp.Context) {
	t.Helper()
	k, salt := bytes.Repeat([]byte{key}, 16), bytes.Repeat([]byte{key ^ 0x5a}, 12)
	enc, err := udpsend.NewSealer(srtp.ProtectionProfileAeadAes128Gcm, k, salt)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(k, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	return enc, dec
}

// testPacket is an RTP packet whose payload (size bytes) says which packet it is.
func testPacket(ssrc uint32, seq uint16, size int) *rtp.Packet {
	pl := bytes.Repeat([]byte{byte(seq)}, size)
	if size >= 2 {
		binary.BigEndian.PutUint16(pl, seq)
	}
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 90, SSRC: ssrc}, Payload: pl}
}

// checkPayload reports whether p's payload is testPacket's for its sequence number and size.
func checkPayload(p *rtp.Packet, size int) bool {
	return bytes.Equal(p.Payload, testPacket(0, p.SequenceNumber, size).Payload)
}

// segments cuts a queued message into its datagrams, checking the GSO shape: every datagram
// has the size of the first but the last, which may be shorter.
func segments(t *testing.T, d *udpsend.Datagram) [][]byte {
	t.Helper()
	if d.Segs <= 1 {
		return [][]byte{d.Buf[:d.N]}
	}
	var out [][]byte
	for off := 0; off < d.N; off += d.Seg {
		out = append(out, d.Buf[off:min(off+d.Seg, d.N)])
	}
	if len(out) != d.Segs {
		t.Fatalf("message of %d bytes in segments of %d holds %d datagrams, says %d", d.N, d.Seg, len(out), d.Segs)
	}
	return out
}

// The direct writer gathers a viewer's packets of one writer-group batch into GSO runs as the
// kernel can send them: equal sizes, a shorter one ends a run, a larger one starts the next; a
// retransmission goes out on its own, after what was gathered. Every datagram decrypts, in order.
func TestDirectWriterGathersGSORuns(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const resend = -1 // an op that retransmits a 1000-byte packet
	rep := func(n, size int) []int { return slices.Repeat([]int{size}, n) }
	cases := []struct {
		name  string
		noGSO bool
		batch int   // packets announced to the writer (0: none, a lone packet)
		sizes []int // payload sizes written (12-byte RTP header each)
		want  []int // datagrams per queued message
	}{
		{"pion VP8 frame (equal, last shorter)", false, 4, []int{1188, 1188, 1188, 300}, []int{4}},
		{"chromium VP8 frame (last ones 1 byte larger)", false, 5, []int{1100, 1100, 1100, 1101, 1101}, []int{3, 2}},
		{"two frames", false, 6, []int{1188, 1188, 500, 1188, 1188, 700}, []int{3, 3}},
		{"shorter ends a run", false, 4, []int{1000, 800, 1000, 1000}, []int{2, 2}},
		{"larger starts a run", false, 3, []int{800, 1000, 1000}, []int{1, 2}},
		{"audio", false, 3, []int{120, 120, 97}, []int{3}},
		{"at most MaxGSOSegs", false, 40, rep(40, 1000), []int{32, 8}},
		{"lone packet", false, 0, []int{1000}, []int{1}},
		{"too large for a run", false, 3, []int{1400, 1400, 1400}, []int{1, 1, 1}},
		{"batch cut short (simulcast viewer skipping)", false, 4, []int{1000}, []int{1}},
		{"retransmission inside a batch", false, 4, []int{1000, 1000, resend, 1000, 1000}, []int{2, 1, 2}},
		{"retransmission before the batch's last packet", false, 3, []int{1000, 1000, resend, 1000}, []int{2, 1, 1}},
		{"GSO off", true, 3, []int{1000, 1000, 1000}, []int{1, 1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := udpsend.NewIdle(conn, udpsend.Options{GSO: !c.noGSO}) // no flushers: the test reads the queue
			if !c.noGSO && !b.GSO() {
				t.Skip("this kernel has no UDP GSO")
			}
			enc, dec := srtpKeys(t, 1)
			w := &directWriter{conn: b, dst: &atomic.Pointer[netip.AddrPort]{}, seal: enc}
			addr := netip.MustParseAddrPort("127.0.0.1:9")
			w.dst.Store(&addr)
			lt := newLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, webrtc.RTPCodecTypeVideo, "v", "s")
			lt.b.Store(&binding{ssrc: 7, pt: 96, w: w})
			if c.batch > 1 {
				lt.beginBatch(c.batch)
			}
			var order []uint16 // sequence numbers in the order they must leave
			sizes := map[uint16]int{}
			seq := uint16(100)
			for _, size := range c.sizes {
				var err error
				if size == resend {
					p := testPacket(7, 1, 1000) // "lost" earlier, NACKed
					_, err = lt.resend(p)
					order, sizes[1] = append(order, 1), 1000
				} else {
					_, err = lt.write(testPacket(7, seq, size))
					order, sizes[seq] = append(order, seq), size
					seq++
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if c.batch > 1 {
				lt.endBatch()
			}
			if w.run != nil {
				t.Fatal("a run is still held after the batch")
			}
			var got []int
			var hdr rtp.Header
			i := 0
			for d := b.Take(addr); d != nil; d = b.Take(addr) {
				got = append(got, max(d.Segs, 1))
				for _, dg := range segments(t, d) {
					plain, err := dec.DecryptRTP(nil, dg, &hdr)
					if err != nil {
						t.Fatalf("datagram %d does not decrypt: %v", i, err)
					}
					var p rtp.Packet
					if err := p.Unmarshal(plain); err != nil {
						t.Fatal(err)
					}
					if i >= len(order) || p.SequenceNumber != order[i] || p.SSRC != 7 || !checkPayload(&p, sizes[order[i]]) {
						t.Fatalf("datagram %d: seq %d ssrc %d (%d bytes), want seq %d", i, p.SequenceNumber, p.SSRC, len(p.Payload), order[min(i, len(order)-1)])
					}
					i++
				}
			}
			if i != len(order) {
				t.Fatalf("%d of %d datagrams queued", i, len(order))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("datagrams per message %v, want %v", got, c.want)
			}
		})
	}
}

// frameSizes splits a VP8 frame of n bytes into payload sizes of at most 1188 bytes: as Pion's
// payloader does (full packets, the rest last) or as Chromium's (about equal, the last ones one
// byte larger).
func frameSizes(n int, chromium bool) []int {
	const max = 1188
	k := (n + max - 1) / max
	var out []int
	if !chromium {
		for ; n > max; n -= max {
			out = append(out, max)
		}
		return append(out, n)
	}
	for i := 0; i < k; i++ {
		s := n / k
		if i >= k-n%k {
			s++
		}
		out = append(out, s)
	}
	return out
}

// Writer groups batch a video track and an audio track for three viewers, each reading a plain
// UDP socket (the kernel cuts GSO messages into datagrams on receipt), while retransmissions are
// written from another goroutine. Every packet arrives once and decrypts; each track's packets
// arrive in order (retransmissions wherever they were written). Also when GSO is off, when the
// kernel refuses GSO messages (SO_NO_CHECK: EINVAL) and when sendmmsg fails with EIO on them:
// the runs are then sent datagram by datagram and nothing is lost.
func TestGSOFanoutToPlainSockets(t *testing.T) {
	for _, mode := range []string{"gso", "no-gso", "kernel-refuses", "eio"} {
		t.Run(mode, func(t *testing.T) { testGSOFanout(t, mode) })
	}
}

func testGSOFanout(t *testing.T, mode string) {
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = send.SetWriteBuffer(4 << 20)
	bc := udpsend.NewIdle(send, udpsend.Options{GSO: mode != "no-gso"})
	if mode != "no-gso" && !bc.GSO() {
		t.Skip("this kernel has no UDP GSO")
	}
	switch mode {
	case "kernel-refuses":
		rc, _ := send.SyscallConn()
		var serr error
		_ = rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_NO_CHECK, 1) })
		if serr != nil {
			t.Fatal(serr)
		}
	case "eio":
		bc.WrapSend(func(real udpsend.SendFunc) udpsend.SendFunc {
			return func(ms []ipv4.Message) (int, error) {
				for i, m := range ms {
					if m.OOB != nil {
						if i == 0 {
							return 0, os.NewSyscallError("sendmmsg", syscall.EIO)
						}
						return real(ms[:i])
					}
				}
				return real(ms)
			}
		})
	}
	bc.Start()
	defer bc.Close()

	s := &SFU{}
	r := &room{s: s, name: "gso"}
	video := &upTrack{room: r, kind: webrtc.RTPCodecTypeVideo, codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	audio := &upTrack{room: r, kind: webrtc.RTPCodecTypeAudio, codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}}

	// The streams: VP8 frames of random sizes cut both ways; every 25th packet is held back and
	// retransmitted later (as if NACKed); Opus packets of varying sizes.
	rng := rand.New(rand.NewSource(6))
	type pkt struct {
		seq  uint16
		size int
	}
	var vpkts, held, apkts []pkt
	seq := uint16(65500) // across the wrap
	for len(vpkts)+len(held) < 220 {
		for _, size := range frameSizes(300+rng.Intn(7000), rng.Intn(2) == 0) {
			if seq%25 == 0 {
				held = append(held, pkt{seq, size})
			} else {
				vpkts = append(vpkts, pkt{seq, size})
			}
			seq++
		}
	}
	for i := 0; i < 30; i++ {
		apkts = append(apkts, pkt{uint16(1000 + i), 60 + rng.Intn(100)})
	}

	const viewers = 3
	type viewer struct {
		conn   *net.UDPConn
		dec    *srtp.Context
		vt, at *localTrack
	}
	var vs []*viewer
	var vdowns, adowns []*downTrack
	for i := 0; i < viewers; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadBuffer(4 << 20)
		addr := c.LocalAddr().(*net.UDPAddr).AddrPort()
		encV, dec := srtpKeys(t, byte(i+1))
		encA, _ := srtpKeys(t, byte(i+1))
		v := &viewer{conn: c, dec: dec}
		mk := func(u *upTrack, seal *udpsend.Sealer, ssrc uint32) *localTrack {
			w := &directWriter{conn: bc, dst: &atomic.Pointer[netip.AddrPort]{}, seal: seal}
			w.dst.Store(&addr)
			lt := newLocalTrack(u.codec, u.kind, "t", "s")
			lt.b.Store(&binding{ssrc: ssrc, pt: 96, w: w})
			return lt
		}
		v.vt, v.at = mk(video, encV, 100), mk(audio, encA, 200)
		vdowns = append(vdowns, &downTrack{up: video, local: v.vt})
		adowns = append(adowns, &downTrack{up: audio, local: v.at})
		vs = append(vs, v)
	}
	group := func(u *upTrack, ds []*downTrack, ps []pkt, ssrc uint32) *group {
		g := &group{up: u, queue: make(chan fanItem, groupQueue), done: make(chan struct{})}
		g.members.Store(&ds)
		for _, p := range ps { // queued before the writer starts: it takes them in batches
			g.queue <- fanItem{testPacket(ssrc, p.seq, p.size), monoNow()}
		}
		return g
	}
	gv, ga := group(video, vdowns, vpkts, 100), group(audio, adowns, apkts, 200)

	// Receivers.
	type got struct {
		ssrc uint32
		seq  uint16
	}
	want := len(vpkts) + len(held) + len(apkts)
	sizeOf := map[uint32]map[uint16]int{100: {}, 200: {}}
	for _, ps := range [][]pkt{vpkts, held} {
		for _, p := range ps {
			sizeOf[100][p.seq] = p.size
		}
	}
	for _, p := range apkts {
		sizeOf[200][p.seq] = p.size
	}
	results := make([][]got, viewers)
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			var hdr rtp.Header
			_ = v.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			for len(results[i]) < want {
				n, err := v.conn.Read(buf)
				if err != nil {
					t.Errorf("viewer %d: %d of %d packets: %v", i, len(results[i]), want, err)
					return
				}
				plain, err := v.dec.DecryptRTP(nil, buf[:n], &hdr)
				if err != nil {
					t.Errorf("viewer %d: datagram of %d bytes does not decrypt: %v", i, n, err)
					return
				}
				var p rtp.Packet
				if err := p.Unmarshal(plain); err != nil {
					t.Error(err)
					return
				}
				if size, ok := sizeOf[p.SSRC][p.SequenceNumber]; !ok || !checkPayload(&p, size) {
					t.Errorf("viewer %d: ssrc %d seq %d: wrong payload (%d bytes)", i, p.SSRC, p.SequenceNumber, len(p.Payload))
					return
				}
				results[i] = append(results[i], got{p.SSRC, p.SequenceNumber})
			}
		}()
	}

	s.wg.Add(2)
	go gv.run()
	go ga.run()
	// Retransmissions from another goroutine, while the groups write.
	for _, p := range held {
		for _, v := range vs {
			if _, err := v.vt.resend(testPacket(100, p.seq, p.size)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	wg.Wait()
	gv.stop()
	ga.stop()
	s.wg.Wait()

	if t.Failed() {
		return
	}
	for i, res := range results {
		byTrack := map[uint32][]uint16{}
		for _, g := range res {
			byTrack[g.ssrc] = append(byTrack[g.ssrc], g.seq)
		}
		// Each track in order, the retransmitted packets taken out (they come when written).
		isHeld := map[uint16]bool{}
		for _, p := range held {
			isHeld[p.seq] = true
		}
		var vseq, resent []uint16
		for _, q := range byTrack[100] {
			if isHeld[q] {
				resent = append(resent, q)
			} else {
				vseq = append(vseq, q)
			}
		}
		for j, p := range vpkts {
			if j >= len(vseq) || vseq[j] != p.seq {
				t.Fatalf("viewer %d: video packet %d is seq %v, want %d", i, j, vseq[min(j, len(vseq)-1)], p.seq)
			}
		}
		if len(resent) != len(held) {
			t.Fatalf("viewer %d: %d of %d retransmissions", i, len(resent), len(held))
		}
		for j, p := range apkts {
			if byTrack[200][j] != p.seq {
				t.Fatalf("viewer %d: audio packet %d is seq %d, want %d", i, j, byTrack[200][j], p.seq)
			}
		}
	}
	// The counters: datagrams are counted one by one, GSO messages once.
	for deadline := time.Now().Add(5 * time.Second); bc.Counters().Datagrams < uint64(viewers*want) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	n := bc.Counters()
	sent, msgs := n.Datagrams, n.Messages
	t.Logf("%s: %d datagrams in %d messages, %d sendmmsg calls; GSO refused %d times, on: %v", mode, sent, msgs, n.Batches, n.GSORefused, bc.GSO())
	if sent != uint64(viewers*want) || n.Dropped != 0 {
		t.Errorf("sent %d datagrams (dropped %d), want %d", sent, n.Dropped, viewers*want)
	}
	switch mode {
	case "gso":
		if msgs >= sent || n.GSORefused != 0 {
			t.Errorf("no GSO: %d datagrams in %d messages, %d refused", sent, msgs, n.GSORefused)
		}
	case "no-gso":
		if msgs != sent {
			t.Errorf("%d datagrams in %d messages without GSO", sent, msgs)
		}
	default:
		if n.GSORefused == 0 || bc.GSO() {
			t.Errorf("GSO refused %d times, still on: %v", n.GSORefused, bc.GSO())
		}
	}
}
