package auction

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkBid: one accepted bid (the whole script: checks, the log entry, the event) after
// another, two bidders taking turns at the next valid amount. Parallel: 16 goroutines bidding
// at once, most of them refused as too low by the time they arrive (a busy lot).
func BenchmarkBid(b *testing.B) {
	for _, be := range backends() {
		for _, parallel := range []bool{false, true} {
			name := be.name
			if parallel {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				ev := newEnv(b, be)
				en := ev.engine("bench", 0, nil)
				lot := okLot(b)(en.Create(ctx, "bench", LotInput{Title: "bench", DurationS: 3600}))
				lot = okLot(b)(en.Start(ctx, "bench", lot.ID))
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					min := lot.MinAmount
					for i := 0; i < b.N; i++ {
						r, err := en.Bid(ctx, BidRequest{Room: "bench", LotID: lot.ID, Subject: fmt.Sprint(i % 2), Amount: min})
						if err != nil || !r.Accepted {
							b.Fatalf("%+v %v", r, err)
						}
						min = r.MinAmount
					}
					return
				}
				var who atomic.Int64
				b.SetParallelism(8) // × GOMAXPROCS goroutines
				b.RunParallel(func(pb *testing.PB) {
					me := fmt.Sprint(who.Add(1))
					min := lot.MinAmount
					for pb.Next() {
						r, err := en.Bid(ctx, BidRequest{Room: "bench", LotID: lot.ID, Subject: me, Amount: min})
						if err != nil {
							b.Fatal(err)
						}
						min = r.MinAmount
					}
				})
			})
		}
	}
}
