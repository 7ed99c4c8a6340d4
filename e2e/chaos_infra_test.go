//go:build chaos

package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/storage"
)

// The chaos run's own services, on fixed ports of its range (32000-32999): nothing of the
// shared test services is touched, so it may kill them at will.
const (
	chaosRedisPort = 32001
	chaosPGPort    = 32002
	chaosS3Port    = 32003
	chaosHookPort  = 32004
	chaosHTTPBase  = 32011 // nodes a, b, c: 32011-32013
	chaosICEBase   = 32021 // their ICE UDP ports: 32021-32023
	chaosSecret    = "chaos-secret-0123456789abcdef"
	chaosS3Access  = "chaosaccess"
	chaosS3Secret  = "chaossecret0123456789"
	chaosBucket    = "chaos"
	chaosDB        = "relaycast_chaos"
)

// proc is one process of the cluster that a trial may kill with SIGKILL and start again.
type proc struct {
	name string
	args []string
	env  []string
	log  string
	cred *syscall.Credential
	// ready waits until the started process serves (nil: none).
	ready func(ctx context.Context) error
	// pid, when set, names the process to kill (PostgreSQL: the postmaster of its pid file).
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	if err := p.startErr(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
}

func (p *proc) startErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== chaos: start %s at %s\n", p.name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	if p.ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		if err := p.ready(ctx); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited while starting (log %s)", p.name, p.log)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within 60 s (log %s)", p.name, p.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL to the process (not its group: PostgreSQL's backends notice their
// postmaster died by themselves, as after a real crash) and waits for it to exit.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

func (p *proc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the process and its group for good (the end of the run).
func (p *proc) stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
	default:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// chaosCluster is the whole deployment: Redis (AOF), PostgreSQL, versitygw, three serve nodes
// and one worker, plus the webhook receiver.
type chaosCluster struct {
	dir                  string
	redis, pg, s3, work  *proc
	nodes                []*chaosNode
	hooks                *hookSink
	redisURL, catalogURL string
	s3URL                string
}

type chaosNode struct {
	*proc
	id, url string
}

func portFree(port int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	_ = ln.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	return pc.Close()
}

func httpOK(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s: %d", url, res.StatusCode)
		}
		return nil
	}
}

