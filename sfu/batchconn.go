package sfu

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// batchConn wraps the ICE UDP socket so that sends from all viewers are coalesced into
// sendmmsg(2) calls: one syscall carries up to batchMax datagrams. One flusher goroutine per CPU
// drains its own queue; a destination always maps to the same flusher, so a viewer's packets
// stay in order. When a flusher is idle a packet goes out at once (no added delay); under load
// the packets that arrive while a batch is in the kernel form the next batch. Writes never
// block: when a queue is full the datagram is dropped and counted, as a full socket buffer would.
type batchConn struct {
	*net.UDPConn
	pc      *ipv4.PacketConn
	queues  []chan *outDatagram
	free    sync.Pool
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	closed  atomic.Bool
	dropped atomic.Uint64
	batches atomic.Uint64
	sent    atomic.Uint64
}

type outDatagram struct {
	buf  []byte
	n    int
	addr net.UDPAddr
	ip   [4]byte
}

const (
	batchMax   = 64
	batchQueue = 32768
)

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c), done: make(chan struct{})}
	b.free.New = func() any { return &outDatagram{buf: make([]byte, 1500)} }
	n := runtime.GOMAXPROCS(0)
	b.queues = make([]chan *outDatagram, n)
	for i := range b.queues {
		b.queues[i] = make(chan *outDatagram, batchQueue/n)
		b.wg.Add(1)
		go b.flush(b.queues[i])
	}
	return b
}

// WriteTo queues a datagram (net.PacketConn).
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return b.UDPConn.WriteTo(p, addr)
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

// ReadFromAddrPort reads without allocating (ice.AddrPortReaderWriter).
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

// WriteToAddrPort queues a datagram without allocating (ice.AddrPortReaderWriter).
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > 1500 || !addr.Addr().Is4() {
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	d := b.datagram()
	d.n = copy(d.buf, p)
	return len(p), b.enqueue(d, addr)
}

// datagram returns an empty datagram buffer (1,500 bytes) for enqueue; the direct send path
// encrypts into it, saving a copy.
func (b *batchConn) datagram() *outDatagram { return b.free.Get().(*outDatagram) }

// release returns a datagram that will not be enqueued.
func (b *batchConn) release(d *outDatagram) { b.free.Put(d) }

// enqueue hands d (its first d.n bytes) to the flusher of addr, an IPv4 address; the batchConn
// owns d afterwards. A full queue drops the datagram (counted).
func (b *batchConn) enqueue(d *outDatagram, addr netip.AddrPort) error {
	d.ip = addr.Addr().As4()
	d.addr.IP = d.ip[:]
	d.addr.Port = int(addr.Port())
	if b.closed.Load() {
		b.free.Put(d)
		return net.ErrClosed
	}
	select { // a two-way select compiles to a non-blocking send (no selectgo)
	case b.queues[int(addr.Port())%len(b.queues)] <- d:
	default:
		b.free.Put(d)
		b.dropped.Add(1)
	}
	return nil
}

func (b *batchConn) flush(queue chan *outDatagram) {
	defer b.wg.Done()
	msgs := make([]ipv4.Message, batchMax)
	held := make([]*outDatagram, 0, batchMax)
	bufs := make([][1][]byte, batchMax)
	for {
		var d *outDatagram
		select {
		case d = <-queue:
		case <-b.done:
			return
		}
		held = append(held[:0], d)
	fill:
		for len(held) < batchMax {
			select {
			case d = <-queue:
				held = append(held, d)
			default:
				break fill
			}
		}
		for i, d := range held {
			bufs[i][0] = d.buf[:d.n]
			msgs[i] = ipv4.Message{Buffers: bufs[i][:], Addr: &d.addr}
		}
		b.send(msgs[:len(held)])
		for _, d := range held {
			b.free.Put(d)
		}
	}
}

// send writes msgs with as few sendmmsg calls as the kernel allows; a datagram the kernel refuses
// is skipped (UDP gives no delivery guarantee anyway).
func (b *batchConn) send(msgs []ipv4.Message) {
	for len(msgs) > 0 {
		n, err := b.pc.WriteBatch(msgs, 0)
		b.batches.Add(1)
		if n > 0 {
			b.sent.Add(uint64(n))
			msgs = msgs[n:]
			continue
		}
		if err != nil {
			msgs = msgs[1:]
			b.dropped.Add(1)
		}
	}
}

// queued is the number of datagrams waiting for a flusher.
func (b *batchConn) queued() int {
	n := 0
	for _, q := range b.queues {
		n += len(q)
	}
	return n
}

// Close stops the flusher and closes the socket.
func (b *batchConn) Close() error {
	b.once.Do(func() { b.closed.Store(true); close(b.done) })
	err := b.UDPConn.Close()
	b.wg.Wait()
	return err
}
