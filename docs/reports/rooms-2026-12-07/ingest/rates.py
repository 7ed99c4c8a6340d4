# Per-run rates over rooms.sh's hold window (.m0 → .m1, .kids times): packets in, datagrams out,
# the server's CPU from /metrics, context switches, NACK and PLI, and memory at .m1.
#   python3 rates.py RUN_BASE...   (RUN_BASE: the path of a run's .json without .json)
import sys
def met(f):
    m = {}
    for l in open(f):
        if l.startswith('#'): continue
        k, _, v = l.rpartition(' ')
        try: m[k] = float(v)
        except ValueError: pass
    return m
print("| run | s | RTP in /s | datagrams out /s | server cores (/metrics) | context switches /s | packets NACKed by viewers /s | PLI out /s | RSS MB | heap in use MB | goroutines |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for b in sys.argv[1:]:
    m0, m1 = met(b + '.m0'), met(b + '.m1')
    k = [float(x) for x in open(b + '.kids').read().split()]
    dt = k[2] - k[0]
    d = lambda n: m1.get(n, 0) - m0.get(n, 0)
    cs = [float(x) for x in open(b + '.ctxsw').read().split()]
    print("| %s | %.1f | %.0f | %.0f | %.3f | %.0f | %.1f | %.2f | %.0f | %.0f | %.0f |" % (b.split('/')[-3] + ' ' + b.split('/')[-2].replace('-main', ''), dt, d('relaycast_rtp_packets_received_total') / dt,
        d('relaycast_udp_datagrams_sent_total') / dt, d('process_cpu_seconds_total') / dt, (cs[1] - cs[0]) / dt, d('relaycast_nack_packets_total') / dt,
        d('relaycast_pli_sent_total') / dt, m1['process_resident_memory_bytes'] / 1e6, m1['go_memstats_heap_inuse_bytes'] / 1e6, m1['go_goroutines']))
