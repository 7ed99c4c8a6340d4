package server

import (
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// clusterRedis is the cluster's own Redis client (membership, leases, owner lookups). Its
// commands keep to their contexts' deadlines (ContextTimeoutEnabled): an owner lookup for a
// viewer is bounded by its caller (cluster.EdgeParams.LocateTimeout, 2 s), not by the client's
// 3 s read timeout times its retries, when Redis stops answering (docs/RELIABILITY.md "Chaos").
// Connection options other than a plain redis:// URL keep asynq's client.
func clusterRedis(opt asynq.RedisConnOpt) redis.UniversalClient {
	o, ok := opt.(asynq.RedisClientOpt)
	if !ok {
		return opt.MakeRedisClient().(redis.UniversalClient)
	}
	return redis.NewClient(&redis.Options{
		Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolSize: o.PoolSize, TLSConfig: o.TLSConfig, ContextTimeoutEnabled: true,
	})
}
