package httpapi_test

import (
	"github.com/relaycast/relaycast/internal/testmedia"
	"github.com/relaycast/relaycast/internal/testserver"
)

// Short names of the helpers (in internal/testserver) these tests use.
var (
	startArchive = testserver.StartArchive
	needTools    = testmedia.NeedFFmpeg
	sse          = testserver.SSE
	waitStatus   = testserver.WaitStatus
	getJSON      = testserver.GetJSON
	do           = testserver.Do
	testRedisURL = testserver.RedisURL
)
