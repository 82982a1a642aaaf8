#!/usr/bin/env python3
"""Run GluonCV model-zoo networks (random weights) in MXNet 1.9.1 and in
mxnet-io and compare the outputs.

    .venv-mxnet/bin/pip install --no-deps gluoncv==0.10.5.post0
    .venv-mxnet/bin/pip install tqdm Pillow portalocker yacs 'scipy<1.11'
    .venv-mxnet/bin/python scripts/check_gluoncv.py [--models a,b:1x3x512x512] [--out DIR] [--no-build]

GluonCV 0.10.5 is the last release for MXNet 1.x; its model zoo is where most
MXNet detection, segmentation, pose, video and depth models come from. Its
pip package needs matplotlib, opencv and pandas only for its data tools, so it
is installed without dependencies (the second line is what the zoo imports).

For each model (MODELS below, or --models), in its own process and cached in
DIR (default bench-data/gluoncv):
  * the net is built with pretrained=False, weights drawn with fixed seeds
    (Xavier for weights, BatchNorm gamma U(0.5, 1.5), running variance
    U(0.5, 2), running mean N(0, 0.1)), hybridized and exported to
    NAME-symbol.json / NAME-0000.params, with a uniform [-1, 1) input;
  * MXNet's outputs come from the exported files bound with
    MXNET_SUBGRAPH_BACKEND=NONE: MXNet's own operators, without oneDNN's graph
    fusion, which gives another answer on some nets (cifar_resnet20_v2 at
    batch 2 differs by 8e-2 with the conv+BN+sum fusion on);
  * the inputs of the ops that break ties (box_nms, topk) are saved too.
GluonNLP's BERT, RoBERTa, DistilBERT and AWD-LSTM language model run the same
way (NLP_MODELS) when GluonNLP 0.10 is installed, with their token ids,
segments, valid lengths or recurrent states as inputs.
Then `mxnet-io run NAME-symbol.json -i data=NAME-in.npy --check NAME-ref.npz`
compares every output (rtol 1e-3, atol 1e-4: deep nets drift in float32).

A detection head sorts near-equal scores: random weights give thousands of
boxes whose scores differ in the last bits, so float32 rounding in earlier
layers can swap two of them and everything after the sort differs. When the
outputs differ, the input of the first tie-breaking op is compared, with
tolerances fit for decoded boxes: an absolute one of 1e-5 of the largest
finite value (a box is centre ± half size, so its error scales with the
coordinates) and a relative one of 1e-2 (random weights put sizes far out on
exp's curve, which multiplies the rounding of its argument); if it matches,
the row says "ties" rather than "DIFFERS". Exact ties are broken as MXNet breaks
them (libstdc++'s std::sort / partial_sort for topk, a stable sort in box_nms).

Each net that runs is also exported (`mxnet-io export`: imported as a net of
layers, written back as MXNet files) and MXNet runs the written files: the
"export" column says "ok" when MXNet computes its reference outputs from them
(rtol 1e-4, atol 1e-5).

One line per model, a summary; exit status 0 unless a model errors or differs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, input shape: one or two of each family the zoo has.
MODELS = [
    ('resnet50_v1d', '1,3,224,224'), ('resnext50_32x4d', '1,3,224,224'),
    ('se_resnext50_32x4d', '1,3,224,224'), ('se_resnet18_v2', '1,3,224,224'),
    ('resnest14', '1,3,224,224'), ('mobilenetv3_large', '1,3,224,224'),
    ('mobilenetv3_small', '1,3,224,224'), ('shufflenet_v1', '1,3,224,224'),
    ('shufflenet_v2', '1,3,224,224'), ('googlenet', '1,3,224,224'),
    ('xception', '1,3,299,299'), ('darknet53', '1,3,224,224'),
    ('cifar_resnet20_v1', '2,3,32,32'), ('cifar_resnet20_v2', '2,3,32,32'),
    ('cifar_wideresnet16_10', '1,3,32,32'), ('cifar_resnext29_32x4d', '1,3,32,32'),
    ('residualattentionnet56', '1,3,224,224'), ('hrnet_w18_small_v1_c', '1,3,224,224'),
    ('dla34', '1,3,224,224'), ('nasnet_4_1056', '1,3,224,224'),
    ('resnet18_v1b_0.89', '1,3,224,224'),
    ('simple_pose_resnet18_v1b', '1,3,256,192'), ('mobile_pose_mobilenetv3_small', '1,3,256,192'),
    ('ssd_300_vgg16_atrous_voc', '1,3,300,300'), ('ssd_512_mobilenet1.0_voc', '1,3,512,512'),
    ('yolo3_mobilenet1.0_voc', '1,3,416,416'), ('yolo3_darknet53_voc', '1,3,416,416'),
    ('center_net_resnet18_v1b_voc', '1,3,512,512'),
    ('center_net_resnet18_v1b_dcnv2_voc', '1,3,512,512'),
    ('faster_rcnn_resnet50_v1b_voc', '1,3,480,480'),
    ('faster_rcnn_fpn_resnet50_v1b_coco', '1,3,480,480'),
    ('mask_rcnn_resnet18_v1b_coco', '1,3,480,480'),
    ('fcn_resnet50_voc', '1,3,480,480'), ('psp_resnet50_ade', '1,3,480,480'),
    ('deeplab_resnet50_ade', '1,3,480,480'), ('icnet_resnet50_citys', '1,3,480,480'),
    ('danet_resnet50_citys', '1,3,256,256'), ('hrnet_w18_small_v2_s', '1,3,256,256'),
    ('r2plus1d_resnet18_kinetics400', '1,3,8,112,112'),
    ('i3d_resnet50_v1_kinetics400', '1,3,8,112,112'),
    ('slowfast_4x16_resnet50_kinetics400', '1,3,36,112,112'),
    ('monodepth2_resnet18_kitti_mono_640x192', '1,3,192,640'),
    ('monodepth2_resnet18_posenet_kitti_mono_640x192', '1,6,192,640'),
    ('alpha_pose_resnet101_v1b_coco', '1,3,256,192'),
    ('center_net_mobilenetv3_small_duc_voc', '1,3,512,512'),
    ('ssd_300_resnet34_v1b_voc', '1,3,300,300'), ('ssd_512_resnet50_v1_voc', '1,3,512,512'),
    ('yolo3_mobilenet0.25_coco', '1,3,416,416'),
    ('faster_rcnn_fpn_syncbn_resnest50_coco', '1,3,480,480'),
    ('i3d_nl5_resnet50_v1_kinetics400', '1,3,8,112,112'), ('c3d_kinetics400', '1,3,16,112,112'),
    ('mobile_pose_mobilenetv3_large', '1,3,256,192'), ('hrnet_w18_c', '1,3,224,224'),
    ('icnet_resnet50_mhpv1', '1,3,480,480'),
]

# GluonNLP 0.10 (`pip install --no-deps gluonnlp==0.10.0 packaging`), run
# when it is installed: batch 2, 16 tokens (one sequence 9 long), or 7 steps.
NLP_MODELS = [
    ('bert_12_768_12', '2,16'), ('roberta_12_768_12', '2,16'),
    ('distilbert_6_768_12', '2,16'), ('awd_lstm_lm_600', '7,2'),
]

MAKE = r'''
import os, sys, json
os.environ['MXNET_SUBGRAPH_BACKEND'] = 'NONE'
import numpy as np, mxnet as mx
from gluoncv import model_zoo
name, shape, prefix = sys.argv[1], tuple(int(x) for x in sys.argv[2].split(',')), sys.argv[3]
mx.random.seed(1); np.random.seed(1)
try:
    net = model_zoo.get_model(name, pretrained=False, pretrained_base=False)
except Exception:  # nets without a pretrained base reject the argument
    net = model_zoo.get_model(name, pretrained=False)

class Init(mx.init.Xavier):
    def __init__(self):
        super().__init__(magnitude=2)
    def _init_weight(self, name, arr):
        if arr.ndim < 2:
            arr[:] = 0.0
        else:
            super()._init_weight(name, arr)
    def _init_default(self, name, arr):
        self._init_weight(name, arr)

net.initialize(Init(), force_reinit=True)
x = mx.nd.array(np.random.uniform(-1, 1, size=shape).astype('float32'))
net(x)  # settles deferred shapes before the statistics are drawn
for k, p in net.collect_params().items():
    if k.endswith('running_var'):
        p.set_data(mx.nd.random.uniform(0.5, 2.0, shape=p.shape))
    elif k.endswith('running_mean'):
        p.set_data(mx.nd.random.normal(0, 0.1, shape=p.shape))
    elif k.endswith('gamma'):
        p.set_data(mx.nd.random.uniform(0.5, 1.5, shape=p.shape))
net.hybridize()
net(x)
net.export(prefix, 0)
sym, args, auxs = mx.model.load_checkpoint(prefix, 0)

def run(s):
    ex = s.bind(mx.cpu(), {k: v for k, v in {**args, 'data': x}.items() if k in s.list_arguments()},
                aux_states={k: v for k, v in auxs.items() if k in s.list_auxiliary_states()},
                grad_req='null')
    ex.forward(is_train=False)
    return [o.asnumpy() for o in ex.outputs]

np.save(prefix + '-in.npy', x.asnumpy())
np.savez(prefix + '-ref.npz', **dict(zip(sym.list_outputs(), run(sym))))
graph = json.loads(sym.tojson())
nodes, pre = graph['nodes'], []
for n in nodes:
    if n['op'] in ('_contrib_box_nms', 'topk'):
        src = nodes[n['inputs'][0][0]]
        internal = sym.get_internals().list_outputs()
        name_ = [o for o in internal if o.startswith(src['name'] + '_output')][n['inputs'][0][1]]
        pre.append(name_)
pre = list(dict.fromkeys(pre))
if pre:
    ints = sym.get_internals()
    np.savez(prefix + '-pre.npz', **dict(zip(pre, run(mx.sym.Group([ints[p] for p in pre])))))
'''


MAKE_NLP = r'''
import os, sys, json
os.environ['MXNET_SUBGRAPH_BACKEND'] = 'NONE'
import numpy as np, mxnet as mx, gluonnlp as nlp
name, shape, prefix = sys.argv[1], tuple(int(x) for x in sys.argv[2].split(',')), sys.argv[3]
mx.random.seed(1); np.random.seed(1)
tokens = nlp.data.count_tokens(('a b c d e f g h ' * 10).split())
if name.startswith('awd'):
    vocab = nlp.Vocab(tokens)
    net, _ = nlp.model.get_model(name, dataset_name=None, vocab=vocab, pretrained=False)
    net.initialize(mx.init.Normal(0.05))
    t, b = shape
    state = net.begin_state(batch_size=b, func=mx.nd.random.uniform)
    ins = [mx.nd.array(np.random.randint(0, len(vocab), (t, b)))]
    ins += [s for pair in state for s in pair]
else:
    vocab = nlp.vocab.BERTVocab(tokens)
    kw = dict(dataset_name=None, vocab=vocab, pretrained=False)
    if name.startswith('bert'):
        kw.update(use_pooler=True, use_classifier=False)
    net, _ = nlp.model.get_model(name, use_decoder=False, **kw) if not name.startswith(
        'distil') else nlp.model.get_model(name, **kw)
    net.initialize(mx.init.Normal(0.02))
    b, t = shape
    ins = [mx.nd.array(np.random.randint(0, len(vocab), (b, t)))]
    if name.startswith('bert'):
        ins.append(mx.nd.array(np.random.randint(0, 2, (b, t))))
    ins.append(mx.nd.array([t] + [t // 2 + 1] * (b - 1)))
net.hybridize()
net(ins[0], state) if name.startswith('awd') else net(*ins)
net.export(prefix, 0)
sym, args, auxs = mx.model.load_checkpoint(prefix, 0)
names = [n for n in sym.list_arguments() if n not in args]
ex = sym.bind(mx.cpu(), {**args, **dict(zip(names, ins))}, aux_states=auxs, grad_req='null')
ex.forward(is_train=False)
np.savez(prefix + '-ref.npz', **{n: o.asnumpy() for n, o in zip(sym.list_outputs(), ex.outputs)})
files = {}
for n, a in zip(names, ins):
    files[n] = prefix + '-in-' + n + '.npy'
    np.save(files[n], a.asnumpy())
json.dump(files, open(prefix + '-inputs.json', 'w'))
'''


# MXNet runs an exported net: prints "ok" when its outputs are MXNet's
# reference outputs of the original files (rtol 1e-4, atol 1e-5).
RUN_EXPORT = r'''
import os, sys, json
os.environ['MXNET_SUBGRAPH_BACKEND'] = 'NONE'
import numpy as np, mxnet as mx
exported, inputs, ref = sys.argv[1], json.loads(sys.argv[2]), np.load(sys.argv[3])
sym, args, auxs = mx.model.load_checkpoint(exported, 0)
vals = {k: mx.nd.array(np.load(v)) for k, v in inputs.items()}
ex = sym.bind(mx.cpu(), {**args, **vals}, aux_states=auxs, grad_req='null')
ex.forward(is_train=False)
# By position, under the original file's output names (an exported net names
# layers uniquely, so a name MXNet repeats comes back as NAME_1, NAME_2, …);
# a repeated name is in the reference once (the last), and is compared with
# the output of its shape.
names = mx.sym.load(sys.argv[4]).list_outputs()
bad, seen = [], set()
for n, o in zip(names, ex.outputs):
    if n not in ref.files or ref[n].shape != o.shape:
        continue
    seen.add(n)
    if not np.allclose(o.asnumpy(), ref[n], rtol=1e-4, atol=1e-5, equal_nan=True):
        bad.append(n)
missing = set(ref.files) - seen
if bad and len(sys.argv) > 5:
    # A detection head: its first tie-breaking op's input decides.
    pre = np.load(sys.argv[5]); first = pre.files[0]
    ints = sym.get_internals()
    ex = ints[first].bind(mx.cpu(), {k: v for k, v in {**args, **vals}.items()
                                     if k in ints[first].list_arguments()},
                          aux_states={k: v for k, v in auxs.items()
                                      if k in ints[first].list_auxiliary_states()}, grad_req='null')
    ex.forward(is_train=False)
    # Decoded boxes, as in the check of our outputs: the exported graph may
    # reach them through other MXNet kernels (a SyncBatchNorm written back as
    # BatchNorm runs oneDNN's), whose rounding exp then magnifies.
    want = pre[first]
    scale = float(np.abs(want[np.isfinite(want)]).max(initial=0.0))
    if np.allclose(ex.outputs[0].asnumpy(), want, rtol=1e-2, atol=max(1e-4, 1e-5 * scale),
                   equal_nan=True):
        bad = []
        print('ok (ties after ' + first + ')')
        sys.exit()
print('ok' if not bad and not missing else 'differs: ' + ', '.join(bad + sorted(missing)))
'''


def input_files(prefix):
    try:
        with open(prefix + '-inputs.json') as f:
            return json.load(f)
    except FileNotFoundError:
        return {'data': prefix + '-in.npy'}


def check(exe, prefix, ref, extra=(), atol=1e-4, rtol=1e-3):
    inputs = [f'{k}={v}' for k, v in input_files(prefix).items()]
    cmd = [exe, 'run', '-q', prefix + '-symbol.json', *[x for i in inputs for x in ('-i', i)],
           '--check', ref, '--rtol', str(rtol), '--atol', str(atol), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith(('check', 'error'))]
    return p.returncode, lines


def round_trip(exe, prefix):
    """`mxnet-io export` (import as a net of layers, write MXNet files), then
    MXNet 1.9.1 runs the written files: "ok" when it computes its own
    reference outputs of the original files."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'x')
        p = subprocess.run([exe, 'export', '-q', prefix + '-symbol.json', out + '-symbol.json'],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return 'failed: ' + p.stderr.strip().splitlines()[-1][:100]
        pre = [prefix + '-pre.npz'] if os.path.exists(prefix + '-pre.npz') else []
        p = subprocess.run([sys.executable, '-c', RUN_EXPORT, out,
                            json.dumps(input_files(prefix)), prefix + '-ref.npz',
                            prefix + '-symbol.json', *pre],
                           capture_output=True, text=True)
        lines = p.stdout.strip().splitlines()
        return lines[-1] if lines else 'MXNet failed: ' + p.stderr.strip().splitlines()[-1][:100]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--models', help='comma-separated names: any zoo name, or NAME:SHAPE with the '
                    'shape written 1x3x512x512')
    ap.add_argument('--out', default=os.path.join(REPO, 'bench-data', 'gluoncv'))
    ap.add_argument('--no-build', action='store_true')
    a = ap.parse_args()
    try:
        import gluoncv  # noqa: F401
    except ImportError:
        sys.exit('gluoncv is not installed here; see the two pip lines in this script\'s docs')
    models = [(n, s, MAKE) for n, s in MODELS]
    try:
        import gluonnlp  # noqa: F401
        models += [(n, s, MAKE_NLP) for n, s in NLP_MODELS]
    except ImportError:
        print('(gluonnlp is not installed: the NLP models are skipped)')
    if a.models:
        known = {n: (s, m) for n, s, m in models}
        models = []
        for m in a.models.split(','):
            name, _, shape = m.partition(':')
            shape = shape.replace('x', ',')
            default, make = known.get(name, ('1,3,224,224', MAKE))
            models.append((name, shape or default, make))
    if not a.no_build:
        subprocess.run(['cargo', 'build', '--release', '-q', '-p', 'mxnet-cli'], cwd=REPO, check=True)
    exe = os.path.join(REPO, 'target', 'release', 'mxnet-io')
    os.makedirs(a.out, exist_ok=True)
    tally = {}
    for name, shape, make in models:
        prefix = os.path.join(a.out, name)
        t = time.time()
        if not os.path.exists(prefix + '-ref.npz'):
            p = subprocess.run([sys.executable, '-c', make, name, shape, prefix],
                               capture_output=True, text=True)
            if p.returncode != 0:
                errs = [l for l in p.stderr.strip().splitlines() if 'Error' in l] or ['?']
                last = errs[-1]
                print(f'{name:48s} {shape:16s} MXNet failed: {last[:120]}', flush=True)
                tally['mxnet failed'] = tally.get('mxnet failed', 0) + 1
                continue
        rc, lines = check(exe, prefix, prefix + '-ref.npz')
        status = 'matches' if rc == 0 else 'DIFFERS'
        detail = ''
        if rc != 0 and any(l.startswith('error') and 'cannot run here' in l for l in lines):
            status, detail = 'UNSUPPORTED', lines[0]
        elif rc != 0 and os.path.exists(prefix + '-pre.npz'):
            arrays = np.load(prefix + '-pre.npz')
            pre = list(arrays.keys())
            # Decoded boxes are differences of large numbers (centre ± half
            # size), so their error scales with the coordinates, not with
            # each value: an absolute tolerance of 1e-5 of the largest one.
            finite = [np.abs(arrays[k][np.isfinite(arrays[k])]) for k in pre]
            scale = max([float(f.max()) for f in finite if f.size] or [0.0])
            # The first tie-breaking op's input: after it, a swapped pair of
            # near-equal scores changes everything downstream (later NMS
            # inputs included).
            rc2, _ = check(exe, prefix, prefix + '-pre.npz', ['--outputs', pre[0]],
                           atol=max(1e-4, 1e-5 * scale), rtol=1e-2)
            if rc2 == 0:
                status = 'ties'
                detail = 'the input of the first box_nms/topk matches: ' + pre[0]
        if rc != 0 and not detail:
            detail = '; '.join(l for l in lines if 'DIFFER' in l or l.startswith('error'))[:200]
        worst = [l.split('max |difference| ')[1].split(';')[0] for l in lines if 'max |difference|' in l]
        exported = '-'
        if status in ('matches', 'ties'):
            exported = round_trip(exe, prefix)
            if not exported.startswith('ok'):
                status = 'EXPORT'
        print(f'{name:48s} {shape:16s} {status:11s} max |diff| {max(worst, key=float) if worst else "-":9s}'
              f' export {exported:4s} {time.time() - t:5.1f} s {detail}', flush=True)
        tally[status] = tally.get(status, 0) + 1
    print('summary:', ', '.join(f'{v} {k}' for k, v in sorted(tally.items())))
    bad = sum(v for k, v in tally.items() if k not in ('matches', 'ties'))
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