func startChaosCluster(t *testing.T, bin string) *chaosCluster {
	t.Helper()
	for _, p := range []int{chaosRedisPort, chaosPGPort, chaosS3Port, chaosHookPort, chaosHTTPBase, chaosHTTPBase + 1, chaosHTTPBase + 2, chaosICEBase, chaosICEBase + 1, chaosICEBase + 2} {
		if err := portFree(p); err != nil {
			t.Fatalf("port %d of the chaos range is taken: %v", p, err)
		}
	}
	pgBin := ""
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(m) > 0 {
		pgBin = filepath.Dir(m[len(m)-1])
	}
	gw := filepath.Join(os.Getenv("HOME"), "go", "bin", "versitygw")
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gw = filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
	}
	for _, b := range []string{pgBin + "/postgres", gw} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("chaos needs %s: %v", b, err)
		}
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("chaos needs redis-server")
	}
	// A directory the postgres user can enter (t.TempDir is root's, 0700).
	dir, err := os.MkdirTemp("", "relaycast-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	if os.Getenv("CHAOS_KEEP") == "" {
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
	} else {
		t.Logf("chaos: keeping %s", dir)
	}
	c := &chaosCluster{dir: dir}

	// Redis with its append-only file: a restart after SIGKILL reads it back.
	rdir := filepath.Join(dir, "redis")
	_ = os.MkdirAll(rdir, 0o755)
	raddr := "127.0.0.1:" + strconv.Itoa(chaosRedisPort)
	c.redisURL = "redis://" + raddr
	c.redis = &proc{name: "redis", log: filepath.Join(dir, "redis.log"),
		args: []string{"redis-server", "--port", strconv.Itoa(chaosRedisPort), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "yes", "--appendfsync", "everysec", "--dir", rdir, "--loglevel", "warning"},
		ready: func(ctx context.Context) error {
			rc := redis.NewClient(&redis.Options{Addr: raddr})
			defer rc.Close()
			return rc.Ping(ctx).Err()
		}}
	c.redis.start(t)
	t.Cleanup(c.redis.stop)

	// PostgreSQL, run as the postgres user (it refuses root).
	pgDir := filepath.Join(dir, "pg")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("chaos runs PostgreSQL as the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		_ = os.MkdirAll(pgDir, 0o700)
		_ = os.Chown(pgDir, uid, gid)
	}
	initdb := exec.Command(pgBin+"/initdb", "-D", pgDir, "-U", "relaycast", "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	pgBase := "postgres://relaycast@127.0.0.1:" + strconv.Itoa(chaosPGPort)
	c.pg = &proc{name: "postgres", log: filepath.Join(dir, "postgres.log"), cred: cred,
		args: []string{pgBin + "/postgres", "-D", pgDir, "-p", strconv.Itoa(chaosPGPort), "-k", pgDir,
			"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100"},
		ready: func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, pgBase+"/postgres?sslmode=disable&connect_timeout=2")
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		}}
	c.pg.start(t)
	t.Cleanup(c.pg.stop)
	{
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		conn, err := pgx.Connect(ctx, pgBase+"/postgres?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+chaosDB); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close(ctx)
		cancel()
	}
	c.catalogURL = pgBase + "/" + chaosDB + "?sslmode=disable&connect_timeout=3"

	// versitygw S3 on a directory of its own.
	s3dir := filepath.Join(dir, "s3")
	_ = os.MkdirAll(s3dir, 0o755)
	c.s3URL = "http://127.0.0.1:" + strconv.Itoa(chaosS3Port)
	c.s3 = &proc{name: "s3", log: filepath.Join(dir, "s3.log"),
		args: []string{gw, "--port", "127.0.0.1:" + strconv.Itoa(chaosS3Port), "--access", chaosS3Access, "--secret", chaosS3Secret, "posix", s3dir},
		ready: func(ctx context.Context) error {
			d := net.Dialer{}
			cn, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(chaosS3Port))
			if err == nil {
				cn.Close()
			}
			return err
		}}
	c.s3.start(t)
	t.Cleanup(c.s3.stop)
	t.Setenv("AWS_ACCESS_KEY_ID", chaosS3Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", chaosS3Secret)
	st, err := storage.NewS3(context.Background(), storage.S3Params{Bucket: chaosBucket, Endpoint: c.s3URL, PathStyle: true, Prefix: "vod"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(chaosBucket)}); err != nil {
		t.Fatal(err)
	}

	c.hooks = startHookSink(t, chaosHookPort)
	logLevel := "info"
	if l := os.Getenv("CHAOS_LOG_LEVEL"); l != "" {
		logLevel = l
	}
	s3Args := []string{"--s3-bucket", chaosBucket, "--s3-endpoint", c.s3URL, "--s3-path-style", "--s3-prefix", "vod"}
	s3Env := []string{"AWS_ACCESS_KEY_ID=" + chaosS3Access, "AWS_SECRET_ACCESS_KEY=" + chaosS3Secret}
	for i, name := range []string{"a", "b", "c"} {
		addr := "127.0.0.1:" + strconv.Itoa(chaosHTTPBase+i)
		n := &chaosNode{id: name, url: "http://" + addr}
		args := append([]string{bin, "serve", "--node-id", name, "--http", addr, "--public-url", n.url,
			"--ice-udp-port", strconv.Itoa(chaosICEBase + i), "--ice-loopback", "--rate-limit-ip", "off", "--rate-limit-user", "off",
			"--data-dir", filepath.Join(dir, "node-"+name), "--auth-secret", chaosSecret, "--redis-url", c.redisURL,
			"--catalog-url", c.catalogURL, "--workers", "0", "--chunk-duration", "2s", "--drain-timeout", "0",
			"--webhook-url", fmt.Sprintf("http://127.0.0.1:%d/hook", chaosHookPort), "--webhook-allow-private",
			"--webhook-secret", "chaos-webhook-secret-0123", "--log-format", "json", "--log-level", logLevel}, s3Args...)
		n.proc = &proc{name: "node-" + name, args: args, env: s3Env, log: filepath.Join(dir, "node-"+name+".log"), ready: httpOK(n.url + "/readyz")}
		n.start(t)
		t.Cleanup(n.stop)
		c.nodes = append(c.nodes, n)
	}
	c.work = &proc{name: "worker", env: s3Env, log: filepath.Join(dir, "worker.log"),
		args: append([]string{bin, "worker", "--redis-url", c.redisURL, "--workers", "1", "--data-dir", filepath.Join(dir, "worker"),
			"--log-format", "json", "--log-level", "info"}, s3Args...)}
	c.work.start(t)
	t.Cleanup(c.work.stop)
	return c
}

// heal starts every process that is not running (a node killed in the last trial) and waits
// until the three nodes are ready and members again.
func (c *chaosCluster) heal(t *testing.T) {
	t.Helper()
	for _, p := range []*proc{c.redis, c.pg, c.s3} {
		if !p.alive() {
			restartRetry(t, p)
		}
	}
	for _, n := range c.nodes {
		if !n.alive() {
			restartRetry(t, n.proc)
		}
	}
	if !c.work.alive() {
		restartRetry(t, c.work)
	}
	time.Sleep(2 * time.Second) // heartbeats: every node sees the others
}

// restartRetry starts p again, retrying for a while: PostgreSQL refuses to start while the
// killed postmaster's backends still hold its shared memory.
func restartRetry(t *testing.T, p *proc) {
	t.Helper()
	var err error
	for i := 0; i < 40; i++ {
		if err = p.startErr(); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("restart %s: %v", p.name, err)
}

// liveNode returns a node that answers, starting at i (round robin, like a balancer).
func (c *chaosCluster) liveNode(i int) *chaosNode {
	for k := 0; k < len(c.nodes); k++ {
		n := c.nodes[(i+k)%len(c.nodes)]
		if n.alive() {
			return n
		}
	}
	return c.nodes[i%len(c.nodes)]
}
