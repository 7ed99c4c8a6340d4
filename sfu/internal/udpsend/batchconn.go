// Package udpsend is the SFU's UDP send fast path: a batching socket (sendmmsg, UDP GSO runs) that
// wraps the ICE mux's UDP socket, and an SRTP sealer that encrypts straight into its buffers. Only
// the sfu package uses it (docs/PERFORMANCE.md).
package udpsend

import (
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// Conn wraps the ICE UDP socket so that sends from all viewers are coalesced into
// sendmmsg(2) calls: one syscall carries up to batchMax messages. One flusher goroutine per CPU
// drains its own queue; a destination always maps to the same flusher, so a viewer's packets
// stay in order. When a flusher is idle a packet goes out at once (no added delay); under load
// the packets that arrive while a batch is in the kernel form the next batch. A write waits when
// its queue is full (the queue is bounded by the bytes of its buffers), as a write to a full
// blocking socket would: a burst to every viewer at once (a keyframe) is sent at the kernel's
// pace instead of being dropped. Only writer groups, resends and Pion's ICE/DTLS writes get here;
// the read loops never wait on it.
//
// With UDP GSO (gso.go) a queued message may carry a run of datagrams for one destination — all
// of one size but the last, which may be shorter — that the kernel takes through its UDP/IP stack
// as one packet and cuts into datagrams only at the end. If the kernel refuses such a message,
// GSO is switched off for good and the message, like every run still queued, is sent one
// datagram at a time.
type Conn struct {
	*net.UDPConn
	pc       *ipv4.PacketConn
	queues   []flushQueue
	free     sync.Pool                // 1,500-byte datagrams
	runs     [len(runSlots)]sync.Pool // GSO run buffers of runSlots[i] slots of 1,500 bytes
	gso      atomic.Bool              // GSO messages may be queued and sent
	log      *slog.Logger             // nil: silent
	write    SendFunc                 // sendmmsg; tests wrap it to simulate refusals
	done     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	closed   atomic.Bool
	dropped  atomic.Uint64 // datagrams
	waits    atomic.Uint64 // times a writer waited for room in a full send queue
	batches  atomic.Uint64 // sendmmsg calls
	sent     atomic.Uint64 // datagrams (GSO segments counted one by one)
	messages atomic.Uint64 // messages sent (a GSO run is one)
	gsoOff   atomic.Uint64 // GSO messages the kernel refused
	hook     atomic.Pointer[ReadHook]
	coalesce time.Duration // Options.ReadCoalesce
	rd       batchReader
}

// batchReader is ReadFromAddrPort's state with Options.ReadCoalesce: the datagrams of the last
// recvmmsg(2), handed out one by one.
type batchReader struct {
	mu    sync.Mutex
	ms    []ipv4.Message
	bufs  [][]byte
	oobs  [][]byte
	n, i  int
	busy  bool      // the last recvmmsg found more than one datagram waiting, and not a full batch
	stamp bool      // the socket timestamps what it receives (SO_TIMESTAMPNS)
	read  time.Time // when the last recvmmsg returned: the arrival time without a timestamp
	// readWall is read without its monotonic reading, to turn the kernel's wall-clock stamps
	// into times on the monotonic clock
	readWall time.Time
}

// ReadHook sees every datagram ReadFromAddrPort reads before its caller does; returning true
// takes it (the caller never sees it). It runs on the reading goroutine and must not block; p is
// valid only during the call. at is when the datagram arrived: the kernel's receive timestamp
// with Options.ReadCoalesce (SO_TIMESTAMPNS), else the time it was read.
type ReadHook func(p []byte, from netip.AddrPort, at time.Time) bool

// SetReadHook installs h (nil removes it).
func (b *Conn) SetReadHook(h ReadHook) {
	if h == nil {
		b.hook.Store(nil)
		return
	}
	b.hook.Store(&h)
}

// flushQueue is one flusher's queue. bytes (the capacity of the queued buffers) bounds its
// memory as the channel's length bounded it when every message was one 1,500-byte datagram.
type flushQueue struct {
	ch    chan *Datagram
	bytes atomic.Int64
	room  chan struct{} // a token after each batch the flusher sent: room for waiting writers
}

// Datagram is a queued message: one datagram, or a GSO run of Segs datagrams of Seg bytes
// (the last may be shorter) laid end to end in Buf[:N]. The sender fills Buf and sets N, Seg and
// Segs, then hands it to Enqueue (or back to Release).
type Datagram struct {
	Buf  []byte
	N    int
	Seg  int
	Segs int
	addr net.UDPAddr
	ip   [4]byte
}

const (
	batchMax = 64
	// QueueLen is the send queues' capacity in SlotSize-byte datagrams (all flushers together).
	QueueLen = 32768
	// SlotSize is the largest datagram queued (larger ones are written to the socket directly).
	SlotSize = 1500
	// MaxGSOSegs is the most datagrams in one GSO message: the kernel takes 64 (newer ones 128)
	// and 65,507 bytes; 32 full-size datagrams are 48,000. A writer group's batch is no longer.
	MaxGSOSegs = 32
	// gsoCmsgRoom holds a UDP_SEGMENT control message (24 bytes on 64-bit Linux).
	gsoCmsgRoom = 32
)

// runSlots are the sizes of GSO run buffers, in datagrams of up to SlotSize bytes.
var runSlots = [...]int{2, 3, 4, 6, 8, 12, 16, 24, MaxGSOSegs}

// Options configure a Conn.
type Options struct {
	GSO bool // use UDP GSO if the kernel has it
	// SchedSyscall: sendmmsg through x/net (a syscall Go's scheduler sees) instead of rawSendmmsg.
	SchedSyscall bool
	Log          *slog.Logger // nil: silent
	// ReadCoalesce > 0: ReadFromAddrPort reads with recvmmsg(2), and when a read found more
	// than one datagram waiting it lets the next ones gather for this long before it reads
	// again. Under load the process then wakes about once per ReadCoalesce per socket instead of
	// once per datagram, and what one wake-up reads, from every room, goes out together; an idle
	// or lightly used socket is read as soon as a datagram arrives. It adds at most ReadCoalesce
	// to the path of a datagram that arrives while the socket is busy.
	ReadCoalesce time.Duration
}

// SendFunc sends a batch of messages (sendmmsg) and returns how many went.
type SendFunc func([]ipv4.Message) (int, error)

// New wraps c and starts its flushers (one per CPU).
func New(c *net.UDPConn, opt Options) *Conn {
	b := NewIdle(c, opt)
	b.Start()
	return b
}

// Start starts the flushers of a Conn made by NewIdle.
func (b *Conn) Start() {
	for i := range b.queues {
		b.wg.Add(1)
		go b.flush(&b.queues[i])
	}
}

// NewIdle builds a Conn without starting its flushers: tests and benchmarks read its queues
// themselves (Take, Discard), or wrap its sendmmsg (WrapSend) and then Start it.
func NewIdle(c *net.UDPConn, opt Options) *Conn {
	b := &Conn{UDPConn: c, pc: ipv4.NewPacketConn(c), done: make(chan struct{}), log: opt.Log, coalesce: opt.ReadCoalesce}
	b.write = func(ms []ipv4.Message) (int, error) { return b.pc.WriteBatch(ms, 0) }
	if w, err := rawSendmmsg(c); err == nil && !opt.SchedSyscall {
		b.write = w // sendmmsg without a scheduler hand-off (gso_linux.go)
	}
	if opt.GSO && gsoSupported(c) {
		b.gso.Store(true)
	}
	if opt.ReadCoalesce > 0 {
		b.rd.init(c)
	}
	n := runtime.GOMAXPROCS(0)
	b.queues = make([]flushQueue, n)
	for i := range b.queues {
		b.queues[i].ch = make(chan *Datagram, QueueLen/n)
		b.queues[i].room = make(chan struct{}, 1)
	}
	return b
}

// WriteTo queues a datagram (net.PacketConn).
func (b *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return b.UDPConn.WriteTo(p, addr)
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

// init allocates the reader's buffers and turns on the socket's receive timestamps.
func (r *batchReader) init(c *net.UDPConn) {
	r.ms = make([]ipv4.Message, readBatchLen)
	r.bufs = make([][]byte, readBatchLen)
	r.oobs = make([][]byte, readBatchLen)
	for i := range r.ms {
		r.bufs[i] = make([]byte, readBufLen)
		r.ms[i].Buffers = [][]byte{r.bufs[i]}
	}
	if r.stamp = enableRxTimestamps(c); r.stamp {
		for i := range r.ms {
			r.oobs[i] = make([]byte, rxStampRoom)
			r.ms[i].OOB = r.oobs[i]
		}
	}
}

// readBatchLen is the most datagrams one recvmmsg(2) takes (Options.ReadCoalesce), and
// readBufLen the largest datagram it reads whole (longer ones are dropped).
const (
	readBatchLen = 64
	readBufLen   = 2048
)

// ReadFromAddrPort reads without allocating (ice.AddrPortReaderWriter).
func (b *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	if b.coalesce > 0 {
		return b.readBatched(p)
	}
	for {
		n, from, err := b.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, from, err
		}
		if h := b.hook.Load(); h != nil && (*h)(p[:n], from, time.Now()) {
			continue
		}
		return n, from, nil
	}
}

// readBatched is ReadFromAddrPort with Options.ReadCoalesce (one reader at a time).
func (b *Conn) readBatched(p []byte) (int, netip.AddrPort, error) {
	r := &b.rd
	r.mu.Lock()
	defer r.mu.Unlock()
	hook := b.hook.Load()
	for {
		for r.i < r.n {
			m := &r.ms[r.i]
			pkt := r.bufs[r.i][:m.N]
			r.i++
			ua, ok := m.Addr.(*net.UDPAddr)
			if !ok || m.Flags&syscall.MSG_TRUNC != 0 {
				continue
			}
			from := ua.AddrPort()
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			if hook != nil {
				at := r.read
				if r.stamp {
					if t, ok := rxTimestamp(r.oobs[r.i-1][:m.NN]); ok {
						at = r.read.Add(-r.readWall.Sub(t)) // on the monotonic clock, as time.Now()
					}
				}
				if (*hook)(pkt, from, at) {
					continue
				}
			}
			return copy(p, pkt), from, nil
		}
		if r.busy {
			time.Sleep(b.coalesce) // let the next datagrams gather
		}
		n, err := b.pc.ReadBatch(r.ms, 0)
		if err != nil {
			r.n, r.i = 0, 0
			return 0, netip.AddrPort{}, err
		}
		// A full batch leaves more waiting: the next read goes at once.
		r.n, r.i, r.busy, r.read = n, 0, n > 1 && n < len(r.ms), time.Now()
		r.readWall = r.read.Round(0)
		hook = b.hook.Load()
	}
}

// WriteToAddrPort queues a datagram without allocating (ice.AddrPortReaderWriter).
func (b *Conn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > SlotSize || !addr.Addr().Is4() {
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	d := b.NewDatagram()
	d.N = copy(d.Buf, p)
	return len(p), b.Enqueue(d, addr)
}

// NewDatagram returns an empty datagram buffer (1,500 bytes) for enqueue; the direct send path
// encrypts into it, saving a copy.
func (b *Conn) NewDatagram() *Datagram {
	d, _ := b.free.Get().(*Datagram) // the pools have no New: Drain can empty them
	if d == nil {
		d = &Datagram{Buf: make([]byte, SlotSize)}
	}
	d.N, d.Seg, d.Segs = 0, 0, 1
	return d
}

// NewRun returns an empty buffer for a GSO run of up to `want` datagrams (rounded up to a
// size of runSlots, at most MaxGSOSegs).
func (b *Conn) NewRun(want int) *Datagram {
	c := 0
	for c < len(runSlots)-1 && runSlots[c] < want {
		c++
	}
	d, _ := b.runs[c].Get().(*Datagram)
	if d == nil {
		d = &Datagram{Buf: make([]byte, runSlots[c]*SlotSize)}
	}
	d.N, d.Seg, d.Segs = 0, 0, 0
	return d
}

// Release returns a message that will not be (or has been) sent.
func (b *Conn) Release(d *Datagram) {
	if len(d.Buf) == SlotSize {
		b.free.Put(d)
		return
	}
	for c, slots := range runSlots {
		if len(d.Buf) == slots*SlotSize {
			b.runs[c].Put(d)
			return
		}
	}
}

// GSO reports whether GSO runs may be queued.
func (b *Conn) GSO() bool { return b.gso.Load() }

// Enqueue hands d (its first d.N bytes: one datagram, or a GSO run of d.Segs) to the flusher of
// addr, an IPv4 address; the Conn owns d afterwards. A full queue makes it wait for the
// flusher's next batch; once the Conn is closed the message is dropped.
func (b *Conn) Enqueue(d *Datagram, addr netip.AddrPort) error {
	d.ip = addr.Addr().As4()
	d.addr.IP = d.ip[:]
	d.addr.Port = int(addr.Port())
	if b.closed.Load() {
		b.Release(d)
		return net.ErrClosed
	}
	q := &b.queues[int(addr.Port())%len(b.queues)]
	size := int64(len(d.Buf))
	waited := false
	for q.bytes.Add(size) > int64(cap(q.ch)*SlotSize) {
		// The kernel is not keeping up with the whole fan-out (a keyframe to every viewer at
		// once): wait for the flusher's next batch, as a blocking socket would, rather than drop.
		// Only the writer groups and resends wait here; the read loops never do (a group whose
		// queue fills meanwhile drops at the front, counted in Dropped).
		q.bytes.Add(-size)
		waited = true
		b.waits.Add(1)
		select {
		case <-q.room:
		case <-b.done:
			b.dropped.Add(uint64(d.Segs))
			b.Release(d)
			return net.ErrClosed
		}
	}
	if waited { // pass the token on: other writers may be waiting for the same batch
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
	// Every queued message holds at least SlotSize bytes of the budget, so the channel has room.
	select { // a two-way select compiles to a non-blocking send (no selectgo)
	case q.ch <- d:
	default:
		q.bytes.Add(-size)
		b.dropped.Add(uint64(d.Segs))
		b.Release(d)
	}
	return nil
}

// flusher is one flusher goroutine's scratch space.
type flusher struct {
	b     *Conn
	msgs  []ipv4.Message
	owner []*Datagram // the message each of msgs comes from
	bufs  [][1][]byte
	oobs  [][gsoCmsgRoom]byte
}

func (b *Conn) flush(q *flushQueue) {
	defer b.wg.Done()
	f := &flusher{b: b, msgs: make([]ipv4.Message, 0, batchMax), owner: make([]*Datagram, 0, batchMax),
		bufs: make([][1][]byte, batchMax), oobs: make([][gsoCmsgRoom]byte, batchMax)}
	held := make([]*Datagram, 0, batchMax)
	for {
		var d *Datagram
		select {
		case d = <-q.ch:
		case <-b.done:
			return
		}
		held = append(held[:0], d)
	fill:
		for len(held) < batchMax {
			select {
			case d = <-q.ch:
				held = append(held, d)
			default:
				break fill
			}
		}
		for _, d := range held {
			f.add(d, d.Segs > 1 && b.gso.Load())
		}
		f.send()
		var size int64
		for _, d := range held {
			size += int64(len(d.Buf))
			b.Release(d)
		}
		q.bytes.Add(-size)
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
}

// add appends d to the pending sendmmsg: as one message (a GSO run when gso), or one message per
// datagram. A full batch is sent first.
func (f *flusher) add(d *Datagram, gso bool) {
	if gso {
		f.push(d, d.Buf[:d.N], d.Seg)
		return
	}
	if d.Segs <= 1 {
		f.push(d, d.Buf[:d.N], 0)
		return
	}
	for off := 0; off < d.N; off += d.Seg {
		f.push(d, d.Buf[off:min(off+d.Seg, d.N)], 0)
	}
}

// push appends one message (a GSO run of seg-byte segments when seg > 0).
func (f *flusher) push(d *Datagram, p []byte, seg int) {
	if len(f.msgs) == cap(f.msgs) {
		f.send()
	}
	i := len(f.msgs)
	f.bufs[i][0] = p
	m := ipv4.Message{Buffers: f.bufs[i][:], Addr: &d.addr}
	if seg > 0 {
		m.OOB = putGSOCmsg(f.oobs[i][:], uint16(seg))
	}
	f.msgs = append(f.msgs, m)
	f.owner = append(f.owner, d)
}

// send writes the pending messages with as few sendmmsg calls as the kernel allows. A datagram
// the kernel refuses is skipped (UDP gives no delivery guarantee anyway); a GSO run it refuses is
// sent again one datagram at a time, and a refusal that says the kernel cannot do GSO on this
// socket (gsoRefused) switches GSO off.
func (f *flusher) send() {
	b := f.b
	msgs, owner := f.msgs, f.owner
	f.msgs, f.owner = f.msgs[:0], f.owner[:0]
	for len(msgs) > 0 {
		n, err := b.write(msgs)
		b.batches.Add(1)
		if n > 0 {
			segs := 0
			for i := range n {
				if msgs[i].OOB != nil {
					segs += owner[i].Segs
				} else {
					segs++
				}
			}
			b.sent.Add(uint64(segs))
			b.messages.Add(uint64(n))
			msgs, owner = msgs[n:], owner[n:]
			continue
		}
		if msgs[0].OOB == nil {
			b.dropped.Add(1)
			msgs, owner = msgs[1:], owner[1:]
			continue
		}
		// A GSO run was refused: send it datagram by datagram, and if GSO is off now, the runs
		// behind it too, through a scratch flusher (this one's slices are in use).
		b.gsoOff.Add(1)
		if gsoRefused(err) && b.gso.Swap(false) && b.log != nil {
			b.log.Warn("UDP GSO refused by the kernel: sending one datagram per packet from now on", "err", err)
		}
		g := &flusher{b: b, msgs: make([]ipv4.Message, 0, batchMax), owner: make([]*Datagram, 0, batchMax),
			bufs: make([][1][]byte, batchMax), oobs: make([][gsoCmsgRoom]byte, batchMax)}
		g.add(owner[0], false)
		if b.gso.Load() {
			g.send()
			msgs, owner = msgs[1:], owner[1:]
			continue
		}
		for i := 1; i < len(msgs); i++ {
			if msgs[i].OOB != nil {
				g.add(owner[i], false)
			} else {
				g.push(owner[i], msgs[i].Buffers[0], 0)
			}
		}
		g.send()
		return
	}
}

// QueuedBytes is the size of the buffers waiting for a flusher (what bounds the queues).
func (b *Conn) QueuedBytes() int64 {
	var n int64
	for i := range b.queues {
		n += b.queues[i].bytes.Load()
	}
	return n
}

// Queued is the number of messages waiting for a flusher.
func (b *Conn) Queued() int {
	n := 0
	for i := range b.queues {
		n += len(b.queues[i].ch)
	}
	return n
}

// Counters are a Conn's running totals.
type Counters struct {
	Dropped    uint64 // datagrams dropped (queue full, socket closed, refused by the kernel)
	Waits      uint64 // times a writer waited for room in a full send queue
	Batches    uint64 // sendmmsg calls
	Datagrams  uint64 // datagrams sent (GSO segments counted one by one)
	Messages   uint64 // messages sent (a GSO run is one)
	GSORefused uint64 // GSO messages the kernel refused
}

// Counters returns the running totals.
func (b *Conn) Counters() Counters {
	return Counters{Dropped: b.dropped.Load(), Waits: b.waits.Load(), Batches: b.batches.Load(),
		Datagrams: b.sent.Load(), Messages: b.messages.Load(), GSORefused: b.gsoOff.Load()}
}

// WrapSend replaces the Conn's sendmmsg by wrap(current), before Start (tests simulate refusals).
func (b *Conn) WrapSend(wrap func(SendFunc) SendFunc) { b.write = wrap(b.write) }

// Take removes the oldest message queued for addr, nil when there is none. Only for a Conn
// without flushers (NewIdle, not started); the caller Releases it.
func (b *Conn) Take(addr netip.AddrPort) *Datagram {
	q := &b.queues[int(addr.Port())%len(b.queues)]
	select {
	case d := <-q.ch:
		q.bytes.Add(-int64(len(d.Buf)))
		return d
	default:
		return nil
	}
}

// Discard empties every queue without sending, as a flusher would after sending. Only for a Conn
// without flushers (benchmarks measure the writers alone).
func (b *Conn) Discard() {
	for i := range b.queues {
		q := &b.queues[i]
		for len(q.ch) > 0 {
			d := <-q.ch
			q.bytes.Add(-int64(len(d.Buf)))
			b.Release(d)
		}
	}
}

// Close stops the flusher and closes the socket.
func (b *Conn) Close() error {
	b.once.Do(func() { b.closed.Store(true); close(b.done) })
	err := b.UDPConn.Close()
	b.wg.Wait()
	return err
}
