package sfu

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestBatchConnDeliversEveryDatagram(t *testing.T) {
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(send, batchOptions{gso: true})
	defer bc.Close()
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	_ = recv.SetReadBuffer(4 << 20)
	const n = 500
	for i := 0; i < n; i++ {
		if _, err := bc.WriteTo([]byte(fmt.Sprintf("packet-%04d", i)), recv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < n; i++ {
		k, from, err := recv.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d datagrams: %v (dropped %d)", i, err, bc.dropped.Load())
		}
		if want := fmt.Sprintf("packet-%04d", i); !bytes.Equal(buf[:k], []byte(want)) {
			t.Fatalf("datagram %d = %q, want %q", i, buf[:k], want)
		}
		if from.Port != send.LocalAddr().(*net.UDPAddr).Port {
			t.Fatalf("from %v", from)
		}
	}
	// The counters are updated after sendmmsg returns, possibly after the reader saw the data.
	for deadline := time.Now().Add(2 * time.Second); bc.sent.Load() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if b, s := bc.batches.Load(), bc.sent.Load(); s != n || b > n {
		t.Errorf("sent %d in %d sendmmsg calls", s, b)
	}
	t.Logf("%d datagrams in %d sendmmsg calls", n, bc.batches.Load())
}
