#!/usr/bin/env python3
"""Benchmark mxnet-io's executor against MXNet 1.9.1 on whole models.

    .venv-mxnet/bin/python scripts/bench_models.py [--models resnet50_v1,lstm]
        [--batches 1,8] [--threads 2] [--runs 20] [--warmup 3] [--rounds 1]
        [--workdir bench-data] [--json OUT] [--build | --no-build]

Generates once (cached in WORKDIR/models/; /bench-data is gitignored), as
NAME-symbol.json + NAME-0000.params written by Gluon's export():
  * full-width Gluon model-zoo nets with random weights (pretrained=False,
    Xavier init with a fixed seed per model): resnet18_v1, resnet50_v1,
    resnet50_v2, mobilenet1.0, mobilenetv2_1.0, squeezenet1.0, densenet121,
    inceptionv3 (299x299 input), vgg11_bn. BatchNorm gamma/beta are random
    (U(0.5, 1.5), N(0, 0.1)) and the running mean/var are the statistics of a
    random batch at that layer (times a random 0.8-1.25 jitter), so every
    layer sees realistic, O(1) activations (no denormals, no overflow);
  * lstm: a text classifier, Embedding 10000 x 128 (N(0, 0.5) values) -> 2-layer LSTM (hidden
    256, layout NTC) over 64 tokens -> last step -> Dense 10;
  * gru: a sequence model, 2-layer GRU (hidden 256, layout NTC) over 64 steps
    of 64-dim float inputs -> Dense 64 at every step.
  * with --models, any other net of MXNet 1.9.1's Gluon model zoo (MORE_ZOO
    below: alexnet, the other densenets, mobilenets and resnets, squeezenet1.1,
    the vggs), made the same way; nets without BatchNorm get Xavier's ReLU
    variant (He init) so their activations stay O(1).
Inputs: images (B,3,224,224) (299 for inceptionv3), lstm (B,64) float token
ids, gru (B,64,64).

For each model and batch size, each in its own process:
  * MXNet's fastest inference path: mx.mod.Module(sym, label_names=None),
    bind(for_training=False), set_params, then warm-up and timed
    forward(DataBatch, is_train=False) + get_outputs()[0].wait_to_read(),
    with OMP_NUM_THREADS=THREADS, MXNET_CPU_WORKER_NTHREADS=1,
    MXNET_ENGINE_TYPE=ThreadedEnginePerDevice and MXNET_SUBGRAPH_BACKEND=MKLDNN
    (oneDNN-fused conv+bn+relu etc., MXNet's default and fastest CPU path);
    load = from just before load_checkpoint to the first output ready
    (import mxnet excluded); peak RSS = VmHWM (/proc/self/status);
  * ours: target/release/mxnet-io bench ... --threads THREADS --format json
    (load = process start to first output; peak RSS = VmHWM).
Before timing, for the smallest batch, our outputs are checked against
MXNet's (mxnet-io run -i data=IN.npy --check REF.npz); a mismatch or a
failure is reported loudly and the benchmark goes on.

FLOPs per batch are counted from the symbol (Convolution, Deconvolution,
FullyConnected, RNN GEMMs; shapes from infer_shape on get_internals()), and
achieved GFLOP/s are given as % of the machine's peak, measured by THREADS
threads of independent FMAs on the widest vectors (the peak_flops example of
mxnet-ops); the nominal threads x `cpu MHz` x FLOPs/cycle (64 with avx512f,
32 with avx2+fma, else 8) is printed beside it, and used if that fails.

Prints one table (model | batch | MXNet ms | ours ms | ours/MXNet | GFLOP/s |
% of peak | RSS | load), the geometric mean of the ratios (all, CNN, RNN) and
the machine. Medians of --runs runs; speeds are reported, never asserted.
Our binary is built (cargo build --release -p mxnet-cli) if it is missing or
older than the sources, or if --build is given.
"""
import argparse
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import zlib

import numpy as np
import mxnet as mx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20

CNNS = ['resnet18_v1', 'resnet50_v1', 'resnet50_v2', 'mobilenet1.0', 'mobilenetv2_1.0',
        'squeezenet1.0', 'densenet121', 'inceptionv3', 'vgg11_bn']
