#!/usr/bin/env python3
"""Benchmark mxnet-io's reader against MXNet 1.9.1 on this machine.

    .venv-mxnet/bin/python scripts/bench_io.py [--size-gb 1] [--runs 7]
        [--workdir bench-data] [--json OUT] [--profile] [--build]

Generates once (cached in the workdir; /bench-data is gitignored):
  * a ~SIZE GiB .params of float32 arrays with ResNet-like shapes (a widened
    pre-activation ResNet-152: conv weights, BatchNorm gamma/beta as arg:,
    moving mean/var as aux:, FC weight/bias; topped up with 4096-wide
    classifier layers), saved with mx.nd.save;
  * DenseNet-121's symbol (copied from tests/fixtures/zoo);
  * a ~5,000-node branchy residual graph (Convolution / BatchNorm /
    Activation / elemwise_add), saved with MXNet's own Symbol.save.

Then measures, each as the median of --runs runs after one warm-up, with the
files in the page cache:
  * MXNet, in this process: mx.nd.load (which also copies every value), the
    asnumpy() of every array after it, load + asnumpy, and mx.sym.load;
  * `cat FILE > /dev/null` (a fresh process per run);
  * ours, via crates/mxnet-format/examples/bench_io.rs (one process per
    file, timed in-process): ParamsFile::open (map + parse), open +
    to_f32_vec() of every array, open + a no-copy sum over the mapped values,
    and Symbol::open (read + parse).

Prints one table (task | MXNet 1.9.1 ms | ours ms | ratio | goal | met?), the
read-all-values throughput in GB/s and as % of cat's, and the machine. Speeds
are reported, never asserted: the exit status is 0 whether goals are met or
not. The example binary is built (cargo build --release) if it is missing or
--build is given.
"""
import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

os.environ.setdefault('MXNET_SUBGRAPH_BACKEND', 'NONE')

import numpy as np
import mxnet as mx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DENSENET = os.path.join(REPO, 'tests', 'fixtures', 'zoo', 'densenet121-symbol.json')
GIB = 1 << 30


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs)


# ----------------------------------------------------------------- generation

