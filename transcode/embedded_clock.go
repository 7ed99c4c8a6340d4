package transcode

// The embedded Redis's clock.
//
// Every decision of the live room (the auction's deadlines and leases, chat timeouts, the
// cluster's leases) is a Lua script reading Redis's TIME. A real Redis answers TIME with its
// host's clock; miniredis answers it with time.Now() of this process, so a step of the node's
// wall clock (an NTP step, an operator's date -s, a VM resumed) would move every deadline:
// +5 s ends an open lot 5 s early, -5 s 5 s late. The embedded Redis answers TIME instead
// with a clock that never steps: the wall clock at start plus Go's monotonic time since,
// slewed towards the wall clock at most MaxSlew (after a step, it catches up gradually,
// as NTP's slewing does). The scripts are the same on both backends; only who answers TIME
// differs.
//
// TIME is answered by a miniredis pre-hook (which runs before every command, the commands of
// scripts included), so it reads the clock at the moment of the call: microsecond resolution,
// no goroutine, no cost when idle. Inside MULTI the hook lets miniredis queue TIME and sets
// miniredis's own clock (SetTime) to this clock when the EXEC comes, so the queued TIME answers
// from this clock too. Key expiry is unchanged: miniredis never counts TTLs down by itself
// (no ClockTTL), with or without this clock.

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// DefaultMaxSlew is the default EmbeddedParams.MaxSlew: 500 ppm (0.5 ms a second, ntpd's
// largest slew), so a 5 s step of the wall clock is caught up with in about 2.8 h, and a
// 60 s auction lot running meanwhile lasts at most 30 ms more or less.
const DefaultMaxSlew = 0.0005

// EmbeddedParams configures StartEmbeddedWith.
type EmbeddedParams struct {
	// Now is the node's wall clock (default time.Now): its reading at start, and the target
	// the embedded Redis's clock slews towards. Only its wall reading is used; the elapsed
	// time always comes from Go's monotonic clock. Tests inject a clock that jumps.
	Now func() time.Time
	// MaxSlew is the most the embedded Redis's clock runs faster or slower than the monotonic
	// clock while it catches up with a step of Now (default DefaultMaxSlew; negative: never,
	// the clock stays the wall clock at start plus the monotonic time since).
	MaxSlew float64
}

// StartEmbeddedWith starts the embedded Redis on a free loopback port, its TIME answered by a
// clock that never steps (see the top of this file).
func StartEmbeddedWith(p EmbeddedParams) (*Embedded, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("transcode: embedded redis: %w", err)
	}
	h := &timeHook{clk: newSlewClock(p), m: m, peers: map[*server.Peer]*txState{}}
	m.Server().SetPreHook(h.pre)
	return &Embedded{m: m, clk: h.clk}, nil
}

// Time is the embedded Redis's clock (what TIME answers now).
func (e *Embedded) Time() time.Time { return e.clk.Now() }

// slewClock is the wall clock at start plus the monotonic time since, plus a correction that
// moves towards the wall clock's steps at most maxSlew per unit of elapsed time. It never
// goes back: each reading is at least the one before.
type slewClock struct {
	wall    func() time.Time
	since   func() time.Duration // monotonic time since start
	maxSlew float64
	wall0   int64 // ns since the epoch

	mu      sync.Mutex
	elapsed time.Duration // at the last reading
	corr    int64         // ns added to wall0 + elapsed
	last    int64         // the last reading, ns since the epoch
}

func newSlewClock(p EmbeddedParams) *slewClock {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.MaxSlew == 0 {
		p.MaxSlew = DefaultMaxSlew
	}
	if p.MaxSlew < 0 {
		p.MaxSlew = 0
	}
	start := time.Now() // carries Go's monotonic reading, which steps of the wall clock do not move
	return &slewClock{wall: p.Now, since: func() time.Duration { return time.Since(start) },
		maxSlew: min(p.MaxSlew, 0.5), wall0: p.Now().UnixNano()}
}

// Now reads the clock.
func (c *slewClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := max(c.since(), c.elapsed)
	budget := int64(float64(el-c.elapsed) * c.maxSlew)
	c.elapsed = el
	base := c.wall0 + int64(el)
	if want := c.wall().UnixNano() - base; want > c.corr {
		c.corr += min(budget, want-c.corr)
	} else if want < c.corr {
		c.corr -= min(budget, c.corr-want)
	}
	t := max(base+c.corr, c.last)
	c.last = t
	return time.Unix(0, t).UTC()
}

// timeHook answers TIME from clk (the miniredis pre-hook).
type timeHook struct {
	clk *slewClock
	m   *miniredis.Miniredis

	mu    sync.Mutex
	peers map[*server.Peer]*txState // connections that used MULTI (dropped when they close)
	// setMu orders the SetTime calls of concurrent EXECs (never held with mu: a script's TIME
	// takes mu while the script holds miniredis's lock, which SetTime waits for)
	setMu sync.Mutex
}

type txState struct{ inTx, queuedTime bool }

// pre runs before every command (those of scripts too, while the script holds miniredis's
// lock: it must not lock miniredis then). true: the command is answered.
func (h *timeHook) pre(c *server.Peer, cmd string, args ...string) bool {
	switch cmd {
	case "TIME":
		if len(args) != 0 {
			return false // miniredis's own error
		}
		h.mu.Lock()
		st := h.peers[c]
		if st != nil && st.inTx {
			st.queuedTime = true
		}
		h.mu.Unlock()
		if st != nil && st.inTx {
			return false // queued; answered at EXEC (below)
		}
		t := h.clk.Now().UnixNano()
		c.WriteLen(2)
		c.WriteBulk(strconv.FormatInt(t/1e9, 10))
		c.WriteBulk(strconv.FormatInt(t%1e9/1e3, 10))
		return true
	case "MULTI":
		h.mu.Lock()
		st := h.peers[c]
		if st == nil {
			// MULTI comes from a client's connection (scripts may not use it), whose
			// disconnect drops the entry
			st = &txState{}
			h.peers[c] = st
			c.OnDisconnect(func() {
				h.mu.Lock()
				delete(h.peers, c)
				h.mu.Unlock()
			})
		}
		st.inTx = true
		h.mu.Unlock()
	case "EXEC", "DISCARD", "RESET":
		h.mu.Lock()
		st := h.peers[c]
		queued := st != nil && st.inTx && st.queuedTime && cmd == "EXEC"
		if st != nil {
			st.inTx, st.queuedTime = false, false
		}
		h.mu.Unlock()
		if queued {
			// a client's EXEC (never a script's: only connections with a MULTI get here), so
			// miniredis's lock is not held by this goroutine
			h.setMu.Lock()
			h.m.SetTime(h.clk.Now())
			h.setMu.Unlock()
		}
	}
	return false
}
