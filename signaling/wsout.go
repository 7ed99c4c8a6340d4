package signaling

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/signaling/wire"
)

// A socket's output is one ordered byte queue of whole WebSocket frames, written by the server
// itself (gorilla/websocket reads; it never writes after the upgrade: pings, pongs and close
// frames go through this queue too, so no two writers ever interleave on the connection).
//
// A message sent while nothing is queued or being written is written at once by the goroutine
// that sends it, with a non-blocking write(2): the live room's dispatcher writes an event into
// every idle socket of the room itself, without waking a goroutine per socket. What the kernel
// does not take is queued, and the socket's writer goroutine writes the queue (one write, one
// deadline, for everything queued) when the socket can take it. A queue past maxPending bytes
// means the client does not read: the socket is closed as too slow.
const (
	maxPending = 1 << 20
	// closeWait is how long a close waits for a write in progress before the close frame is
	// given up (the connection is closed all the same).
	closeWait = 100 * time.Millisecond
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opText  = 1
	opClose = 8
	opPing  = 9
	opPong  = 10
)

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// appendFrame appends a final, unmasked server frame of opcode op carrying the parts.
func appendFrame(dst []byte, op byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return dst
}

var newline = []byte{'\n'}

// out is the socket's output queue.
type out struct {
	nc   net.Conn
	raw  syscall.RawConn // nil when the connection is not a plain TCP socket (TLS): then every write is the writer's
	wake chan struct{}   // capacity 1: the writer has something to write
	// timeout bounds each of the writer's writes (writeTimeout).
	timeout time.Duration

	mu      sync.Mutex
	pending []byte
	spare   []byte
	writing bool // a goroutine is writing to nc
	closed  bool
}

func newOut(nc net.Conn) *out {
	o := &out{nc: nc, wake: make(chan struct{}, 1), timeout: writeTimeout}
	// A plain TCP socket (or a wrapper that gives its SyscallConn, like the server's connection
	// limit); a TLS connection has none, and its writer writes everything.
	if sc, ok := nc.(interface {
		SyscallConn() (syscall.RawConn, error)
	}); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			o.raw = raw
		}
	}
	return o
}

func (o *out) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// errTooSlow: the queue is past maxPending (the client does not read).
var errTooSlow = errors.New("too slow")

// push queues frame, or writes it at once when nothing is queued before it. It never blocks
// on the client. Errors: errTooSlow, net.ErrClosed (the socket is closed), or the write's.
func (o *out) push(frame []byte) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return net.ErrClosed
	}
	if o.writing || len(o.pending) > 0 || o.raw == nil {
		if len(o.pending)+len(frame) > maxPending {
			o.mu.Unlock()
			return errTooSlow
		}
		o.pending = append(o.pending, frame...)
		if !o.writing {
			o.signal()
		}
		o.mu.Unlock()
		return nil
	}
	o.writing = true
	o.mu.Unlock()
	n, err := o.tryWrite(frame)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writing = false
	if err != nil {
		return err
	}
	if n < len(frame) {
		// The rest goes first: what others queued meanwhile came after it.
		rest := frame[n:]
		if len(o.pending) == 0 {
			o.pending = append(o.pending, rest...)
		} else {
			o.pending = append(append(make([]byte, 0, len(rest)+len(o.pending)), rest...), o.pending...)
		}
	}
	if len(o.pending) > 0 {
		o.signal()
	}
	return nil
}

// tryWrite writes what the kernel takes of b now, without waiting.
func (o *out) tryWrite(b []byte) (int, error) {
	var n int
	var werr error
	err := o.raw.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			m, e := syscall.Write(int(fd), b)
			if e == syscall.EINTR {
				continue
			}
			if e == syscall.EAGAIN {
				break
			}
			if e != nil {
				werr = e
				break
			}
			n += m
			b = b[m:]
		}
		return true
	})
	if err == nil {
		err = werr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil // a write deadline the writer set is past: what is left is queued for it
	}
	return n, err
}

// flush writes everything queued, waiting for the client as long as writeTimeout per write.
func (o *out) flush() error {
	for {
		o.mu.Lock()
		if o.writing || len(o.pending) == 0 || o.closed {
			o.mu.Unlock()
			return nil // a write in progress signals again when it is done
		}
		buf := o.pending
		o.pending, o.writing = o.spare[:0], true
		o.mu.Unlock()
		_ = o.nc.SetWriteDeadline(time.Now().Add(o.timeout))
		_, err := o.nc.Write(buf)
		// No deadline outside the writer's writes: the non-blocking writes must not find one past.
		_ = o.nc.SetWriteDeadline(time.Time{})
		o.mu.Lock()
		o.writing = false
		if cap(buf) <= 64<<10 {
			o.spare = buf[:0]
		} else {
			o.spare = nil
		}
		o.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// finish writes frame (the close frame) once no write is in progress — waiting at most
// closeWait for one to end, and the client at most a second — and refuses every later push.
// What was still queued is dropped.
func (o *out) finish(frame []byte) {
	deadline := time.Now().Add(closeWait)
	for {
		o.mu.Lock()
		if !o.writing || time.Now().After(deadline) {
			busy := o.writing
			o.closed, o.writing, o.pending = true, true, nil
			o.mu.Unlock()
			if !busy && frame != nil {
				_ = o.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = o.nc.Write(frame)
			}
			return
		}
		o.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

// send frames each message as a text message and pushes them together (one write when the
// socket is idle).
func (c *wsConn) send(ms ...wire.Message) error {
	bp := framePool.Get().(*[]byte)
	*bp = (*bp)[:0]
	for _, m := range ms {
		b, err := wire.Encode(m)
		if err != nil {
			framePool.Put(bp)
			return err
		}
		*bp = appendFrame(*bp, opText, b, newline)
	}
	err := c.out.push(*bp)
	if cap(*bp) <= 64<<10 {
		framePool.Put(bp)
	}
	return err
}

// control pushes a control frame (ping, pong).
func (c *wsConn) control(op byte, data []byte) error {
	if len(data) > 125 {
		data = data[:125]
	}
	return c.out.push(appendFrame(nil, op, data))
}

// closeFrame is a close frame with code and reason.
func closeFrame(code int, reason string) []byte {
	return appendFrame(nil, opClose, websocket.FormatCloseMessage(code, reason))
}
