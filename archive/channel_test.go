package archive_test

import (
	"testing"

	"github.com/hibiken/asynq"

	"github.com/relaycast/relaycast/archive"
)

func TestChannelFor(t *testing.T) {
	for _, tc := range []struct {
		opt  asynq.RedisConnOpt
		want string
	}{
		{asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}, "relaycast:events"},
		{asynq.RedisClientOpt{Addr: "127.0.0.1:6379", DB: 3}, "relaycast:events:db3"},
		{asynq.RedisClusterClientOpt{Addrs: []string{"127.0.0.1:7000"}}, "relaycast:events"},
	} {
		if got := archive.ChannelFor(archive.EventsChannel, tc.opt); got != tc.want {
			t.Errorf("ChannelFor(%+v) = %q, want %q", tc.opt, got, tc.want)
		}
	}
}
