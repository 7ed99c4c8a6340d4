# Usage: python3 summ.py RUN.json... (rooms.sh's output; the /metrics samples may be gzipped)
import gzip, json, re, sys, os, glob
def met(f):
    m = {}
    fh = open(f) if os.path.exists(f) else gzip.open(f + '.gz', 'rt')
    for l in fh:
        if l.startswith('#'): continue
        k, _, v = l.rpartition(' ')
        try: m[k] = float(v)
        except ValueError: pass
    return m
def p99(m0, m1):
    b = sorted((float(re.search(r'le="([^"]+)"', k).group(1)), m1[k] - m0.get(k, 0)) for k in m1 if k.startswith('relaycast_forward_latency_seconds_bucket'))
    tot = b[-1][1] if b else 0
    for le, c in b:
        if tot and c >= .99 * tot: return '≤ %g' % (le * 1000)
    return 'n/a'
print("| run | joined | viewers / server core | server cores | loss % | keyframe p95 ms | fwd p99 ms (server) | µs CPU / datagram | datagrams / GSO msg | sendmmsg calls/s | ctx switches / 1k datagrams | load before → after |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for j in sys.argv[1:]:
    base = j[:-5]
    try: d = json.load(open(j))
    except Exception: print("| %s | failed |" % base); continue
    s, y = d['server'], d['synthetic']
    a, c = met(base + '.m0'), met(base + '.m1')
    dd = lambda k: c.get(k, 0) - a.get(k, 0)
    dg, ms, cpu, calls = dd('relaycast_udp_datagrams_sent_total'), dd('relaycast_udp_messages_sent_total'), dd('process_cpu_seconds_total'), dd('relaycast_udp_sendmmsg_calls_total')
    k = [float(x) for x in open(base + '.kids').read().split()]
    dt = k[2] - k[0]
    la = [re.search(r'load average: ([\d.]+)', l).group(1) for l in open(base + '.uptime') if 'load average' in l]
    try:
        cs = [float(x) for x in open(base + '.ctxsw').read().split()]
        csw = '%.1f' % ((cs[1] - cs[0]) / dg * 1000)
    except Exception: csw = 'n/a'
    cores = s.get('proc_cpu_cores_mean', 0); n = y['connected']
    print("| %s | %d | %.0f | %.3f | %.3f | %.0f | %s | %.2f | %.2f | %.0f | %s | %s |" % (base.replace('/tmp/h19rooms/', ''), n, n / cores if cores else 0, cores, y.get('loss_pct', -1),
        y.get('first_keyframe_ms', {}).get('p95', -1), p99(a, c), cpu / dg * 1e6 if dg else 0, dg / ms if ms else 0, calls / dt, csw, ' → '.join(la)))
