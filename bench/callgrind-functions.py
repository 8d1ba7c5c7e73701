#!/usr/bin/env python3
"""Per-function instruction counts of a callgrind dump kept by `bench/instructions.ts --profile DIR`.

callgrind names V8's JIT code only by address; the measured process ran with `--perf-basic-prof`,
so its /tmp/perf-<pid>.map (copied beside the dump) names each address range. Usage:

    python3 bench/callgrind-functions.py DIR/server-preset-1.out [--calls 2000] [--top 40]
    python3 bench/callgrind-functions.py A.out B.out   # B minus A, per function, largest first

Prints self instructions per call, and inclusive (self plus callees) per call, per function.
"""
import bisect
import os
import re
import sys
from collections import defaultdict


def load_map(path):
    starts, ends, names = [], [], []
    if not os.path.exists(path):
        return starts, ends, names
    rows = []
    with open(path, errors='replace') as f:
        for line in f:
            parts = line.rstrip('\n').split(' ', 2)
            if len(parts) < 3:
                continue
            start, size = int(parts[0], 16), int(parts[1], 16)
            rows.append((start, start + size, parts[2]))
    rows.sort()
    for s, e, n in rows:
        starts.append(s)
        ends.append(e)
        names.append(n)
    return starts, ends, names


def namer(map_path):
    starts, ends, names = load_map(map_path)

    def name(raw):
        m = re.fullmatch(r'0x([0-9a-fA-F]+)', raw)
        if not m or not starts:
            return raw
        addr = int(m.group(1), 16)
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < ends[i]:
            # Drop the V8 tier marker's address noise, keep the function and its script position.
            return 'JS ' + names[i]
        return raw

    return name


def parse(path):
    name = namer(re.sub(r'\.out$', '.map', path))
    ids = {}
    self_cost = defaultdict(int)
    incl_calls = defaultdict(int)
    edges = defaultdict(int)
    total = 0
    fn = None
    cfn = None
    after_call = False
    with open(path, errors='replace') as f:
        for line in f:
            if not line or line[0] == '\n':
                continue
            c = line[0]
            if c.isdigit() or c in '+-*':
                parts = line.split()
                if len(parts) < 2:
                    continue
                cost = int(parts[1])
                if after_call:
                    incl_calls[fn] += cost
                    edges[(fn, cfn)] += cost
                    after_call = False
                else:
                    self_cost[fn] += cost
                    total += cost
                continue
            if line.startswith('fn='):
                fn = resolve(ids, line[3:].strip(), name)
            elif line.startswith('calls='):
                after_call = True
            elif line.startswith('cfn='):
                cfn = resolve(ids, line[4:].strip(), name)
    incl = {k: self_cost.get(k, 0) + incl_calls.get(k, 0) for k in set(self_cost) | set(incl_calls)}
    parse.edges = edges
    return self_cost, incl, total


def resolve(ids, text, name):
    m = re.match(r'\((\d+)\)\s*(.*)', text)
    if m:
        key, rest = m.group(1), m.group(2)
        if rest:
            ids[key] = name(rest)
        return ids.get(key, key)
    return name(text)


CATEGORIES = [
    # Garbage collection: scavenges, mark-compact, sweeping (self cost of the collector's functions).
    ('gc', re.compile(r'Scaveng|Marking|MarkCompact|Mark.*Visitor|Sweeper|Evacuat|BodyDescriptor|'
                      r'Heap::|HeapObject::SizeFromMap|RememberedSet|SlotSet|Compactor|'
                      r'ConcurrentMarking|WriteBarrier|heap::base|cppgc|'
                      # The write barrier while marking, and the move events of evacuation.
                      r'RecordWrite|MarkingBarrier|OnMoveEvent')),
    # V8's optimizing compilers (TurboFan, Maglev) and deoptimization.
    ('jit', re.compile(r'compiler::|maglev|Maglev|turboshaft|Turboshaft|Deoptimiz|Zone::|'
                       r'RegisterAllocat|LiveRange|Builtins_Compile')),
    # Node's AsyncLocalStorage frames (AsyncContextFrame is a Map copied on every run).
    ('async-context', re.compile(r'async_context_frame|async_local_storage|Builtins_MapConstructor')),
]


def category(name):
    for label, pattern in CATEGORIES:
        if pattern.search(name):
            return label
    if name.startswith('JS '):
        return 'js'
    return 'other'


def main():
    args = sys.argv[1:]
    calls = 2000
    top = 40
    if '--calls' in args:
        i = args.index('--calls')
        calls = int(args[i + 1])
        del args[i : i + 2]
    if '--top' in args:
        i = args.index('--top')
        top = int(args[i + 1])
        del args[i : i + 2]
    if '--callers' in args:
        i = args.index('--callers')
        pattern = re.compile(args[i + 1])
        del args[i : i + 2]
        parse(args[0])
        rows = [(c, f, t) for (f, t), c in parse.edges.items() if pattern.search(t)]
        print('incl/call  caller -> callee')
        for c, f, t in sorted(rows, key=lambda r: -r[0])[:top]:
            print(f'{c / calls:9.0f}  {f} -> {t}')
        return
    if '--categories' in args:
        args.remove('--categories')
        rows = []
        for path in args:
            s, _, total = parse(path)
            sums = defaultdict(int)
            for k, v in s.items():
                sums[category(k)] += v
            rows.append((path, total, sums))
        labels = ['gc', 'jit', 'async-context', 'js', 'other']
        print('file | total/call | ' + ' | '.join(labels))
        for path, total, sums in rows:
            cells = ' | '.join(f'{sums[l] / calls:.0f}' for l in labels)
            print(f'{os.path.basename(path)} | {total / calls:.0f} | {cells}')
        return
    if len(args) == 1:
        s, inc, total = parse(args[0])
        print(f'total {total / calls:.0f} per call')
        print('self/call  incl/call  function')
        for k, v in sorted(s.items(), key=lambda kv: -kv[1])[:top]:
            print(f'{v / calls:9.0f}  {inc.get(k, 0) / calls:9.0f}  {k}')
    else:
        a, ai, at = parse(args[0])
        b, bi, bt = parse(args[1])
        print(f'total {at / calls:.0f} -> {bt / calls:.0f} per call ({(bt - at) / calls:+.0f})')
        print('self A/call  self B/call  diff  function')
        keys = set(a) | set(b)
        for k in sorted(keys, key=lambda k: -(b.get(k, 0) - a.get(k, 0)))[:top]:
            print(f'{a.get(k, 0) / calls:9.0f}  {b.get(k, 0) / calls:9.0f}  {(b.get(k, 0) - a.get(k, 0)) / calls:+8.0f}  {k}')


if __name__ == '__main__':
    main()
