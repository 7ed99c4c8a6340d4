import sys,re
cats = [
 ("recording: sinkFeed.run (recorder sink)", [r"sfu.\(\*sinkFeed\).run$"]),
 ("recording: embedded queue (miniredis) + archive", [r"miniredis/v2/server.\(\*Server\).servePeer$", r"archive.\(\*Archive\).runJobs$", r"archive.\(\*Archive\).runBeat$"]),
 ("fan-out: writer groups (SRTP seal, GSO runs)", [r"sfu.\(\*group\).run$"]),
 ("fan-out: flushers (sendmmsg)", [r"udpsend.\(\*Conn\).flush$"]),
 ("ingest: UDP mux reader (connWorker)", [r"UDPMuxDefault\).connWorker$"]),
 ("ingest: ICE per-connection recvLoop", [r"candidateBase\).recvLoop$"]),
 ("ingest: DTLS/SRTP demux (mux.readLoop)", [r"mux.\(\*Mux\).readLoop$"]),
 ("ingest + viewer RTCP: SRTP/SRTCP sessions (decrypt)", [r"srtp/v3.\(\*session\).start.func1$"]),
 ("ingest: track read loop (Pion interceptors + ours)", [r"sfu.\(\*upTrack\).readLoop$"]),
 ("publisher interceptors' timers (NACK, RR)", [r"nack.\(\*GeneratorInterceptor\).loop$", r"report.\(\*ReceiverInterceptor\).loop$"]),
 ("viewer RTCP: rtcpLoop (handleRTCP, resends)", [r"sfu.\(\*Subscriber\).rtcpLoop$"]),
 ("ICE task loop (consent, keepalives)", [r"taskloop.\(\*Loop\).runLoop$"]),
 ("GC background marking", [r"runtime.gcBgMarkWorker$"]),
 ("scheduler: finish_task_switch (self)", [r"finish_task_switch"]),
]
lines = open(sys.argv[1]).read().splitlines()
for name, pats in cats:
    tot = 0.0
    for l in lines:
        m = re.match(r'\s+([\d.]+)%\s+([\d.]+)%\s+\[.\]\s+(.*)$', l)
        if not m: continue
        sym = m.group(3)
        for p in pats:
            if re.search(p, sym):
                tot += float(m.group(2) if 'finish_task' in name else m.group(1)); break
    print("%-55s %5.1f %%" % (name, tot))
