package chat_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

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
		m := miniredis.RunT(b)
		run(b, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	})
	b.Run("redis", func(b *testing.B) {
		addr := os.Getenv("RELAYCAST_TEST_REDIS")
		if addr == "" {
			b.Skip("RELAYCAST_TEST_REDIS not set")
		}
		run(b, redis.NewClient(&redis.Options{Addr: addr}))
	})
}
