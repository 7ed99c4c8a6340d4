package signaling

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// After the writer had to write (the client was behind) and its write deadline has passed, a
// later message is still written at once: the writer's deadline is not left on the socket for
// the non-blocking writes to find past (they failed then, and the live room closed reading
// sockets as "too slow" 10 s into a load test).
func TestOutDeadlineNotLeftBehind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	o := newOut(server)
	if o.raw == nil {
		t.Fatal("no SyscallConn on a TCP connection")
	}
	o.timeout = 50 * time.Millisecond
	// Push until the kernel takes no more and something is queued for the writer.
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	sent := 0
	for {
		if err := o.push(chunk); err != nil {
			t.Fatal(err)
		}
		sent += len(chunk)
		o.mu.Lock()
		queued := len(o.pending) > 0
		o.mu.Unlock()
		if queued {
			break
		}
	}
	// The client reads everything while the writer writes the queue.
	read := make(chan int)
	go func() {
		n, _ := io.ReadFull(client, make([]byte, sent))
		read <- n
	}()
	if err := o.flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if n := <-read; n != sent {
		t.Fatalf("client read %d of %d", n, sent)
	}
	time.Sleep(3 * o.timeout) // past the deadline the writer's write had
	if err := o.push([]byte("late")); err != nil {
		t.Fatalf("a push after the writer's deadline: %v", err)
	}
	o.mu.Lock()
	queued := len(o.pending)
	o.mu.Unlock()
	if queued != 0 {
		t.Fatalf("%d bytes queued: the late message was not written at once", queued)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4)
	if _, err := io.ReadFull(client, b); err != nil || string(b) != "late" {
		t.Fatalf("client got %q, %v", b, err)
	}
}
