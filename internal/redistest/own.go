package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Own starts a redis-server of the test's own (no persistence) on a free port, stopped when the
// test ends, and returns its address and a restart function: the server is killed and started
// again on the same port with its data lost, as in a crash. It skips the test when
// RELAYCAST_TEST_REDIS is unset (no real Redis on this machine) and fails it when the variable
// is set but redis-server is not installed.
func Own(tb testing.TB) (addr string, restart func()) {
	tb.Helper()
	if os.Getenv(Env) == "" {
		tb.Skipf("%s not set: no real Redis here", Env)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("%s is set but redis-server is not installed: %v", Env, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	addr = "127.0.0.1:" + strconv.Itoa(port)
	dir := tb.TempDir()
	var cmd *exec.Cmd
	run := func() {
		cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--loglevel", "warning")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
			if i > 200 {
				tb.Fatal("redis-server did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stop := func() {
		if cmd != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			cmd = nil
		}
	}
	run()
	tb.Cleanup(stop)
	return addr, func() { stop(); run() }
}
