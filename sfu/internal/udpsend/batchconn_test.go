package udpsend

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
	bc := New(send, Options{GSO: true})
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

// A burst larger than the send queue (a keyframe to every viewer at once) waits for the flusher
// instead of being dropped: every datagram arrives, in order per writer.
func TestBatchConnFullQueueWaitsInsteadOfDropping(t *testing.T) {
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc := NewIdle(send, Options{GSO: true})
	for i := range bc.queues {
		bc.queues[i].ch = make(chan *Datagram, 4) // a budget of 4 datagrams per flusher
	}
	bc.Start()
	defer bc.Close()
	const writers, each = 4, 2000
	recvs := make([]*net.UDPConn, writers)
	for i := range recvs {
		if recvs[i], err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		defer recvs[i].Close()
		_ = recvs[i].SetReadBuffer(4 << 20)
	}
	done := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func(w int) {
			to := recvs[w].LocalAddr().(*net.UDPAddr).AddrPort()
			for i := 0; i < each; i++ {
				if _, err := bc.WriteToAddrPort([]byte(fmt.Sprintf("w%d-%05d", w, i)), to); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}(w)
	}
	for w := 0; w < writers; w++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	for w, r := range recvs {
		_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := 0; i < each; i++ {
			k, err := r.Read(buf)
			if err != nil {
				t.Fatalf("writer %d: after %d datagrams: %v (dropped %d)", w, i, err, bc.dropped.Load())
			}
			if want := fmt.Sprintf("w%d-%05d", w, i); string(buf[:k]) != want {
				t.Fatalf("writer %d: datagram %d = %q, want %q", w, i, buf[:k], want)
			}
		}
	}
	if d := bc.dropped.Load(); d != 0 {
		t.Errorf("%d datagrams dropped", d)
	}
	if bc.waits.Load() == 0 {
		t.Errorf("no writer ever waited: the queue was never full, the test proves nothing")
	}
	t.Logf("%d datagrams, %d waits for room, %d sendmmsg calls", writers*each, bc.waits.Load(), bc.batches.Load())
}