RNNS = ['lstm', 'gru']
ALL_MODELS = CNNS + RNNS
# Every other network of MXNet 1.9.1's Gluon model zoo, for --models (not
# in the default set): the same generator, random weights.
MORE_ZOO = ['alexnet', 'densenet161', 'densenet169', 'densenet201',
            'mobilenet0.25', 'mobilenet0.5', 'mobilenet0.75',
            'mobilenetv2_0.25', 'mobilenetv2_0.5', 'mobilenetv2_0.75',
            'resnet34_v1', 'resnet101_v1', 'resnet152_v1',
            'resnet18_v2', 'resnet34_v2', 'resnet101_v2', 'resnet152_v2',
            'squeezenet1.1', 'vgg11', 'vgg13', 'vgg16', 'vgg19',
            'vgg13_bn', 'vgg16_bn', 'vgg19_bn']
# Nets without BatchNorm: plain Xavier shrinks their ReLU activations ~2x
# a layer (squeezenet's outputs ~1e-4); Xavier's ReLU variant (He init)
# keeps them O(1).
NO_BATCHNORM = ['squeezenet1.0', 'squeezenet1.1', 'alexnet', 'vgg11', 'vgg13', 'vgg16', 'vgg19']
VOCAB, SEQ_LEN, EMBED, HIDDEN, GRU_IN = 10000, 64, 128, 256, 64


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs)


def is_cnn(name):
    return name not in RNNS


def input_shape(name, batch):
    if is_cnn(name):
        size = 299 if name == 'inceptionv3' else 224
        return (batch, 3, size, size)
    if name == 'lstm':
        return (batch, SEQ_LEN)
    if name == 'gru':
        return (batch, SEQ_LEN, GRU_IN)
    raise ValueError(name)


def random_input(name, shape, seed):
    rng = np.random.default_rng(seed)
    if name == 'lstm':
        return rng.integers(0, VOCAB, size=shape).astype(np.float32)
    return rng.standard_normal(size=shape, dtype=np.float32)


# ----------------------------------------------------------------- generation

def calibrate_batchnorm(net, x, rng):
    """Random gamma/beta; running mean/var = the statistics of x's activations
    at each BatchNorm (times a small random jitter)."""
    from mxnet.gluon import nn
    bns = []

    def visit(b):
        if isinstance(b, nn.BatchNorm):
            bns.append(b)
        for c in b._children.values():
            visit(c)
    visit(net)

    def hook(block, inputs):
        a = inputs[0]
        axis = block._kwargs.get('axis', 1)
        red = tuple(i for i in range(a.ndim) if i != axis)
        bshape = [1] * a.ndim
        bshape[axis] = -1
        mean = a.mean(axis=red)
        var = ((a - mean.reshape(bshape)) ** 2).mean(axis=red)
        c = mean.shape[0]
        jit = mx.nd.array(rng.uniform(0.8, 1.25, size=c).astype(np.float32))
        block.running_mean.set_data(mean + var.sqrt() * mx.nd.array(
            rng.normal(0, 0.05, size=c).astype(np.float32)))
        block.running_var.set_data(var * jit)

    for b in bns:
        c = b.gamma.shape[0]
        b.gamma.set_data(mx.nd.array(rng.uniform(0.5, 1.5, size=c).astype(np.float32)))
        b.beta.set_data(mx.nd.array(rng.normal(0, 0.1, size=c).astype(np.float32)))
    handles = [b.register_forward_pre_hook(hook) for b in bns]
    net(x).wait_to_read()          # inference mode: each BN uses the stats just set
    for h in handles:
        h.detach()
    return len(bns)


def rnn_nets():
    from mxnet.gluon import nn, rnn

    class TextLSTM(mx.gluon.HybridBlock):
        def __init__(self, **kw):
            super().__init__(**kw)
            with self.name_scope():
                # Xavier over 10000 x 128 gives ~0.01 embeddings and ~1e-3
                # outputs; N(0, 0.5) is closer to trained embeddings.
                self.embed = nn.Embedding(VOCAB, EMBED, weight_initializer=mx.init.Normal(0.5))
                self.lstm = rnn.LSTM(HIDDEN, num_layers=2, layout='NTC', input_size=EMBED)
                self.out = nn.Dense(10, in_units=HIDDEN)

        def hybrid_forward(self, F, x):
            h = self.lstm(self.embed(x))
            return self.out(F.slice_axis(h, axis=1, begin=-1, end=None))

    class SeqGRU(mx.gluon.HybridBlock):
        def __init__(self, **kw):
            super().__init__(**kw)
            with self.name_scope():
                self.gru = rnn.GRU(HIDDEN, num_layers=2, layout='NTC', input_size=GRU_IN)
                self.out = nn.Dense(GRU_IN, flatten=False, in_units=HIDDEN)

        def hybrid_forward(self, F, x):
            return self.out(self.gru(x))

    return {'lstm': lambda: TextLSTM(prefix='lstm_'), 'gru': lambda: SeqGRU(prefix='gru_')}


