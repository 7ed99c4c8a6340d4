package udpsend

import (
	"bytes"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestReadCoalesce: with Options.ReadCoalesce the Conn reads several datagrams per recvmmsg and
// hands them out in order, each once, to the hook or to the caller, with the sender's address;
// the hook gets each datagram's arrival time from the kernel (SO_TIMESTAMPNS on Linux), not the
// later time it was read; a datagram too long for the read buffers is dropped, not cut.
func TestReadCoalesce(t *testing.T) {
	lc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := NewIdle(lc, Options{ReadCoalesce: time.Millisecond})
	defer b.Close()
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	from := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	to := lc.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 1500)

	// The kernel turns receive timestamps on for the whole system a moment after the first
	// socket asks (a deferred static key); until then a datagram is stamped when it is read.
	// Wait for a datagram that was stamped on arrival.
	if runtime.GOOS == "linux" {
		var at time.Time
		b.SetReadHook(func(_ []byte, _ netip.AddrPort, t time.Time) bool { at = t; return true })
		for deadline := time.Now().Add(5 * time.Second); ; {
			if _, err := peer.WriteToUDPAddrPort([]byte{255}, to); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			before := time.Now()
			_ = b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, _, _ = b.ReadFromAddrPort(buf) // the hook takes it; the deadline ends the read
			if !at.IsZero() && at.Before(before.Add(-10*time.Millisecond)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no datagram got the kernel's receive timestamp")
			}
		}
	}

	type seen struct {
		p  []byte
		at time.Time
	}
	var hooked []seen
	b.SetReadHook(func(p []byte, f netip.AddrPort, at time.Time) bool {
		if f != from {
			t.Errorf("hook: from %v, want %v", f, from)
		}
		if p[0]%2 == 0 { // the hook takes the even ones
			hooked = append(hooked, seen{bytes.Clone(p), at})
			return true
		}
		return false
	})
	sent := time.Now()
	const n = 20
	for i := 0; i < n; i++ {
		if _, err := peer.WriteToUDPAddrPort(bytes.Repeat([]byte{byte(i)}, 100+i), to); err != nil {
			t.Fatal(err)
		}
		if i == 10 { // one datagram longer than the read buffers, between the others
			if _, err := peer.WriteToUDPAddrPort(make([]byte, readBufLen+100), to); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(50 * time.Millisecond) // they wait in the socket; their arrival is before the read
	readAt := time.Now()
	for i := 1; i < n; i += 2 {
		_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, f, err := b.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if f != from || k != 100+i || buf[0] != byte(i) {
			t.Fatalf("read %d: %d bytes of %d from %v, want %d bytes of %d from %v", i, k, buf[0], f, 100+i, i, from)
		}
	}
	if len(hooked) != n/2 {
		t.Fatalf("hook took %d datagrams, want %d", len(hooked), n/2)
	}
	for i, h := range hooked {
		if h.p[0] != byte(2*i) || len(h.p) != 100+2*i {
			t.Fatalf("hooked %d: %d bytes of %d", i, len(h.p), h.p[0])
		}
		if runtime.GOOS == "linux" && (h.at.Before(sent.Add(-time.Second)) || !h.at.Before(readAt)) {
			t.Fatalf("hooked %d: arrival %v, want the kernel's (after %v, before the read at %v)", i, h.at, sent, readAt)
		}
	}
	if b.rd.busy != true {
		t.Error("a read of many waiting datagrams did not mark the socket busy")
	}
}
