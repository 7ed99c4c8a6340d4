import sys, re
stacks=[]; cur=[]
for l in open(sys.argv[1]):
    l=l.rstrip('\n')
    if not l.strip():
        if cur: stacks.append(cur); cur=[]
        continue
    if not l.startswith((' ','\t')): 
        if cur: stacks.append(cur)
        cur=[]; continue
    parts=l.strip().split(' ',1)
    cur.append(parts[1] if len(parts)>1 else parts[0])
if cur: stacks.append(cur)
n=len(stacks); print("samples", n)
pats=sys.argv[2:]
for p in pats:
    c=sum(1 for s in stacks if any(p in f for f in s))
    print("%6.2f%%  %5d  %s"%(100*c/n,c,p))
