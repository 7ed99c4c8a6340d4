# Splits `perf script` stacks of the server (one sample each) into where the time goes, by the
# first rule whose pattern is in the stack (order matters), and prints the share and the cores.
#   python3 classify.py STACKS.txt CORES [ROOMS [COMM]]
# Only samples of the server's own threads count (COMM, default rec-bin: the binary's name):
# perf record -p follows the children the server forks in the window (the transcodes' ffmpeg).
import sys
rules = [
    ("recording: recorder sink (sinkFeed.run)", ["sfu.(*sinkFeed).run"]),
    ("recording: archive, asynq client/worker, transcode handler (in the server process)",
     ["asynq", "relaycast/archive.", "relaycast/transcode.", "relaycast/recorder."]),
    ("room claims: cluster.(*Lease).renewLoop, every room's lease renewed each 1 s (client side)", ["cluster.(*Lease)", "cluster.(*Cluster).Claim"]),
    ("embedded Redis server (miniredis + gopher-lua: the leases' Lua, and with recording the queue's)", ["miniredis", "gopher-lua"]),
    ("NACK/RTCP to the publisher: interceptor timers (NACK generator, receiver reports, TWCC)",
     ["nack.(*GeneratorInterceptor).loop", "report.(*ReceiverInterceptor).loop", "twcc.(*SenderInterceptor).loop"]),
    ("PLI to the publisher", ["sendPLI", "requestKeyframe"]),
    ("NACK/RTCP from the publisher: drainRTCP (sender reports in)", ["sfu.drainRTCP"]),
    ("viewers' RTCP (handleRTCP) and sender reports to viewers (srScheduler)", ["sfu.(*Subscriber).handleRTCP", "srScheduler", "rtcpin"]),
    ("fan-out: writer groups (SRTP seal, GSO runs)", ["sfu.(*group).run"]),
    ("fan-out: flushers (sendmmsg)", ["udpsend.(*Conn).Start"]),
    ("ingest: track read loop — Pion's per-packet interceptors (NACK/TWCC/RR bookkeeping)", ["upTrack).readLoop;interceptor/pkg"]),
    ("ingest: track read loop (ours, to the writer groups and the sink)", ["sfu.(*upTrack).readLoop"]),
    ("ingest, Pion read chain: UDP mux reader → ICE recvLoop → DTLS/SRTP mux → SRTP session",
     ["UDPMuxDefault).connWorker", "candidateBase).recvLoop", "mux.(*Mux).readLoop", "srtp/v3.(*session).start"]),
    ("ICE task loop, connectivity checks (consent, keepalive)", ["taskloop", "startConnectivityChecks", "ice/v4.(*Agent)"]),
    ("GC background marking", ["gcBgMarkWorker"]),
    ("HTTP (metrics scrapes, signalling)", ["net/http."]),
]
comm = sys.argv[4] if len(sys.argv) > 4 else 'rec-bin'
stacks, cur, keep, others = [], [], False, {}
for l in open(sys.argv[1]):
    l = l.rstrip('\n')
    if not l.strip():
        if cur and keep: stacks.append(cur)
        cur = []
        continue
    if not l.startswith((' ', '\t')):
        if cur and keep: stacks.append(cur)
        cur = []; c = l.split()[0]; keep = c == comm
        if not keep: others[c] = others.get(c, 0) + 1
        continue
    p = l.strip().split(' ', 1)
    cur.append(p[1] if len(p) > 1 else p[0])
if cur and keep: stacks.append(cur)
cores = float(sys.argv[2]); rooms = float(sys.argv[3]) if len(sys.argv) > 3 else 0
n = len(stacks); counts = {}
for s in stacks:
    # root first, joined, so "a;b" means a frame a below (called before) b
    j = ';'.join(f.split(' (')[0] if not f.startswith('github.com/pion/ice/v4.(*') else f for f in reversed(s))
    name = "other (runtime scheduler, timers, kernel outside these, finish_task_switch)"
    for k, pats in rules:
        if any((p in j) if ';' not in p else (p.split(';')[0] in j and p.split(';')[1] in j[j.index(p.split(';')[0]):]) for p in pats):
            name = k; break
    counts[name] = counts.get(name, 0) + 1
print("samples %d (%s: not counted: %s), server cores %.3f%s" % (n, comm, ', '.join('%s %d' % kv for kv in sorted(others.items())) or 'none', cores, ", rooms %d" % rooms if rooms else ""))
print("| where | share | cores | ms per room-second |" if rooms else "| where | share | cores |")
print("|---|---|---|---|" if rooms else "|---|---|---|")
for k, _ in rules + [("other (runtime scheduler, timers, kernel outside these, finish_task_switch)", [])]:
    c = counts.get(k, 0)
    if rooms:
        print("| %s | %.1f %% | %.3f | %.2f |" % (k, 100 * c / n, cores * c / n, 1000 * cores * c / n / rooms))
    else:
        print("| %s | %.1f %% | %.3f |" % (k, 100 * c / n, cores * c / n))
