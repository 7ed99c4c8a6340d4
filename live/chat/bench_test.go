package chat_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/internal/redistest"
	"github.com/relaycast/relaycast/live/chat"
)

// BenchmarkSend measures one accepted message (checks + sequencing + history, one script) on
// the embedded miniredis and, when RELAYCAST_TEST_REDIS is set, on real Redis.
func BenchmarkSend(b *testing.B) {
	run := func(b *testing.B, rdb redis.UniversalClient) {
		e := newEnv(b, rdb, chat.Params{Rate: 1 << 30}, func(time.Duration) {})
		ctx := context.Background()
		from := user("bench")
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := e.svc.Send(ctx, "bench", from, fmt.Sprint("message ", i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("miniredis", func(b *testing.B) {
		_, rdb := redistest.Mini(b)
		run(b, rdb)
	})
	b.Run("redis", func(b *testing.B) {
		rdb := redistest.Real(b, redis.Options{})
		if rdb == nil {
			b.Skip("RELAYCAST_TEST_REDIS not set")
		}
		run(b, rdb)
	})
}