def make_model(name, prefix):
    seed = zlib.crc32(name.encode()) & 0x7fffffff
    mx.random.seed(seed)
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    if is_cnn(name):
        from mxnet.gluon.model_zoo import vision
        net = vision.get_model(name, pretrained=False)
    else:
        net = rnn_nets()[name]()
    if name in NO_BATCHNORM:
        init = mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2)
    else:
        init = mx.init.Xavier()
    net.initialize(init, ctx=mx.cpu())
    x = mx.nd.array(random_input(name, input_shape(name, 2), seed))
    net(x).wait_to_read()          # finishes deferred initialisation
    nbn = calibrate_batchnorm(net, x, rng) if is_cnn(name) else 0
    net.hybridize(static_alloc=False)
    y = net(x)
    y.wait_to_read()
    tmp = os.path.join(os.path.dirname(prefix), '.tmp-' + os.path.basename(prefix))
    net.export(tmp, epoch=0)
    os.replace(tmp + '-0000.params', prefix + '-0000.params')
    os.replace(tmp + '-symbol.json', prefix + '-symbol.json')
    a = y.asnumpy()
    log('  %s: %d BatchNorms calibrated; output %s, mean |y| %.3g, max |y| %.3g' % (
        name, nbn, a.shape, np.abs(a).mean(), np.abs(a).max()))


def prepare(models, workdir):
    mdir = os.path.join(workdir, 'models')
    os.makedirs(os.path.join(mdir, 'check'), exist_ok=True)
    prefixes = {}
    for name in models:
        prefix = os.path.join(mdir, name)
        if not (os.path.exists(prefix + '-symbol.json') and os.path.exists(prefix + '-0000.params')):
            log('generating %s ...' % prefix)
            make_model(name, prefix)
        prefixes[name] = prefix
    return prefixes


# ----------------------------------------------------------------- FLOPs

def prod(xs):
    return int(np.prod(xs, dtype=np.int64)) if len(xs) else 1


def count_flops(symbol_path, shape):
    """FLOPs of one forward pass (multiply-add = 2) by op type."""
    sym = mx.sym.load(symbol_path)
    nodes = json.loads(sym.tojson())['nodes']
    internals = sym.get_internals()
    names = internals.list_outputs()
    _, out_shapes, _ = internals.infer_shape(data=shape)
    shape_of = dict(zip(names, out_shapes))
    # (node id, output index) -> internal output name. get_internals() lists
    # every node's outputs in the JSON's (topological) node order.
    entry, pos = {}, 0
    for i, n in enumerate(nodes):
        if n['op'] == 'null':
            entry[(i, 0)] = names[pos]
            pos += 1
            continue
        nxt = nodes[i + 1] if i + 1 < len(nodes) else None
        k = 0
        while pos < len(names) and names[pos].startswith(n['name'] + '_'):
            if nxt is not None and (names[pos] == nxt['name'] if nxt['op'] == 'null'
                                    else names[pos].startswith(nxt['name'] + '_')) and k > 0:
                break
            entry[(i, k)] = names[pos]
            k += 1
            pos += 1
    if pos != len(names):
        raise RuntimeError('%s: could not match internal outputs to nodes' % symbol_path)

    def in_shape(n, j):
        e = n['inputs'][j]
        return shape_of[entry[(e[0], e[1])]]

    flops = {}
    for i, n in enumerate(nodes):
        op, attrs = n['op'], n.get('attrs', {})
        if op == 'Convolution':
            f = 2 * prod(shape_of[entry[(i, 0)]]) * prod(in_shape(n, 1)[1:])
        elif op == 'Deconvolution':
            f = 2 * prod(in_shape(n, 0)) * prod(in_shape(n, 1)[1:])
        elif op == 'FullyConnected':
            f = 2 * prod(shape_of[entry[(i, 0)]]) * in_shape(n, 1)[1]
        elif op == 'RNN':
            t, b, inp = in_shape(n, 0)
            h = int(attrs['state_size'])
            layers = int(attrs.get('num_layers', 1))
            dirs = 2 if attrs.get('bidirectional', 'False') in ('True', 'true', '1') else 1
            gates = {'lstm': 4, 'gru': 3}.get(attrs['mode'], 1)
            f = 0
            for layer in range(layers):
                i_l = inp if layer == 0 else dirs * h
                f += dirs * 2 * t * b * gates * h * (i_l + h)
        else:
            continue
        flops[op] = flops.get(op, 0) + f
    return flops


