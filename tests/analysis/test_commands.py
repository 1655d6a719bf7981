"""The analysis commands: every flag reaches its argument; bad input is one line, status 2."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DCGAN = os.path.join(ROOT, 'experiments', 'dcgan.py') + ':runlocal'
AE = os.path.join(ROOT, 'experiments', 'ae.py') + ':arch=dcgan_hash'

# Runs a command's main with write_figure replaced by a recorder of its arguments.
_RECORD = """
import json, sys
from absl import app
import importlib
import ml_collections
module = importlib.import_module('gans.analysis.' + sys.argv[1])
def record(**kwargs):
  show = lambda v: dict(family=v.get('family', 'gan'), total_steps=v.total_steps) if isinstance(
    v, ml_collections.ConfigDict) else v
  print('CALL ' + json.dumps({k: show(v) for k, v in kwargs.items()}))
module.write_figure = record
app.run(module.define_flags(), argv=['prog'] + sys.argv[2:])
"""


def _run(args, code=None):
  command = [sys.executable, '-c', code, *args] if code else [sys.executable, '-m', *args]
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


@pytest.mark.parametrize(
  'name, flags, want',
  [
    (
      'interpolation',
      ['--pairs=3', '--steps=4', '--seed=5', '--noema'],
      dict(pairs=3, steps=4, seed=5, use_ema=False),
    ),
    (
      'arithmetic',
      ['--a=1', '--b=*-', '--c=2+', '--per_group=4', '--candidates=50', '--class_label=3']
      + ['--seed=6'],
      dict(
        groups=['1', '*-', '2+'], per_group=4, candidates=50, seed=6, class_label=3, use_ema=True
      ),
    ),
    (
      'memorisation',
      ['--heldout_split=train[4500:]', '--num_samples=9', '--k=2', '--show=1', '--seed=4']
      + [f'--hash_config={AE}', '--hash_workdir=ae_run'],
      dict(
        heldout_split='train[4500:]',
        num_samples=9,
        k=2,
        show=1,
        seed=4,
        hash_config=dict(family='ae', total_steps=2000),
        hash_workdir='ae_run',
      ),
    ),
    (
      'd_features',
      ['--eval_dataset=digits', '--splits=a,b,c', '--labels=10,20', '--repeats=2']
      + ['--centroids=7', '--seed=3', '--methods=pixels,kmeans', '--cs=0.5,2'],
      dict(
        eval_dataset='digits',
        splits='a,b,c',
        label_counts=[10, 20],
        repeats=2,
        centroids=7,
        seed=3,
        methods=['pixels', 'kmeans'],
        cs=[0.5, 2.0],
      ),
    ),
    (
      'forgetting',
      ['--layer=-2', '--region=0,8,0,16', '--threshold=0.3', '--cell_fraction=0']
      + ['--num_fit=20', '--num_eval=10', '--max_drop=3', '--random_draws=2', '--where=region']
      + ['--show=4', '--masks=m.npz', '--annotate=paint', '--seed=7', '--noema'],
      dict(
        layer=-2,
        region='0,8,0,16',
        threshold=0.3,
        cell_fraction=0.0,
        num_fit=20,
        num_eval=10,
        max_drop=3,
        random_draws=2,
        where='region',
        show=4,
        masks='m.npz',
        annotate='paint',
        seed=7,
        use_ema=False,
      ),
    ),
    (
      'feature_viz',
      ['--layers=-1,0', '--channels=3,17', '--top_k=2', '--images=5', '--num_real=300']
      + ['--saliency', '--restarts=3', '--steps=50', '--lr=0.1', '--l2=0.5', '--seed=2'],
      dict(
        layers=[-1, 0],
        channels=[3, 17],
        top_k=2,
        images=5,
        num_real=300,
        saliency=True,
        restarts=3,
        steps=50,
        lr=0.1,
        l2=0.5,
        seed=2,
      ),
    ),
    (
      'inversion',
      ['--space=z', '--num_images=3', '--heldout_split=train[4500:]', '--steps=7', '--lr=0.2']
      + ['--restarts=4', '--feature_weight=0.5', '--prior_weight=0.1', '--encoder_steps=9']
      + ['--vgg_weights=v.pth', '--lpips_weights=l.pth', '--seed=8', '--noema']
      + ['--methods=encoder,hybrid'],
      dict(
        space='z',
        num_images=3,
        heldout_split='train[4500:]',
        steps=7,
        lr=0.2,
        restarts=4,
        feature_weight=0.5,
        prior_weight=0.1,
        encoder_steps=9,
        vgg_weights='v.pth',
        lpips_weights='l.pth',
        seed=8,
        use_ema=False,
        methods=['encoder', 'hybrid'],
      ),
    ),
    (
      'inpainting',
      ['--mask=blocks', '--size=6', '--blocks=3', '--num_images=5', '--heldout_split=train[4500:]']
      + ['--steps=7', '--lr=0.2', '--restarts=3', '--window=5', '--perceptual_weight=0.01']
      + ['--blend=none', '--space=z', '--nearest_pool=100', '--seed=9', '--noema'],
      dict(
        mask='blocks',
        size=6.0,
        blocks=3,
        num_images=5,
        heldout_split='train[4500:]',
        steps=7,
        lr=0.2,
        restarts=3,
        window=5,
        perceptual_weight=0.01,
        blend_method='none',
        space='z',
        nearest_pool=100,
        seed=9,
        use_ema=False,
      ),
    ),
  ],
)
def test_every_flag_reaches_its_argument(name, flags, want):
  out = _run([name, f'--config={DCGAN}', '--config.total_steps=7', '--workdir=w', *flags], _RECORD)
  assert out.returncode == 0, out.stderr[-2000:]
  call = json.loads(out.stdout.split('CALL ', 1)[1])
  assert call.pop('config') == dict(family='gan', total_steps=7)
  assert call.pop('workdir') == 'w'
  assert call == want


@pytest.mark.parametrize(
  'name, flags, message',
  [
    ('interpolation', [], 'error: No checkpoint in '),
    ('arithmetic', ['--a=seven'], "error: Group 'seven': use a class label"),
    ('memorisation', [], "error: config.train_split='train' of 'mnist5k' leaves no default"),
    ('memorisation', ['--heldout_split=train[4500:]'], 'error: No checkpoint in '),
    ('d_features', ['--labels=10,many'], 'error: --labels=10,many: give integers.'),
    ('d_features', ['--eval_dataset=cifar10'], "error: Dataset 'cifar10' has no default"),
    ('d_features', [], 'error: No checkpoint in '),
    ('forgetting', ['--region=middle'], "error: --region='middle': use top, bottom"),
    ('forgetting', [], 'error: No checkpoint in '),
    ('feature_viz', ['--channels=3,x'], 'error: --channels=3,x: give integers.'),
    ('feature_viz', [], 'error: No checkpoint in '),
    ('inversion', ['--num_images=0'], 'error: --num_images=0: give at least 1.'),
    ('inversion', ['--heldout_split=train[4500:]'], 'error: No checkpoint in '),
    ('inpainting', ['--mask=middle'], "error: --mask='middle': use centre, blocks"),
    ('inpainting', ['--heldout_split=train[4500:]'], 'error: No checkpoint in '),
  ],
)
def test_bad_input_is_one_line_with_status_2(name, flags, message, tmp_path):
  out = _run([f'gans.analysis.{name}', f'--config={DCGAN}', f'--workdir={tmp_path}', *flags])
  assert out.returncode == 2, out.stderr[-2000:]
  # Besides absl log records (orbax's), the one line of the error.
  lines = [
    l for l in out.stderr.splitlines() if l.strip() and not l.startswith(('I0', 'I1', 'W0', 'W1'))
  ]
  assert len(lines) == 1 and lines[0].startswith(message), lines
  assert not os.path.exists(tmp_path / 'analysis')
