#!/usr/bin/env python3
"""cpusample.py OUT SERVER_PID HARNESS_PID [REDIS_PID]: every 2 s until the harness exits, one line
of the box's CPU use in cores: t, all busy (/proc/stat), server, harness, redis, everything else
(other agents' work sharing the box). Used by live.sh to tell a slow server from a starved one."""
import os, sys, time

HZ = os.sysconf("SC_CLK_TCK")


def busy():
    f = open("/proc/stat").readline().split()[1:]
    v = list(map(int, f))
    return (sum(v) - v[3] - v[4]) / HZ  # all but idle and iowait


def proc(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
        f = s[s.rindex(")") + 2:].split()
        return (int(f[11]) + int(f[12])) / HZ
    except (OSError, ValueError):
        return None


out, pids = sys.argv[1], [int(p) for p in sys.argv[2:]]
with open(out, "w") as w:
    w.write("# t_s all_cores server harness redis others\n")
    t0 = time.time()
    prev = (time.time(), busy(), [proc(p) for p in pids])
    while proc(pids[1]) is not None:
        time.sleep(2)
        cur = (time.time(), busy(), [proc(p) for p in pids])
        dt = cur[0] - prev[0]
        per = [((c - p) / dt if c is not None and p is not None else 0.0) for c, p in zip(cur[2], prev[2])]
        per += [0.0] * (3 - len(per))
        allc = (cur[1] - prev[1]) / dt
        w.write("%.0f %.2f %.2f %.2f %.2f %.2f\n" % (cur[0] - t0, allc, per[0], per[1], per[2], max(allc - sum(per), 0)))
        w.flush()
        prev = cur
