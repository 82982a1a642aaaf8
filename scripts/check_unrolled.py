#!/usr/bin/env python3
"""Check `mxnet-io export --unroll` against real MXNet 1.9.1.

    .venv-mxnet/bin/python scripts/check_unrolled.py [--bin PATH] [--keep DIR] [NAME ...]

For every recurrent fixture (or the NAMEs given, e.g. nets/rnn_lstm_bi_ntc),
runs `mxnet-io export SYMBOL OUT --unroll --input-shape NAME=DIMS...` with the
shapes of the fixture's -io.params inputs, then checks in MXNet that the
unrolled graph has no RNN op, loads with mx.model.load_checkpoint (bound on the
CPU, forward is_train=False) and with gluon.SymbolBlock.imports, and that both
reproduce the fixture's outputs (rtol 1e-4, atol 1e-5 * max(1, max|ref|)), and
that a sequence one step longer is refused.
One line per model and way of loading, a summary line; exit status 0 only if
every check passed.  --bin defaults to target/release/mxnet-io, else
target/debug/mxnet-io.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault('MXNET_SUBGRAPH_BACKEND', 'NONE')

import numpy as np
import mxnet as mx

# SymbolBlock.imports warns that it cannot decide input types before the first call.
warnings.filterwarnings('ignore', message='Cannot decide type')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')
# (fixture, params epoch, time axis of the first input)
DEFAULT = [
    ('nets/rnn_lstm_uni_tnc_states', 0, 0), ('nets/rnn_lstm_bi_ntc', 0, 1),
    ('nets/rnn_gru_uni_ntc', 0, 1), ('nets/rnn_gru_bi_tnc_states', 0, 0),
    ('nets/rnn_tanh_uni_tnc', 0, 0), ('nets/rnn_tanh_bi_ntc_states', 0, 1),
    ('nets/rnn_relu_uni_ntc_states', 0, 1), ('nets/rnn_relu_bi_tnc', 0, 0),
    ('nets/text_lstm', 0, 1), ('nets/sym_lstm', 0, 0),
    ('models/rnn_lstm', 3, 0), ('models/rnn_gru', 3, 0),
    ('models/gluon_lstm', 0, 1), ('models/gluon_gru', 0, 1),
]


class Fail(Exception):
    pass


def close(name, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise Fail('%s: shape %s vs %s' % (name, got.shape, want.shape))
    atol = 1e-5 * max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    err = np.abs(got - want) - (atol + 1e-4 * np.abs(want))
    if (err > 0).any():
        i = int(np.argmax(err))
        raise Fail('%s: [%d] %r vs %r' % (name, i, got.flat[i], want.flat[i]))
    return float(np.abs(got - want).max()) if got.size else 0.0


def check(binary, fixture, epoch, time_axis, out_dir):
    base = os.path.join(FIXTURES, fixture)
    name = os.path.basename(fixture)
    sym = mx.sym.load(base + '-symbol.json')
    params = mx.nd.load('%s-%04d.params' % (base, epoch))
    io = mx.nd.load(base + '-io.params')
    param_names = {k.split(':', 1)[1] for k in params}
    inputs = {k: io[k] for k in sym.list_arguments()
              if k in io and k not in param_names and not k.endswith('_label')}
    wants = [io[o] for o in sym.list_outputs() if o in io]
    prefix = os.path.join(out_dir, name + '_unrolled')
    cmd = [binary, 'export', base + '-symbol.json', prefix + '-symbol.json', '--unroll', '-q',
           '--array-path', '%s-%04d.params' % (base, epoch)]
    for k, v in inputs.items():
        cmd += ['--input-shape', '%s=%s' % (k, ','.join(map(str, v.shape)))]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise Fail('export failed: %s' % r.stderr.strip())
    ops = [n['op'] for n in json.load(open(prefix + '-symbol.json'))['nodes']]
    if 'RNN' in ops:
        raise Fail('the unrolled graph still has an RNN op')
    lines = []

    # 1. load_checkpoint + bind.
    usym, arg, aux = mx.model.load_checkpoint(prefix, 0)
    shapes = {k: v.shape for k, v in inputs.items()}
    arg_shapes, _, aux_shapes = usym.infer_shape_partial(**shapes)
    args = {}
    for a, s in zip(usym.list_arguments(), arg_shapes):
        if a in inputs:
            args[a] = inputs[a]
        elif a in arg:
            args[a] = arg[a]
        else:  # loss-head labels
            args[a] = mx.nd.zeros(s)
    exe = usym.bind(mx.cpu(), args=args, aux_states=aux, grad_req='null')
    outs = exe.forward(is_train=False)
    if len(outs) != len(wants):
        raise Fail('load_checkpoint: %d outputs, the fixture has %d' % (len(outs), len(wants)))
    err = max(close('load_checkpoint output %d' % k, o.asnumpy(), w.asnumpy())
              for k, (o, w) in enumerate(zip(outs, wants)))
    lines.append('load_checkpoint: %d output(s) match (max |diff| %.2g)' % (len(outs), err))

    # 2. SymbolBlock.imports with the data inputs in the symbol's order.
    names = [a for a in usym.list_arguments() if a in inputs]
    block = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', names, prefix + '-0000.params')
    outs = block(*[inputs[n] for n in names])
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    if len(outs) != len(wants):
        raise Fail('SymbolBlock: %d outputs, the fixture has %d' % (len(outs), len(wants)))
    err = max(close('SymbolBlock output %d' % k, o.asnumpy(), w.asnumpy())
              for k, (o, w) in enumerate(zip(outs, wants)))
    lines.append('SymbolBlock.imports: %d output(s) match (max |diff| %.2g)' % (len(outs), err))

    # 3. A sequence one step longer must be refused, not misread.
    longer = dict(inputs)
    x = inputs[names[0]].asnumpy()
    longer[names[0]] = mx.nd.array(np.concatenate([x, x.take([0], axis=time_axis)], time_axis))
    block = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', names, prefix + '-0000.params')
    try:
        outs = block(*[longer[n] for n in names])
        mx.nd.waitall()
        raise Fail('a sequence of length %d runs' % longer[names[0]].shape[time_axis])
    except mx.base.MXNetError:
        lines.append('length %d refused' % longer[names[0]].shape[time_axis])
    return '%d nodes, no RNN; ' % len(ops) + '; '.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--bin')
    ap.add_argument('--keep', help='write the unrolled exports here (default: a temp dir)')
    ap.add_argument('names', nargs='*')
    a = ap.parse_args()
    binary = a.bin or next((p for p in (os.path.join(ROOT, 'target', t, 'mxnet-io')
                                        for t in ('release', 'debug')) if os.path.exists(p)),
                           None)
    if binary is None:
        sys.exit('no mxnet-io binary: build it or give --bin')
    cases = DEFAULT if not a.names else [
        next((c for c in DEFAULT if c[0] == n), (n, 0, 0)) for n in a.names]
    out_dir = a.keep or tempfile.mkdtemp(prefix='unrolled_')
    os.makedirs(out_dir, exist_ok=True)
    failed = 0
    for fixture, epoch, time_axis in cases:
        try:
            print('ok   %s: %s' % (fixture, check(binary, fixture, epoch, time_axis, out_dir)))
        except Fail as e:
            failed += 1
            print('FAIL %s: %s' % (fixture, e))
        except Exception as e:  # MXNet errors: report and go on
            failed += 1
            print('FAIL %s: %s: %s' % (fixture, type(e).__name__, str(e).splitlines()[0]))
    print('%d checked, %d failed (exports in %s)' % (len(cases), failed, out_dir))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
