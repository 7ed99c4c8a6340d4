#!/usr/bin/env python3
# Summary of paired loadtest/rooms.sh runs (issue 16): for every OUT/RUN/SHAPE-*.m1 (the server's
# /metrics at the end of the hold; .m0 at its start, .kids the timestamps, .ctxsw the server's
# context switches, .uptime the load) one row: server cores, viewers per core, µs of server CPU per
# datagram sent and context switches per second over the hold.
#   loadtest/rooms-ab-summary.py OUT
import glob, os, re, sys
def metric(path, name):
    for l in open(path):
        if l.startswith(name + ' ') or l.startswith(name + '{'):
            return float(l.split()[-1])
    return 0.0
rows = []
for m1 in sorted(glob.glob(os.path.join(sys.argv[1], '*', '*.m1'))):
    base = m1[:-3]; run = os.path.basename(os.path.dirname(m1)); shape = os.path.basename(base).split('-')[0]
    m0 = base + '.m0'
    cpu = metric(m1, 'process_cpu_seconds_total') - metric(m0, 'process_cpu_seconds_total')
    dg = metric(m1, 'relaycast_udp_datagrams_sent_total') - metric(m0, 'relaycast_udp_datagrams_sent_total')
    k = [l.split() for l in open(base + '.kids')]; dt = float(k[2][0]) - float(k[0][0])  # ts, kids, ts, kids
    c = [int(x) for x in open(base + '.ctxsw').read().split()]
    up = [l.split('load average:')[1].strip() for l in open(base + '.uptime')]
    r, v = map(int, shape.split('x'))
    cores = cpu / dt
    rows.append((shape, run, cores, r * v / cores if cores else 0, 1e6 * cpu / dg if dg else 0, (c[1] - c[0]) / dt, ' → '.join(up)))
print('| shape | run | server cores | viewers / core | µs / datagram | context switches / s | load |')
print('|---|---|---|---|---|---|---|')
for r in sorted(rows):
    print('| %s | %s | %.3f | %.0f | %.2f | %.0f | %s |' % r)
