package server

import (
	"net"
	"sync"
	"syscall"
)

// limitListener accepts at most n connections at once (a flood cannot exhaust file
// descriptors): Accept waits for a slot, which a connection gives back when it is closed. Its
// connections keep the TCP socket's SyscallConn, so the WebSocket writer can write to the socket
// without waiting (signaling/wsout.go); golang.org/x/net/netutil's wrapper hides it.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	lc := &limitConn{Conn: c, release: func() { <-l.sem }}
	if tc, ok := c.(*net.TCPConn); ok {
		return &limitTCPConn{limitConn: lc, tcp: tc}, nil
	}
	return lc, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// limitTCPConn is a limited TCP connection: it also gives its socket's SyscallConn.
type limitTCPConn struct {
	*limitConn
	tcp *net.TCPConn
}

func (c *limitTCPConn) SyscallConn() (syscall.RawConn, error) { return c.tcp.SyscallConn() }
