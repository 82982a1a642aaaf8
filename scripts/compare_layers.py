#!/usr/bin/env python3
"""Time a model layer by layer in MXNet 1.9.1 and in mxnet-io, side by side.

    .venv-mxnet/bin/python scripts/compare_layers.py PREFIX SHAPE
        [--threads 2] [--runs 20] [--min-ms 0.05]

PREFIX is the model's path without `-symbol.json` (e.g.
bench-data/models/resnet18_v1, epoch 0 weights beside it); SHAPE the data
shape (e.g. 1,3,224,224).

MXNet runs its fastest inference path (the oneDNN-fused Module API, as in
scripts/bench_models.py) under its profiler with
MXNET_EXEC_BULK_EXEC_INFERENCE=0, so every fused node is timed on its own;
ours runs `mxnet-io bench PREFIX-symbol.json --profile node -f json`, which
times every step in the order it runs. The two lists are lined up by op kind
(MXNet's `_sg_mkldnn_conv` is a Convolution with what it fused, ours names
the fused chain `Convolution+BatchNorm+...`) with difflib, and each pair is
printed with both medians and their ratio, then the totals. Steps only one
side has (MXNet's Flatten, our Dropout) are printed with a blank partner.

Per-step times include each side's per-op overhead and add up to more than
a whole pass; compare the ratios, and remember that MXNet keeps oneDNN's
blocked layout between fused nodes (its first node pays the conversion).
"""
import argparse
import difflib
import json
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MX_WORKER = r'''
import json, os, sys
import mxnet as mx
import numpy as np
prefix, shape, runs, trace = sys.argv[1], tuple(int(x) for x in sys.argv[2].split(',')), int(sys.argv[3]), sys.argv[4]
sym, arg, aux = mx.model.load_checkpoint(prefix, 0)
mod = mx.mod.Module(sym, data_names=['data'], label_names=None, context=mx.cpu())
mod.bind(data_shapes=[('data', shape)], for_training=False)
mod.set_params(arg, aux, allow_missing=True)
batch = mx.io.DataBatch([mx.nd.array(np.random.RandomState(0).randn(*shape).astype('float32'))])
for _ in range(3):
    mod.forward(batch, is_train=False)
    mod.get_outputs()[0].wait_to_read()
mx.profiler.set_config(profile_symbolic=True, profile_imperative=False, aggregate_stats=False, filename=trace)
mx.profiler.set_state('run')
for _ in range(runs):
    mod.forward(batch, is_train=False)
    mod.get_outputs()[0].wait_to_read()
mx.profiler.set_state('stop')
mx.profiler.dump()
'''


def mxnet_steps(prefix, shape, threads, runs):
    """[(op, median ms)] per fused node, in run order."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, 'trace.json')
        env = dict(os.environ, MXNET_SUBGRAPH_BACKEND='MKLDNN', MXNET_EXEC_BULK_EXEC_INFERENCE='0',
                   OMP_NUM_THREADS=str(threads), MXNET_CPU_WORKER_NTHREADS='1',
                   MXNET_ENGINE_TYPE='ThreadedEnginePerDevice')
        subprocess.run([sys.executable, '-c', MX_WORKER, prefix, shape, str(runs), trace],
                       env=env, check=True, stderr=subprocess.DEVNULL)
        with open(trace) as f:
            events = json.load(f)['traceEvents']
    begun, ops = {}, []
    for e in events:
        if e.get('cat') != 'operator' or e.get('ph') not in ('B', 'E', 'X'):
            continue
        key = (e.get('pid'), e.get('tid'), e['name'])
        if e['ph'] == 'X':
            ops.append((e['ts'], e['name'], e['dur']))
        elif e['ph'] == 'B':
            begun[key] = e['ts']
        elif key in begun:
            start = begun.pop(key)
            ops.append((start, e['name'], e['ts'] - start))
    ops.sort()
    per = len(ops) // runs
    return [(ops[i][1], statistics.median(ops[r * per + i][2] for r in range(runs)) / 1e3)
            for i in range(per)]


def our_steps(prefix, shape, threads, runs):
    """[(name, ms per run)] per step, in run order."""
    exe = os.path.join(REPO, 'target', 'release', 'mxnet-io')
    if not os.path.exists(exe):
        subprocess.run(['cargo', 'build', '--release', '-p', 'mxnet-cli'], cwd=REPO, check=True)
    out = subprocess.run([exe, 'bench', prefix + '-symbol.json', '-s', 'data=' + shape, '--threads',
                          str(threads), '--runs', str(runs), '--warmup', '3', '--profile', 'node',
                          '-f', 'json', '-q'], check=True, capture_output=True, text=True).stdout
    return [(p['name'], p['ms_per_run']) for p in json.loads(out)['profile']]


def kind_mx(op):
    return {'_sg_mkldnn_conv': 'Convolution',
            '_sg_mkldnn_fully_connected': 'FullyConnected'}.get(op, op)


def kind_ours(name):
    # "node Convolution+BatchNorm+Activation (shapes) -> (shapes)"
    return name.split(' ')[1].split('+')[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('prefix')
    ap.add_argument('shape')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--runs', type=int, default=20)
    ap.add_argument('--min-ms', type=float, default=0.0, help='hide pairs where both are faster')
    args = ap.parse_args()
    mx = mxnet_steps(args.prefix, args.shape, args.threads, args.runs)
    ours = our_steps(args.prefix, args.shape, args.threads, args.runs)
    match = difflib.SequenceMatcher(a=[kind_mx(o) for o, _ in mx], b=[kind_ours(n) for n, _ in ours],
                                    autojunk=False)
    print('%9s %9s %6s  %s' % ('MXNet ms', 'ours ms', 'ratio', 'step (ours, or MXNet op)'))
    for tag, i0, i1, j0, j1 in match.get_opcodes():
        pairs = list(zip(range(i0, i1), range(j0, j1))) if tag == 'equal' else \
            [(i, None) for i in range(i0, i1)] + [(None, j) for j in range(j0, j1)]
        for i, j in pairs:
            a = mx[i][1] if i is not None else None
            b = ours[j][1] if j is not None else None
            if max(a or 0, b or 0) < args.min_ms:
                continue
            name = ours[j][0] if j is not None else '(MXNet only) ' + mx[i][0]
            ratio = '%6.2f' % (b / a) if a and b else '      '
            print('%9s %9s %s  %s' % ('%.3f' % a if a is not None else '',
                                      '%.3f' % b if b is not None else '', ratio, name[:140]))
    ta, tb = sum(t for _, t in mx), sum(t for _, t in ours)
    print('%9.3f %9.3f %6.2f  total of the steps (MXNet %d, ours %d)' % (ta, tb, tb / ta, len(mx), len(ours)))


if __name__ == '__main__':
    main()
