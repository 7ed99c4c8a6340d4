# Groups a goroutine dump (/debug/pprof/goroutine?debug=1) by the goroutine's entry function
# (its root-most frame outside the runtime) and the frame it waits in; the timer loops show as
# waiting in select/Sleep under their loop. Per room: the count divided by ROOMS.
#   python3 goroutines.py DUMP [ROOMS] [TOP]
import sys, re
rooms = float(sys.argv[2]) if len(sys.argv) > 2 else 0
top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
rows, n, fr = {}, 0, []
def flush():
    if n:
        ent = [f for f in fr if not f.startswith(('runtime.', 'sync.', 'internal/', 'context.'))]
        key = (ent[-1] if ent else (fr[-1] if fr else '?'), ent[0] if ent else '')
        rows[key] = rows.get(key, 0) + n
for l in open(sys.argv[1]):
    m = re.match(r'(\d+) @', l)
    if m:
        flush(); n = int(m.group(1)); fr = []
    elif l.startswith('#\t'):
        p = l.split()
        if len(p) >= 3: fr.append(p[2].rsplit('+', 1)[0])
flush()
tot = sum(rows.values())
print("goroutines %d%s" % (tot, ", per room %.1f" % (tot / rooms) if rooms else ""))
print("| goroutines | per room | entry | waits in |")
print("|---|---|---|---|")
for (e, w), c in sorted(rows.items(), key=lambda kv: -kv[1])[:top]:
    print("| %d | %s | %s | %s |" % (c, "%.2f" % (c / rooms) if rooms else "", e, w if w != e else ""))
