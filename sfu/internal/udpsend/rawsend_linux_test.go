package udpsend

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// TestRawSendmmsg: the Conn's sendmmsg without a scheduler hand-off delivers what x/net's
// WriteBatch delivers — single datagrams and a GSO run cut by the kernel on receipt — to the
// right addresses and ports, byte for byte; thousands of datagrams back to back through a small
// send buffer all go (on loopback the kernel frees the send buffer on delivery, so EAGAIN, which
// waits on the poller through RawConn.Write as x/net does, cannot be provoked here); a message
// that is not one IPv4 buffer is refused.
func TestRawSendmmsg(t *testing.T) {
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	write, err := rawSendmmsg(send)
	if err != nil {
		t.Fatal(err)
	}
	recv := make([]*net.UDPConn, 2)
	for i := range recv {
		if recv[i], err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		defer recv[i].Close()
		_ = recv[i].SetReadBuffer(4 << 20)
	}
	addr := func(i int) *net.UDPAddr { return recv[i].LocalAddr().(*net.UDPAddr) }
	payload := func(tag byte, n int) []byte { return bytes.Repeat([]byte{tag}, n) }
	var oob [gsoCmsgRoom]byte
	run := append(append(payload('a', 1000), payload('b', 1000)...), payload('c', 300)...)
	msgs := []ipv4.Message{
		{Buffers: [][]byte{payload('x', 100)}, Addr: addr(0)},
		{Buffers: [][]byte{payload('y', 1200)}, Addr: addr(1)},
		{Buffers: [][]byte{payload('z', 1)}, Addr: addr(0)},
	}
	want := map[int][][]byte{0: {payload('x', 100), payload('z', 1)}, 1: {payload('y', 1200)}}
	if gsoSupported(send) {
		msgs = append(msgs, ipv4.Message{Buffers: [][]byte{run}, Addr: addr(1), OOB: putGSOCmsg(oob[:], 1000)})
		want[1] = append(want[1], payload('a', 1000), payload('b', 1000), payload('c', 300))
	}
	n, err := write(msgs)
	if err != nil || n != len(msgs) {
		t.Fatalf("sent %d of %d: %v", n, len(msgs), err)
	}
	buf := make([]byte, 2000)
	for i, w := range want {
		_ = recv[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		for j, p := range w {
			k, from, err := recv[i].ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("receiver %d, datagram %d: %v", i, j, err)
			}
			if from != send.LocalAddr().(*net.UDPAddr).AddrPort() || !bytes.Equal(buf[:k], p) {
				t.Fatalf("receiver %d, datagram %d: %d bytes from %v, want %d bytes from %v", i, j, k, from, len(p), send.LocalAddr())
			}
		}
	}

	// Back-to-back batches through a small send buffer, the receiver drained meanwhile.
	_ = send.SetWriteBuffer(4096)
	drained := make(chan int)
	go func() {
		got := 0
		_ = recv[0].SetReadDeadline(time.Now().Add(20 * time.Second))
		for got < 2000 {
			if _, _, err := recv[0].ReadFromUDPAddrPort(buf); err != nil {
				break
			}
			got++
		}
		drained <- got
	}()
	big := make([]ipv4.Message, batchMax)
	for i := range big {
		big[i] = ipv4.Message{Buffers: [][]byte{payload('q', 1400)}, Addr: addr(0)}
	}
	sent := 0
	for sent < 2000 {
		n, err := write(big[:min(batchMax, 2000-sent)])
		if err != nil {
			t.Fatalf("after %d datagrams: %v", sent, err)
		}
		sent += n
	}
	if got := <-drained; got != 2000 {
		t.Fatalf("received %d of 2000", got)
	}

	if _, err := write([]ipv4.Message{{Buffers: [][]byte{payload('v', 10)}, Addr: &net.UDPAddr{IP: net.IPv6loopback, Port: 9}}}); err == nil {
		t.Fatal("an IPv6 destination was accepted")
	}
}