def resnet_layers(mult):
    """(name, shape) of a pre-activation ResNet-152 (MXNet's model-zoo
    names) with every width multiplied by `mult`."""
    w = lambda c: max(1, int(round(c * mult)))
    filters = [w(64), w(256), w(512), w(1024), w(2048)]
    units = [3, 8, 36, 3]
    out = []

    def bn(name, c):
        out.extend([('arg:%s_gamma' % name, (c,)), ('arg:%s_beta' % name, (c,)),
                    ('aux:%s_moving_mean' % name, (c,)), ('aux:%s_moving_var' % name, (c,))])

    bn('bn_data', 3)
    out.append(('arg:conv0_weight', (filters[0], 3, 7, 7)))
    bn('bn0', filters[0])
    for i, n in enumerate(units):
        nf = filters[i + 1]
        mid = max(1, nf // 4)
        for j in range(n):
            cin = filters[i] if j == 0 else nf
            p = 'stage%d_unit%d' % (i + 1, j + 1)
            bn(p + '_bn1', cin)
            out.append(('arg:%s_conv1_weight' % p, (mid, cin, 1, 1)))
            bn(p + '_bn2', mid)
            out.append(('arg:%s_conv2_weight' % p, (mid, mid, 3, 3)))
            bn(p + '_bn3', mid)
            out.append(('arg:%s_conv3_weight' % p, (nf, mid, 1, 1)))
            if j == 0:
                out.append(('arg:%s_sc_weight' % p, (nf, cin, 1, 1)))
    bn('bn1', filters[4])
    out.append(('arg:fc1_weight', (1000, filters[4])))
    out.append(('arg:fc1_bias', (1000,)))
    return out


def params_layout(target_bytes):
    count = lambda layers: sum(int(np.prod(s)) for _, s in layers) * 4
    mult = 0.125
    for m in (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16):
        if count(resnet_layers(m)) <= 0.9 * target_bytes:
            mult = m
    layers = resnet_layers(mult)
    left = target_bytes - count(layers)
    k = 0
    while left >= 4096 * 4 * 2:
        rows = min(4096, left // (4096 * 4) - 1)
        if rows < 1:
            break
        k += 1
        layers.append(('arg:classifier%d_weight' % k, (rows, 4096)))
        layers.append(('arg:classifier%d_bias' % k, (rows,)))
        left -= (rows * 4096 + rows) * 4
    return mult, layers


def make_params(path, size_gb):
    mult, layers = params_layout(int(size_gb * GIB))
    log('generating %s: %d arrays, ResNet-152 widths x%g ...' % (path, len(layers), mult))
    rng = np.random.default_rng(20240901)
    arrays = {}
    for name, shape in layers:
        if name.endswith('_moving_var') or name.endswith('_gamma'):
            v = rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
        else:
            v = rng.standard_normal(size=shape, dtype=np.float32)
            v *= 0.02
        arrays[name] = mx.nd.array(v, dtype=np.float32)
        del v
    tmp = path + '.tmp'
    mx.nd.save(tmp, arrays)
    os.replace(tmp, path)


def make_graph(path, target_nodes=5000):
    """A deep residual chain with branchy blocks, ~target_nodes nodes."""
    S = mx.sym
    x = S.Variable('data')
    nodes = 1
    i = 0

    def cbr(x, name, kernel, act=True):
        # Convolution (op + weight), BatchNorm (op + 4 variables), Activation.
        pad = (kernel // 2, kernel // 2)
        y = S.Convolution(x, num_filter=64, kernel=(kernel, kernel), pad=pad, no_bias=True,
                          name=name + '_conv')
        y = S.BatchNorm(y, fix_gamma=False, eps=2e-5, momentum=0.9, name=name + '_bn')
        if act:
            y = S.Activation(y, act_type='relu', name=name + '_relu')
        return y, 7 + (1 if act else 0)

    while nodes < target_nodes - 16:
        i += 1
        p = 'block%d' % i
        if i % 3 == 0:
            # Branchy: 1x1 and 3x3 paths plus identity.
            a, na = cbr(x, p + '_a', 1, act=False)
            b, nb = cbr(x, p + '_b1', 3)
            b, nb2 = cbr(b, p + '_b2', 3, act=False)
            y = S.elemwise_add(a, b, name=p + '_add1')
            y = S.elemwise_add(y, x, name=p + '_add2')
            x = S.Activation(y, act_type='relu', name=p + '_out')
            nodes += na + nb + nb2 + 3
        else:
            y, n1 = cbr(x, p + '_1', 3)
            y, n2 = cbr(y, p + '_2', 3, act=False)
            y = S.elemwise_add(y, x, name=p + '_add')
            x = S.Activation(y, act_type='relu', name=p + '_out')
            nodes += n1 + n2 + 2
    x = S.Pooling(x, global_pool=True, kernel=(7, 7), pool_type='avg', name='pool')
    x = S.Flatten(x, name='flatten')
    x = S.FullyConnected(x, num_hidden=1000, name='fc')
    x = S.SoftmaxOutput(x, name='softmax')
    tmp = path + '.tmp.json'
    x.save(tmp)
    os.replace(tmp, path)


def prepare(workdir, size_gb):
    os.makedirs(workdir, exist_ok=True)
    params = os.path.join(workdir, 'wide-resnet-%sgb.params' % ('%g' % size_gb))
    if not os.path.exists(params):
        make_params(params, size_gb)
    densenet = os.path.join(workdir, 'densenet121-symbol.json')
    if not os.path.exists(densenet):
        shutil.copyfile(DENSENET, densenet)
    graph = os.path.join(workdir, 'graph5000-symbol.json')
    if not os.path.exists(graph):
        log('generating %s ...' % graph)
        make_graph(graph)
    return params, densenet, graph


# ----------------------------------------------------------------- measuring

def bench_mxnet_params(path, runs):
    load_ms, asnumpy_ms, total_ms = [], [], []

    def once():
        t0 = time.perf_counter()
        d = mx.nd.load(path)
        mx.nd.waitall()
        t1 = time.perf_counter()
        vals = [a.asnumpy() for a in d.values()]
        t2 = time.perf_counter()
        del vals, d
        return (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t2 - t0) * 1e3

    once()
    for _ in range(runs):
        gc.collect()
        a, b, c = once()
        load_ms.append(a)
        asnumpy_ms.append(b)
        total_ms.append(c)
    # Opening alone, without asnumpy, as a separate series.
    open_ms = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        d = mx.nd.load(path)
        mx.nd.waitall()
        open_ms.append((time.perf_counter() - t0) * 1e3)
        del d
    return {'load_ms': open_ms, 'load_in_read_ms': load_ms, 'asnumpy_ms': asnumpy_ms,
            'load_asnumpy_ms': total_ms}


def bench_mxnet_symbol(path, runs):
    def once():
        t0 = time.perf_counter()
        s = mx.sym.load(path)
        dt = (time.perf_counter() - t0) * 1e3
        del s
        return dt
    once()
    return {'load_ms': [once() for _ in range(runs)]}


def bench_cat(path, runs):
    def once():
        with open(os.devnull, 'wb') as null:
            t0 = time.perf_counter()
            subprocess.run(['cat', path], stdout=null, check=True)
            return (time.perf_counter() - t0) * 1e3
    once()
    ms = [once() for _ in range(runs)]
    # Cost of starting cat at all (included above, not subtracted).
    spawn = []
    with open(os.devnull, 'wb') as null:
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(['cat', os.devnull], stdout=null, check=True)
            spawn.append((time.perf_counter() - t0) * 1e3)
    return {'ms': ms, 'spawn_ms': spawn}


def example_binary(build):
    target = os.environ.get('CARGO_TARGET_DIR', os.path.join(REPO, 'target'))
    exe = os.path.join(target, 'release', 'examples', 'bench_io')
    if build or not os.path.exists(exe):
        log('building %s ...' % exe)
        subprocess.run(['cargo', 'build', '--release', '-p', 'mxnet-format', '--example',
                        'bench_io'], cwd=REPO, check=True)
    return exe


def run_ours(exe, mode, path, runs):
    out = subprocess.run([exe, mode, path, '--runs', str(runs)], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


# ----------------------------------------------------------------- report

def machine():
    model, cpus = platform.processor() or '?', 0
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and model in ('?', '', platform.processor()):
                    model = line.split(':', 1)[1].strip()
                if line.startswith('processor'):
                    cpus += 1
    except OSError:
        pass
    mem = None
    try:
        with open('/proc/meminfo') as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {'cpu': model, 'logical_cpus': cpus or os.cpu_count(),
            'affinity_cpus': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
            'mem_bytes': mem, 'kernel': platform.release(), 'python': platform.python_version(),
            'mxnet': mx.__version__, 'numpy': np.__version__}


def fmt_ms(v):
    return '-' if v is None else ('%.3f' % v if v < 10 else '%.1f' % v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size-gb', type=float, default=1.0, help='params size in GiB (default 1)')
    ap.add_argument('--runs', type=int, default=7, help='timed runs per measurement (default 7)')
    ap.add_argument('--workdir', default=os.path.join(REPO, 'bench-data'))
    ap.add_argument('--json', metavar='OUT', help='also save all runs and medians here')
    ap.add_argument('--build', action='store_true', help='run cargo build even if the binary exists')
    ap.add_argument('--profile', action='store_true',
                    help='also time sub-steps of our read (map, parse, page faults, copies)')
    args = ap.parse_args()

    exe = example_binary(args.build)
    params, densenet, graph = prepare(args.workdir, args.size_gb)
    nbytes = os.path.getsize(params)
    runs = args.runs

    log('page cache: warming %s ...' % params)
    subprocess.run(['cat', params], stdout=subprocess.DEVNULL, check=True)

    log('cat ...')
    cat = bench_cat(params, runs)
    log('ours: params ...')
    ours_p = run_ours(exe, 'params', params, runs)
    log('MXNet: nd.load / asnumpy ...')
    mx_p = bench_mxnet_params(params, runs)
    log('symbols ...')
    syms = {}
    for key, path in (('densenet121', densenet), ('graph5000', graph)):
        syms[key] = {'file': path, 'mxnet': bench_mxnet_symbol(path, runs),
                     'ours': run_ours(exe, 'symbol', path, runs)}
    prof = None
    if args.profile:
        log('ours: profile ...')
        prof = run_ours(exe, 'profile', params, runs)

    m_cat = median(cat['ms'])
    rows = []

    def row(task, mxv, ours, goal_text, met):
        ratio = (mxv / ours) if (mxv is not None and ours) else None
        rows.append({'task': task, 'mxnet_ms': mxv, 'ours_ms': ours, 'ratio': ratio,
                     'goal': goal_text, 'met': met})

    gb = nbytes / 1e9
    o_open = median(ours_p['open_ms'])
    m_load = median(mx_p['load_ms'])
    row('open .params (%.2f GB, %d arrays)' % (gb, ours_p['arrays']), m_load, o_open,
        '>= 10x MXNet', m_load / o_open >= 10)
    o_all = median(ours_p['read_all_ms'])
    o_sum = median(ours_p['read_sum_ms'])
    m_all = median(mx_p['load_asnumpy_ms'])
    row('read all values: open + to_f32_vec', m_all, o_all, '>= 70% of cat',
        m_cat / o_all >= 0.7)
    o_into = median(ours_p['read_into_ms'])
    row('read all values: open + read_f32_into a reused buffer', m_all, o_into, '>= 70% of cat',
        m_cat / o_into >= 0.7)
    row('read all values: open + sum in place, no copy', m_all, o_sum, '>= 70% of cat',
        m_cat / o_sum >= 0.7)
    row('cat FILE > /dev/null (page cache)', None, m_cat, 'baseline', None)
    for key, label in (('densenet121', 'DenseNet-121'), ('graph5000', 'generated')):
        s = syms[key]
        mv, ov = median(s['mxnet']['load_ms']), median(s['ours']['load_ms'])
        row('symbol JSON: %s (%d nodes, %d KB)' % (label, s['ours']['nodes'],
                                                     s['ours']['bytes'] // 1000),
            mv, ov, '>= 5x MXNet', mv / ov >= 5)

    mach = machine()
    print('mxnet-io bench_io: median of %d runs (after 1 warm-up), page cache warm' % runs)
    print('machine: %s, %s logical CPUs (%s usable), %.1f GiB RAM, Linux %s; MXNet %s' % (
        mach['cpu'], mach['logical_cpus'], mach['affinity_cpus'],
        (mach['mem_bytes'] or 0) / GIB, mach['kernel'], mach['mxnet']))
    print()
    heads = ['task', 'MXNet 1.9.1 ms', 'ours ms', 'ratio (MXNet/ours)', 'goal', 'met?']
    table = [[r['task'], fmt_ms(r['mxnet_ms']), fmt_ms(r['ours_ms']),
              '-' if r['ratio'] is None else '%.1fx' % r['ratio'], r['goal'],
              '-' if r['met'] is None else ('yes' if r['met'] else 'NO')] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(heads)]
    line = lambda cells: '| ' + ' | '.join(
        c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + ' |'
    print(line(heads))
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for t in table:
        print(line(t))
    print()
    thr = lambda ms: gb / (ms / 1e3)
    print('read all values, throughput over %.3f GB (%% of cat = cat ms / ms):' % gb)
    print('  cat FILE > /dev/null       %6.2f GB/s  100%%  (process spawn %.1f ms included)' % (
        thr(m_cat), median(cat['spawn_ms'])))
    for label, v in (('ours open + to_f32_vec    ', o_all), ('ours open + read_f32_into ', o_into),
                     ('ours open + sum (no copy)  ', o_sum),
                     ('MXNet nd.load + asnumpy   ', m_all), ('MXNet nd.load alone       ', m_load)):
        print('  %s %6.2f GB/s %4.0f%%' % (label, thr(v), 100 * m_cat / v))
    print('  (ours, reads after open: to_f32_vec %.1f ms, sum %.1f ms; MXNet asnumpy after load %.1f ms)' % (
        median(ours_p['read_all_only_ms']), median(ours_p['read_sum_only_ms']),
        median(mx_p['asnumpy_ms'])))
    print('  (symbol parse from memory, ours: DenseNet-121 %.2f ms, generated %.2f ms)' % (
        median(syms['densenet121']['ours']['parse_ms']), median(syms['graph5000']['ours']['parse_ms'])))
    if prof:
        print()
        print('profile of our read, medians over the %.3f GB file:' % gb)
        for k, v in prof.items():
            mv = median(v)
            if k.endswith('_minflt'):
                print('  %-30s %9d page faults' % (k, mv))
            elif mv >= 1:
                print('  %-30s %9.2f ms  %6.2f GB/s' % (k, mv, thr(mv)))
            else:
                print('  %-30s %9.2f ms' % (k, mv))
        print('  (read_all_minflt %d, read_sum_minflt %d page faults per run)' % (
            median(ours_p['read_all_minflt']), median(ours_p['read_sum_minflt'])))

    if args.json:
        res = {'machine': mach, 'runs': runs, 'params_file': params, 'params_bytes': nbytes,
               'rows': rows, 'cat': cat, 'mxnet_params': mx_p, 'ours_params': ours_p,
               'symbols': syms, 'profile': prof}
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=1)
            f.write('\n')
        log('wrote %s' % args.json)


if __name__ == '__main__':
    main()
