package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// serverSample is one reading of the server's counters.
type serverSample struct {
	at      time.Time
	metrics map[string]float64 // unlabelled series of /metrics
	ok      bool
	procCPU float64 // seconds (utime+stime) from /proc/<pid>/stat; 0 without a pid
	procRSS float64 // bytes (VmRSS)
	procOK  bool
}

// Metric names the harness reads.
const (
	mCPU         = "process_cpu_seconds_total"
	mRSS         = "process_resident_memory_bytes"
	mViewers     = "relaycast_viewers"
	mSentBytes   = "relaycast_rtp_sent_bytes_total"
	mSentPackets = "relaycast_rtp_packets_sent_total"
	mDropped     = "relaycast_rtp_packets_dropped_total"
)

// scraper reads /metrics and, for a local server, /proc/<pid>.
type scraper struct {
	hc   *http.Client
	url  string
	pid  int
	proc string // /proc root (tests may point elsewhere)
}

func newScraper(base string, pid int) *scraper {
	return &scraper{hc: &http.Client{Timeout: 3 * time.Second}, url: base + "/metrics", pid: pid, proc: "/proc"}
}

func (s *scraper) sample(ctx context.Context) serverSample {
	out := serverSample{at: time.Now()}
	if s.pid > 0 {
		if cpu, rss, err := readProc(s.proc, s.pid); err == nil {
			out.procCPU, out.procRSS, out.procOK = cpu, rss, true
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return out
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	m, err := parseMetrics(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return out
	}
	out.metrics, out.ok = m, true
	return out
}

// parseMetrics reads the unlabelled samples of the Prometheus text format.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := make(map[string]float64, 64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		m[f[0]] = v
	}
	return m, sc.Err()
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// readProc returns a process's CPU seconds (user+system) and resident bytes.
func readProc(root string, pid int) (cpu, rss float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", root, pid))
	if err != nil {
		return 0, 0, err
	}
	cpu, err = parseProcStat(string(stat))
	if err != nil {
		return 0, 0, err
	}
	status, err := os.ReadFile(fmt.Sprintf("%s/%d/status", root, pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				rss = kb * 1024
			}
		}
	}
	return cpu, rss, nil
}

// parseProcStat reads utime+stime (fields 14 and 15) of /proc/<pid>/stat in seconds.
func parseProcStat(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat: %d fields", len(f))
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed stat times")
	}
	return (ut + st) / clockTicks, nil
}

// rate is (b-a)/dt of one metric between two samples (0 when either is missing).
func rate(a, b serverSample, name string) float64 {
	if !a.ok || !b.ok {
		return 0
	}
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return finite((b.metrics[name] - a.metrics[name]) / dt)
}

func procRate(a, b serverSample) float64 {
	if !a.procOK || !b.procOK {
		return 0
	}
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return finite((b.procCPU - a.procCPU) / dt)
}

// FindServerPID returns the pid of the local process listening on base's TCP port (for the /proc
// cross-check), by matching the socket inode of /proc/net/tcp{,6} against /proc/*/fd.
func FindServerPID(base string) (int, error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return 0, fmt.Errorf("port of %q: %w", base, err)
	}
	want := fmt.Sprintf(":%04X", pn)
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			fs := strings.Fields(line)
			if len(fs) > 9 && strings.HasSuffix(fs[1], want) && fs[3] == "0A" { // 0A = LISTEN
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no local process listens on port %d", pn)
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inodes[l] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process found for the socket on port %d", pn)
}