# ----------------------------------------------------------------- machine

def cpuinfo():
    info = {'cpu': platform.processor() or '?', 'mhz': None, 'flags': set(), 'logical_cpus': 0}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                k, _, v = line.partition(':')
                k, v = k.strip(), v.strip()
                if k == 'processor':
                    info['logical_cpus'] += 1
                elif k == 'model name' and info['logical_cpus'] == 1:
                    info['cpu'] = v
                elif k == 'cpu MHz' and info['mhz'] is None:
                    info['mhz'] = float(v)
                elif k == 'flags' and not info['flags']:
                    info['flags'] = set(v.split())
    except OSError:
        pass
    return info


def peak_model(threads):
    info = cpuinfo()
    flags = info['flags']
    if 'avx512f' in flags:
        fpc, isa = 64, 'avx512f: 2 FMA x 16 floats x 2'
    elif 'avx2' in flags and 'fma' in flags:
        fpc, isa = 32, 'avx2+fma: 2 FMA x 8 floats x 2'
    else:
        fpc, isa = 8, 'no avx2+fma: 8'
    mhz = info['mhz'] or 0.0
    nominal = threads * mhz * fpc / 1e3
    # The nominal figure misses boost clocks and half-width AVX-512 units
    # (Zen 4 runs 512-bit FMAs as two 256-bit halves: 32 FLOPs/cycle, not
    # 64), so measure it: THREADS threads of independent FMAs.
    measured = None
    try:
        out = subprocess.run(
            ['cargo', 'run', '-q', '--release', '-p', 'mxnet-ops', '--example', 'peak_flops',
             '--', str(threads)], cwd=REPO, check=True, capture_output=True, text=True).stdout
        measured = json.loads(out)['gflops']
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError) as e:
        log('could not measure the peak (%s); using the nominal figure' % e)
    return {'threads': threads, 'mhz': mhz, 'flops_per_cycle': fpc, 'isa': isa,
            'nominal_gflops': nominal, 'measured_gflops': measured,
            'peak_gflops': measured or nominal}


