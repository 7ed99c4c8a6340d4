package transcode

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// jumpClock is a wall clock that can be stepped (the system clock is never touched).
type jumpClock struct{ off atomic.Int64 }

func (j *jumpClock) Now() time.Time          { return time.Now().Add(time.Duration(j.off.Load())) }
func (j *jumpClock) jump(d time.Duration)    { j.off.Add(int64(d)) }
func msBetween(a, b time.Time) time.Duration { return b.Sub(a).Round(time.Millisecond) }

// TestSlewClock: the clock follows the monotonic time through a step of the wall clock, then
// catches up with the wall clock at MaxSlew, never going back.
func TestSlewClock(t *testing.T) {
	for _, tc := range []struct {
		name    string
		step    time.Duration
		maxSlew float64
	}{{"forward", 5 * time.Second, 0}, {"backward", -5 * time.Second, 0}, {"no slew", 5 * time.Second, -1}} {
		t.Run(tc.name, func(t *testing.T) {
			wall := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			var el time.Duration // the monotonic time, driven by the test
			c := newSlewClock(EmbeddedParams{Now: func() time.Time { return wall.Add(el) }, MaxSlew: tc.maxSlew})
			c.since = func() time.Duration { return el }
			c.wall = func() time.Time { return wall.Add(el) }
			prev := c.Now()
			if !prev.Equal(wall) {
				t.Fatalf("start %v, want the wall clock %v", prev, wall)
			}
			el = time.Second
			if prev = c.Now(); !prev.Equal(wall.Add(el)) {
				t.Fatalf("no step: %v, want %v", prev, wall.Add(el))
			}
			wall = wall.Add(tc.step) // the node's clock steps
			el += 10 * time.Millisecond
			got := c.Now()
			if d := got.Sub(prev) - 10*time.Millisecond; d < -5*time.Microsecond || d > 5*time.Microsecond {
				t.Fatalf("after the step the clock moved %v more than the 10 ms of monotonic time", d)
			}
			// an hour later: caught up by at most MaxSlew of the hour, never back
			prev = got
			for i := 0; i < 3600; i++ {
				el += time.Second
				now := c.Now()
				if d := now.Sub(prev); d < time.Second-time.Second/1000 || d > time.Second+time.Second/1000 {
					t.Fatalf("one second of monotonic time moved the clock %v", d)
				}
				prev = now
			}
			behind := wall.Add(el).Sub(prev)
			want := tc.step - time.Duration(float64(3600*time.Second)*DefaultMaxSlew)*sign(tc.step)
			if tc.maxSlew < 0 {
				want = tc.step
			}
			if d := behind - want; d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("after an hour the clock is %v behind the wall clock, want %v", behind, want)
			}
			// fully caught up in step/MaxSlew (5 s: 10,000 s), then it is the wall clock again
			if tc.maxSlew >= 0 {
				el += 7000 * time.Second
				if got := c.Now(); !got.Equal(wall.Add(el)) {
					t.Fatalf("not caught up: %v, wall %v", got, wall.Add(el))
				}
			}
		})
	}
}

func sign(d time.Duration) time.Duration {
	if d < 0 {
		return -1
	}
	return 1
}

// TestEmbeddedTimeIgnoresClockSteps: TIME of the embedded Redis — a command, in a script, and
// queued in MULTI — goes on with the monotonic time when the node's wall clock steps ±5 s, and
// never goes back; keys' TTLs are what they were (miniredis counts none down by itself).
func TestEmbeddedTimeIgnoresClockSteps(t *testing.T) {
	var clk jumpClock
	e, err := StartEmbeddedWith(EmbeddedParams{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: e.Addr()})
	defer c.Close()
	script := redis.NewScript(`local t = redis.call('TIME'); return t[1] * 1000 + math.floor(t[2] / 1000)`)
	read := func(how string) time.Time {
		t.Helper()
		switch how {
		case "command":
			v, err := c.Time(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			return v
		case "script":
			ms, err := script.Run(ctx, c, nil).Int64()
			if err != nil {
				t.Fatal(err)
			}
			return time.UnixMilli(ms)
		default: // MULTI
			var v *redis.TimeCmd
			if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "k", "v", 0)
				v = p.Time(ctx)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return v.Val()
		}
	}
	for _, how := range []string{"command", "script", "multi"} {
		t.Run(how, func(t *testing.T) {
			t0, m0 := read(how), time.Now()
			if d := t0.Sub(clk.Now()); d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Fatalf("TIME %v is %v off the node's clock", t0, d)
			}
			for _, step := range []time.Duration{5 * time.Second, -5 * time.Second, -5 * time.Second, 5 * time.Second} {
				clk.jump(step)
				time.Sleep(20 * time.Millisecond)
				t1 := read(how)
				if d := t1.Sub(t0) - time.Since(m0); d < -50*time.Millisecond || d > 50*time.Millisecond {
					t.Fatalf("after a step of %v, TIME moved %v more than the monotonic time", step, d)
				}
			}
			prev := read(how)
			for range 200 {
				now := read(how)
				if now.Before(prev) {
					t.Fatalf("TIME went back: %v then %v", prev, now)
				}
				prev = now
			}
		})
	}
	// concurrent connections, each mixing the three, while the clock steps: each sees TIME
	// never going back
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := redis.NewClient(&redis.Options{Addr: e.Addr(), PoolSize: 1})
			defer cc.Close()
			var prev time.Time
			for i := range 150 {
				var now time.Time
				switch (g + i) % 3 {
				case 0:
					now = cc.Time(ctx).Val()
				case 1:
					ms, _ := script.Run(ctx, cc, nil).Int64()
					now = time.UnixMilli(ms)
				default:
					var v *redis.TimeCmd
					_, _ = cc.TxPipelined(ctx, func(p redis.Pipeliner) error { v = p.Time(ctx); return nil })
					now = v.Val()
				}
				// the script's reading is in whole ms
				if now.Before(prev.Truncate(time.Millisecond)) {
					errs <- fmt.Errorf("connection %d: TIME went back: %v then %v", g, prev, now)
					return
				}
				prev = now
				if g == 0 && i%50 == 0 {
					clk.jump(-5 * time.Second)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	clk.jump(15 * time.Second) // back to +0 net
	// TTLs: as before the clock (no count-down by miniredis; PEXPIREAT relative to now)
	if err := c.Set(ctx, "ttl", "v", 2*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	clk.jump(5 * time.Second)
	if ttl := c.PTTL(ctx, "ttl").Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("PTTL %v after a clock step", ttl)
	}
	if err := c.PExpireAt(ctx, "ttl", time.Now().Add(-time.Second)).Err(); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, "ttl").Val(); n != 0 {
		t.Fatal("a key expired at a past time is still there")
	}
	// the node's clock has been stepped +5 s net: the embedded clock is about 5 s behind it
	if d := msBetween(clk.Now(), e.Time()); d < -5050*time.Millisecond || d > -4950*time.Millisecond {
		t.Fatalf("Embedded.Time is %v off the stepped node clock, want about -5 s", d)
	}
}
