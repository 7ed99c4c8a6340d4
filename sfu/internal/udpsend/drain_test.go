package udpsend

import (
	"net"
	"runtime"
	"testing"
)

// heapAfterGC is the live heap after one full GC cycle.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// The soak's finding (docs/RELIABILITY.md "Soak"): once the load is gone, the send buffers it
// used stay in the pools through the next GC (a sync.Pool keeps them one more cycle), minutes on
// an idle server. Drain lets them go at the next GC.
func TestDrainReleasesPooledBuffersAtTheNextGC(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := NewIdle(c, Options{})
	defer b.Close()
	const runs, singles = 600, 2000 // 600 × 48,000 + 2,000 × 1,500 bytes: 31.8 MB
	base := heapAfterGC()
	held := make([]*Datagram, 0, runs+singles)
	for range runs {
		held = append(held, b.NewRun(MaxGSOSegs))
	}
	for range singles {
		held = append(held, b.NewDatagram())
	}
	for _, d := range held {
		b.Release(d) // the load is over: every buffer is back in the pools
	}
	held = nil
	const bulk = runs*MaxGSOSegs*SlotSize + singles*SlotSize
	n := b.Drain() // without it the one GC below keeps every buffer (they move to the victim cache)
	if slack := 2 * runtime.GOMAXPROCS(0); n < runs+singles-slack {
		t.Fatalf("Drain let go of %d buffers, want at least %d", n, runs+singles-slack)
	}
	if h := heapAfterGC(); h > base+4<<20 {
		t.Fatalf("heap %d bytes above the start after Drain and one GC (%d pooled), want at most 4 MiB", h-base, bulk)
	}
	if n := b.Drain(); n != 0 {
		t.Fatalf("a second Drain found %d buffers", n)
	}
	// The pools work as before after a drain.
	if d := b.NewRun(5); len(d.Buf) != 6*SlotSize {
		t.Fatalf("NewRun(5) after Drain: %d-byte buffer", len(d.Buf))
	}
}