def git_commit():
    try:
        c = subprocess.run(['git', 'rev-parse', '--short=12', 'HEAD'], cwd=REPO, check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True).stdout.strip()
        return c + ('-dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return '?'


def machine(exe):
    info = cpuinfo()
    ver = '?'
    try:
        ver = subprocess.run([exe, '--version'], stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        pass
    return {'cpu': info['cpu'], 'logical_cpus': info['logical_cpus'] or os.cpu_count(),
            'affinity_cpus': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
            'kernel': platform.release(), 'python': platform.python_version(),
            'mxnet': mx.__version__, 'mkldnn': mx.runtime.Features().is_enabled('MKLDNN'),
            'ours': ver, 'commit': git_commit(),
            'loadavg': os.getloadavg() if hasattr(os, 'getloadavg') else None}


# ----------------------------------------------------------------- our binary

def binary(build, no_build):
    target = os.environ.get('CARGO_TARGET_DIR', os.path.join(REPO, 'target'))
    exe = os.path.join(target, 'release', 'mxnet-io')
    if no_build and os.path.exists(exe):
        return exe
    stale = not os.path.exists(exe)
    if not stale:
        built = os.path.getmtime(exe)
        for top in ('crates', 'Cargo.toml', 'Cargo.lock'):
            p = os.path.join(REPO, top)
            if os.path.isfile(p):
                stale |= os.path.getmtime(p) > built
                continue
            for d, _, files in os.walk(p):
                if '/target' in d:
                    continue
                for f in files:
                    if f.endswith('.rs') or f == 'Cargo.toml':
                        stale |= os.path.getmtime(os.path.join(d, f)) > built
    if build or stale:
        log('%s: %s; cargo build --release -p mxnet-cli ...' % (
            exe, 'forced' if build else 'missing or older than the sources'))
        subprocess.run(['cargo', 'build', '--release', '-p', 'mxnet-cli'], cwd=REPO, check=True)
    return exe


def tail(text, n=6):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return '\n'.join(lines[-n:])


def ours_check(exe, prefix, inp, ref, threads, rtol, atol):
    cmd = [exe, 'run', prefix + '-symbol.json', '-i', 'data=' + inp, '--check', ref,
           '--threads', str(threads), '--rtol', str(rtol), '--atol', str(atol)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    diffs = [float(x) for x in re.findall(r'max \|difference\| ([0-9.eE+-]+)', p.stdout + p.stderr)]
    return {'ok': p.returncode == 0, 'returncode': p.returncode, 'cmd': ' '.join(cmd),
            'max_abs_diff': max(diffs) if diffs else None,
            'message': tail(p.stderr + '\n' + (p.stdout if p.returncode else ''))}


def ours_bench(exe, prefix, shape, threads, runs, warmup, env):
    cmd = [exe, 'bench', prefix + '-symbol.json', '-s', 'data=' + ','.join(map(str, shape)),
           '--threads', str(threads), '--runs', str(runs), '--warmup', str(warmup),
           '--format', 'json', '-q']
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        return {'error': tail(p.stderr) or 'exit status %d' % p.returncode, 'cmd': ' '.join(cmd)}
    r = json.loads(p.stdout)
    return {'median_ms': median(r['run_ms']), 'min_ms': r['min_ms'], 'max_ms': r['max_ms'],
            'run_ms': r['run_ms'], 'load_ms': r['load_ms'],
            'peak_rss_bytes': r['peak_rss_bytes'], 'threads': r.get('threads'), 'cmd': ' '.join(cmd)}


# ----------------------------------------------------------------- MXNet worker

def mxnet_env(threads):
    env = dict(os.environ)
    env.update({'OMP_NUM_THREADS': str(threads), 'MXNET_CPU_WORKER_NTHREADS': '1',
                'MXNET_ENGINE_TYPE': 'ThreadedEnginePerDevice',
                'MXNET_SUBGRAPH_BACKEND': 'MKLDNN'})
    return env


def peak_rss_bytes():
    """This process's peak resident set since it started (VmHWM).

    Not getrusage's ru_maxrss: Linux carries the peak of the image a process
    replaced with exec() into it, so a worker started by a parent that had
    just generated vgg-19 reported the parent's 5.5 GB."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(argv):
    """In a fresh process (env set by the parent): time MXNet's Module path."""
    ap = argparse.ArgumentParser()
    ap.add_argument('prefix')
    ap.add_argument('--input', required=True)
    ap.add_argument('--runs', type=int, required=True)
    ap.add_argument('--warmup', type=int, required=True)
    ap.add_argument('--save-outputs')
    a = ap.parse_args(argv)
    rss_import = peak_rss_bytes()
    data = mx.nd.array(np.load(a.input))
    data.wait_to_read()
    t0 = time.perf_counter()
    sym, arg, aux = mx.model.load_checkpoint(a.prefix, 0)
    mod = mx.mod.Module(sym, data_names=['data'], label_names=None, context=mx.cpu())
    mod.bind(for_training=False, data_shapes=[('data', data.shape)])
    mod.set_params(arg, aux)
    batch = mx.io.DataBatch([data])
    mod.forward(batch, is_train=False)
    mod.get_outputs()[0].wait_to_read()
    load_ms = (time.perf_counter() - t0) * 1e3
    if a.save_outputs:
        outs = {n: o.asnumpy() for n, o in zip(sym.list_outputs(), mod.get_outputs())}
        np.savez(a.save_outputs, **outs)
    for _ in range(a.warmup):
        mod.forward(batch, is_train=False)
        mod.get_outputs()[0].wait_to_read()
    run_ms = []
    for _ in range(a.runs):
        t = time.perf_counter()
        mod.forward(batch, is_train=False)
        mod.get_outputs()[0].wait_to_read()
        run_ms.append((time.perf_counter() - t) * 1e3)
    rss = peak_rss_bytes()
    try:
        fused = json.loads(sym.get_backend_symbol('MKLDNN').tojson())['nodes']
        fused = sum(1 for n in fused if n['op'].startswith('_sg_mkldnn'))
    except mx.base.MXNetError:
        fused = None
    print('RESULT ' + json.dumps({
        'median_ms': median(run_ms), 'min_ms': min(run_ms), 'max_ms': max(run_ms),
        'run_ms': run_ms, 'load_ms': load_ms, 'peak_rss_bytes': rss,
        'rss_after_import_bytes': rss_import,
        'mkldnn': mx.runtime.Features().is_enabled('MKLDNN'),
        'subgraph_backend': os.environ.get('MXNET_SUBGRAPH_BACKEND'),
        'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
        'mkldnn_fused_nodes': fused}), flush=True)


def mxnet_bench(prefix, inp, runs, warmup, threads, save_outputs=None):
    cmd = [sys.executable, os.path.abspath(__file__), '_mxnet_worker', prefix, '--input', inp,
           '--runs', str(runs), '--warmup', str(warmup)]
    if save_outputs:
        cmd += ['--save-outputs', save_outputs]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=mxnet_env(threads))
    for line in p.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[7:])
    return {'error': tail(p.stderr) or 'exit status %d' % p.returncode}


# ----------------------------------------------------------------- report

def merge_rounds(results):
    """One side's results of several rounds as one: every timed run pooled
    (median, min, max over all), the median load time, the largest peak
    RSS; the first error if any round failed."""
    for r in results:
        if 'error' in r:
            return r
    if len(results) == 1:
        return results[0]
    out = dict(results[0])
    runs = [t for r in results for t in r['run_ms']]
    out.update(run_ms=runs, median_ms=median(runs), min_ms=min(runs), max_ms=max(runs),
               load_ms=median([r['load_ms'] for r in results]),
               peak_rss_bytes=max(r['peak_rss_bytes'] for r in results), rounds=len(results))
    return out


def fmt(v, digits=1):
    if v is None:
        return '-'
    if isinstance(v, str):
        return v
    if digits == 1 and abs(v) < 10:
        return '%.2f' % v
    return '%.*f' % (digits, v)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def print_table(heads, table, left=(0,)):
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(heads)]
    line = lambda cells: '| ' + ' | '.join(
        c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + ' |'
    print(line(heads))
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for t in table:
        print(line(t))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default=','.join(ALL_MODELS),
                    help='comma-separated, from: %s (default: these), or any other net of '
                         'the Gluon model zoo: %s' % (','.join(ALL_MODELS), ','.join(MORE_ZOO)))
    ap.add_argument('--batches', default='1,8', help='batch sizes (default 1,8)')
    ap.add_argument('--threads', type=int, default=2, help='threads for both (default 2)')
    ap.add_argument('--runs', type=int, default=20, help='timed runs (default 20)')
    ap.add_argument('--warmup', type=int, default=3, help='untimed warm-up runs (default 3)')
    ap.add_argument('--rounds', type=int, default=1,
                    help='alternate MXNet and ours this many times per model and batch, each '
                         'a fresh process, and pool the timed runs (default 1; the machine\'s '
                         'slow spells then hit both sides)')
    ap.add_argument('--workdir', default=os.path.join(REPO, 'bench-data'))
    ap.add_argument('--json', metavar='OUT', help='also save every run and all medians here')
    ap.add_argument('--rtol', type=float, default=1e-3, help='--check rtol (default 1e-3)')
    ap.add_argument('--atol', type=float, default=1e-4, help='--check atol (default 1e-4)')
    ap.add_argument('--no-check', action='store_true', help='skip the output check')
    bg = ap.add_mutually_exclusive_group()
    bg.add_argument('--build', action='store_true', help='run cargo build even if the binary is fresh')
    bg.add_argument('--no-build', action='store_true', help='never build (use the binary as it is)')
    args = ap.parse_args()

    models = [m.strip() for m in args.models.split(',') if m.strip()]
    bad = [m for m in models if m not in ALL_MODELS + MORE_ZOO]
    if bad:
        ap.error('unknown model(s) %s; choose from %s' % (
            ','.join(bad), ','.join(ALL_MODELS + MORE_ZOO)))
    batches = sorted({int(b) for b in args.batches.split(',') if b.strip()})
    threads = args.threads

    exe = binary(args.build, args.no_build)
    prefixes = prepare(models, args.workdir)
    cdir = os.path.join(args.workdir, 'models', 'check')
    peak = peak_model(threads)
    ours_env = dict(os.environ, OMP_NUM_THREADS=str(threads))

    rows, checks = [], {}
    for name in models:
        prefix = prefixes[name]
        for bi, batch in enumerate(batches):
            shape = input_shape(name, batch)
            seed = (zlib.crc32(name.encode()) + batch) & 0x7fffffff
            inp = os.path.join(cdir, '%s-b%d-in.npy' % (name, batch))
            np.save(inp, random_input(name, shape, seed))
            flops = count_flops(prefix + '-symbol.json', shape)
            check_now = bi == 0 and not args.no_check
            ref = os.path.join(cdir, '%s-b%d-ref.npz' % (name, batch)) if check_now else None
            log('%s batch %d: MXNet ...' % (name, batch))
            m = mxnet_bench(prefix, inp, args.runs, args.warmup, threads, save_outputs=ref)
            more_m, more_o = [], []
            if 'error' in m:
                log('!!! %s batch %d: MXNet FAILED:\n%s' % (name, batch, m['error']))
            if check_now and 'error' not in m:
                c = ours_check(exe, prefix, inp, ref, threads, args.rtol, args.atol)
                checks[name] = c
                if c['ok']:
                    log('%s: outputs match MXNet (max |difference| %s; rtol %g, atol %g)' % (
                        name, c['max_abs_diff'], args.rtol, args.atol))
                else:
                    log('!!! %s: OUR OUTPUTS DO NOT MATCH MXNET (or the run failed):\n%s' % (
                        name, c['message']))
            log('%s batch %d: ours ...' % (name, batch))
            o = ours_bench(exe, prefix, shape, threads, args.runs, args.warmup, ours_env)
            for rnd in range(2, args.rounds + 1):
                log('%s batch %d: round %d of %d ...' % (name, batch, rnd, args.rounds))
                more_m.append(mxnet_bench(prefix, inp, args.runs, args.warmup, threads))
                more_o.append(ours_bench(exe, prefix, shape, threads, args.runs, args.warmup,
                                         ours_env))
            m, o = merge_rounds([m] + more_m), merge_rounds([o] + more_o)
            if 'error' in o:
                log('!!! %s batch %d: ours FAILED:\n%s' % (name, batch, o['error']))
            total = sum(flops.values())
            gfs = lambda r: total / (r['median_ms'] / 1e3) / 1e9 if 'median_ms' in r else None
            pct = lambda g: 100 * g / peak['peak_gflops'] if g and peak['peak_gflops'] else None
            ratio = (o['median_ms'] / m['median_ms']
                     if 'median_ms' in o and 'median_ms' in m else None)
            rows.append({'model': name, 'kind': 'cnn' if is_cnn(name) else 'rnn', 'batch': batch,
                         'shape': shape, 'flops': total, 'flops_by_op': flops,
                         'mxnet': m, 'ours': o, 'ratio': ratio,
                         'mxnet_gflops': gfs(m), 'ours_gflops': gfs(o),
                         'mxnet_pct_peak': pct(gfs(m)), 'ours_pct_peak': pct(gfs(o))})

    mach = machine(exe)
    print()
    print('mxnet-io bench_models: median of %d runs after %d warm-up%s, %d thread(s), batch %s' % (
        args.runs * args.rounds, args.warmup,
        '' if args.rounds == 1 else ' (%d alternating rounds of %d)' % (args.rounds, args.runs),
        threads, ','.join(map(str, batches))))
    print('MXNet %s: Module API, bind(for_training=False), oneDNN-fused path '
          '(MXNET_SUBGRAPH_BACKEND=MKLDNN, MKLDNN %s), OMP_NUM_THREADS=%d, '
          'MXNET_CPU_WORKER_NTHREADS=1, ThreadedEnginePerDevice' % (
              mx.__version__, 'on' if mach['mkldnn'] else 'OFF', threads))
    print()
    heads = ['model', 'batch', 'GFLOP', 'MXNet ms', 'ours ms', 'ours/MXNet', 'our GFLOP/s',
             '% of peak', 'MXNet GFLOP/s', 'MXNet % peak', 'MXNet RSS MB', 'our RSS MB',
             'MXNet load ms', 'our load ms']
    g = lambda r, side, k: r[side].get(k)
    table = []
    for r in rows:
        mrss, orss = g(r, 'mxnet', 'peak_rss_bytes'), g(r, 'ours', 'peak_rss_bytes')
        table.append([
            r['model'], str(r['batch']), fmt(r['flops'] / 1e9),
            fmt(g(r, 'mxnet', 'median_ms')) if 'error' not in r['mxnet'] else 'FAILED',
            fmt(g(r, 'ours', 'median_ms')) if 'error' not in r['ours'] else 'FAILED',
            '-' if r['ratio'] is None else '%.2fx' % r['ratio'],
            fmt(r['ours_gflops']), fmt(r['ours_pct_peak']),
            fmt(r['mxnet_gflops']), fmt(r['mxnet_pct_peak']),
            fmt(mrss / MIB if mrss else None, 0), fmt(orss / MIB if orss else None, 0),
            fmt(g(r, 'mxnet', 'load_ms'), 0), fmt(g(r, 'ours', 'load_ms'), 0)])
    print_table(heads, table)
    print()
    gm = {}
    for label, kind in (('all', None), ('CNN', 'cnn'), ('RNN', 'rnn')):
        gm[label] = geomean([r['ratio'] for r in rows if kind in (None, r['kind'])])
    print('geometric mean of ours/MXNet (below 1 = we are faster): ' + ', '.join(
        '%s %s' % (k, '-' if v is None else '%.2fx' % v) for k, v in gm.items()))
    if peak['measured_gflops']:
        print('peak = %.1f GFLOP/s measured (%d thread(s) of independent FMAs: cargo run '
              '--release -p mxnet-ops --example peak_flops -- %d)' % (
                  peak['measured_gflops'], threads, threads))
    print('nominal peak = %d thread(s) x %.0f MHz (/proc/cpuinfo cpu MHz) x %d FLOPs/cycle '
          '(%s) = %.1f GFLOP/s%s' % (
              threads, peak['mhz'], peak['flops_per_cycle'], peak['isa'],
              peak['nominal_gflops'], ' (not used)' if peak['measured_gflops'] else ''))
    print('FLOPs: 2 per multiply-add, Convolution/Deconvolution/FullyConnected/RNN GEMMs only')
    fused = {r['model']: r['mxnet'].get('mkldnn_fused_nodes') for r in rows}
    print('MXNet oneDNN-fused nodes per model: ' + ', '.join(
        '%s %s' % (k, '-' if v is None else v) for k, v in fused.items()))
    print('machine: %s, %s logical CPUs (%s usable), Linux %s, load %s; MXNet %s; %s, commit %s' % (
        mach['cpu'], mach['logical_cpus'], mach['affinity_cpus'], mach['kernel'],
        '-' if mach['loadavg'] is None else '%.2f' % mach['loadavg'][0],
        mach['mxnet'], mach['ours'] or 'mxnet-io', mach['commit']))
    base = [r['mxnet']['rss_after_import_bytes'] for r in rows
            if r['mxnet'].get('rss_after_import_bytes')]
    if base:
        print('MXNet RSS includes ~%.0f MB reached by `import mxnet` alone' % (
            median(base) / MIB))
    # Failures, grouped by message (ours usually fails the check and the
    # bench with the same error).
    problems, unsupported = {}, {}
    for name, c in checks.items():
        if not c['ok']:
            problems.setdefault(c['message'], []).append('%s: output check FAILED (%s)' % (
                name, c['cmd']))
    for r in rows:
        for side in ('mxnet', 'ours'):
            if 'error' in r[side]:
                problems.setdefault(r[side]['error'], []).append('%s batch %d: %s bench FAILED' % (
                    r['model'], r['batch'], 'MXNet' if side == 'mxnet' else 'our'))
    for msg, what in problems.items():
        if 'cannot run here' in msg:
            for w in what:
                ops = re.findall(r'^\s*(\S+) \u00d7\d+:', msg, flags=re.M)
                unsupported.setdefault(w.split(':')[0].split(' ')[0], set()).update(ops)
    if unsupported:
        print('ops our executor cannot run: ' + '; '.join(
            '%s: %s' % (k, ', '.join(sorted(v))) for k, v in unsupported.items()))
    if checks:
        ok = ['%s (max |diff| %.1e)' % (n, c['max_abs_diff'] or 0) for n, c in checks.items()
              if c['ok']]
        print('output check (smallest batch, rtol %g, atol %g): %s match%s' % (
            args.rtol, args.atol, ', '.join(ok) or 'none', '' if len(ok) == len(checks) else
            '; MISMATCH OR FAILURE: ' + ', '.join(n for n, c in checks.items() if not c['ok'])))
    if problems:
        print()
        print('!!! PROBLEMS:')
        for msg, what in problems.items():
            for w in what:
                print('  ' + w)
            print('    ' + msg.replace('\n', '\n    '))

    if args.json:
        res = {'machine': mach, 'peak': peak, 'threads': threads, 'runs': args.runs, 'rounds': args.rounds,
               'warmup': args.warmup, 'batches': batches, 'rows': rows, 'geomean_ratio': gm,
               'checks': checks,
               'unsupported_ops': {k: sorted(v) for k, v in unsupported.items()}}
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=1)
            f.write('\n')
        log('wrote %s' % args.json)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '_mxnet_worker':
        worker(sys.argv[2:])
    else:
        main()
