package udpsend

import "sync"

// Drain empties the buffer pools and returns how many buffers it let go (they are freed at the
// next GC). The sfu calls it once the node has had no room for 5 s: a sync.Pool frees what it holds only after
// two GC cycles, and an idle process runs one every 2 minutes, so the buffers of the last load
// (the send queues alone hold up to QueueLen*SlotSize bytes, ~49 MB) would otherwise stay for
// minutes after it (docs/RELIABILITY.md "Soak"). Buffers queued or in use meanwhile are not
// touched; each of GOMAXPROCS per-P private slots may keep one.
func (b *Conn) Drain() int {
	n := drainPool(&b.free)
	for i := range b.runs {
		n += drainPool(&b.runs[i])
	}
	return n
}

// drainPool takes the buffers out of p: at most 2*QueueLen, as writers may put some back meanwhile.
func drainPool(p *sync.Pool) int {
	n := 0
	for n < 2*QueueLen && p.Get() != nil {
		n++
	}
	return n
}
