r"""The limited-data experiment of DiffAugment and ADA on mnist5k: the same GAN on 500
and on 5,000 digits, without augmentation, with DiffAugment and with ADA.

    python -m gans.tools.limited_data --workdir runs/limited_data

The central claim of Zhao et al. 2020 ("Differentiable Augmentation for Data-Efficient
GAN Training") and Karras et al. 2020 ("Training Generative Adversarial Networks with
Limited Data"), CPU-sized: with little data the discriminator memorises the training
images (r_t = E[sign D(x_real)] rises towards 1), FID stops improving and then gets
worse; augmenting every image D sees prevents it, and helps most with the least data.

Every run is experiments/dcgan.py (non-saturating loss, Adam 2e-4, beta1 0.5) at 32x32
with width 32 for G and D and batch 64 (a CPU-sized DCGAN), on `train[:N]` for each N
of --sizes, with each method of --methods:
  none         no augmentation;
  diffaugment  config.augment = 'color,translation,cutout' (the paper's policy);
  ada          config.ada: adaptive, pipeline 'bgc', target 0.6, p from 0, moving by 1
               per --ada_kimg thousand reals (the paper's 500 is sized for runs of
               millions of images; the default 100 lets p cross [0, 1] in 1,600 steps);
and for each seed of --seeds. During training, fid_classifier (the offline classifier,
--num_samples samples of G, against all 5,000 mnist5k digits whatever the training
size) every --eval_every steps, and for runs on at most 4,500 digits the
discriminator-overfitting monitor (gans.eval.overfitting: D's mean output on 500
training digits, 500 held-out digits train[4500:] and 500 samples; d_overfit =
(D(train) - D(held-out)) / (D(train) - D(generated))) at the same steps; r_t, and ADA's
p, every 50 steps. A finished run in
WORKDIR/<N>_<method>_s<seed>/ is reused. Writes WORKDIR/limited_data.md (per size and
method: the final and the best fid_classifier, the step of the best, the rise from
best to final, r_t over the last 500 steps, the final d_overfit; mean and spread over
seeds), limited_data.json (every curve) and limited_data.png (fid_classifier, r_t
and d_overfit over training), each atomically once every run is measured. Bad input stops it with one
line `error: ...` on stderr and exit status 2; SIGTERM or SIGINT stops the run in
training at its next step (checkpoint saved), prints `stopped: ...` and exits with 1,
and the same command resumes it.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from gans import configs
from gans import errors
from gans import eval as eval_lib
from gans import files
from gans import tools

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ('none', 'diffaugment', 'ada')
DIFFAUGMENT_POLICY = 'color,translation,cutout'
DATASET_SIZE = 5000  # mnist5k's train split
MONITOR = ('d_train', 'd_heldout', 'd_generated', 'd_overfit')
HELDOUT_START = 4500  # Runs on at most 4,500 digits: train[4500:] is their held-out set.


def run_config(size, method, seed, steps, eval_every, num_samples, ada_kimg):
  """The config of one run (see the module docstring)."""
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', 'dcgan.py'))
  config.train_split = 'train' if size >= DATASET_SIZE else f'train[:{size}]'
  config.seed = seed
  config.batch_size = 64
  config.generator.width = config.discriminator.width = 32
  config.total_steps = steps
  config.log_every = 50
  config.sample_every = config.checkpoint_every = eval_every
  config.evals.samples.update(
    every=eval_every, metrics=('fid',), num_samples=num_samples, reference_split='train'
  )
  if size <= HELDOUT_START:
    config.evals.overfitting = configs.overfitting_eval(
      every=eval_every, heldout_split=f'train[{HELDOUT_START}:]', num_examples=500
    )
  if method == 'diffaugment':
    config.augment = DIFFAUGMENT_POLICY
  elif method == 'ada':
    config.ada = configs.ada(mode='adaptive', p=0.0, target=0.6, kimg=ada_kimg, interval=4)
  return config


def _read_jsonl(path):
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def train_or_reuse(config, workdir):
  """Trains the run in `workdir` unless its last checkpoint is at total_steps."""
  minutes = tools.train_to_end(config, workdir, hooks=eval_lib.hooks(config))
  if minutes is None:
    print(f'  reusing {workdir}', flush=True)
    return 0.0
  print(f'  trained {workdir} in {minutes:.1f} min', flush=True)
  return minutes


def curves(workdir):
  """{'fid': [(step, fid_classifier)], 'r_t': [(step, r_t)], 'ada_p': [...], and the
  overfitting monitor's 'd_train', 'd_heldout', 'd_generated', 'd_overfit'} of a run
  (empty lists for what it did not log)."""
  evals = _read_jsonl(os.path.join(workdir, 'eval.jsonl'))
  fid = [
    (r['step'], r['metrics']['fid_classifier'])
    for r in evals
    if r.get('metrics', {}).get('fid_classifier') is not None
  ]
  rows = _read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  out = dict(fid=fid)
  for key in MONITOR:
    out[key] = [
      (r['step'], r['metrics'][key])
      for r in evals
      if r.get('evaluator') == 'overfitting' and r['metrics'].get(key) is not None
    ]
  for key in ('r_t', 'ada_p'):
    out[key] = [(r['step'], r[key]) for r in rows if r.get(key) is not None]
  return out


def summarise(curve, last_steps=500):
  """Final and best fid_classifier, the step of the best, and mean r_t near the end."""
  steps, fids = zip(*curve['fid'])
  best = int(np.argmin(fids))
  final_step = steps[-1]
  late = [v for s, v in curve['r_t'] if s > final_step - last_steps]
  p = [v for _, v in curve['ada_p']]
  overfit = dict(curve.get('d_overfit', [])).get(final_step)  # None: not monitored, or NaN.
  return dict(
    d_overfit_final=None if overfit is None else float(overfit),
    final=float(fids[-1]),
    best=float(fids[best]),
    best_step=int(steps[best]),
    rise=float(fids[-1] - fids[best]),
    r_t_late=float(np.mean(late)) if late else float('nan'),
    p_final=float(p[-1]) if p else None,
  )


def _cell(values, fmt='{:.1f}'):
  values = [v for v in values if v is not None and np.isfinite(v)]
  if not values:
    return 'n/a'
  if len(values) == 1:
    return fmt.format(values[0])
  return f'{fmt.format(np.mean(values))} +- {fmt.format(np.std(values, ddof=1))}'


def markdown(results, seeds):
  """The table: one row per (size, method), mean +- std over seeds."""
  lines = [
    '| training digits | augmentation | final fid_classifier | best (step) | rise best -> final '
    '| r_t, last 500 steps | final p | final d_overfit | seeds |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (size, method), runs in results.items():
    s = [r['summary'] for r in runs]
    best_steps = '/'.join(str(r['best_step']) for r in s)
    p = [r['p_final'] for r in s if r['p_final'] is not None]
    overfit = [r['d_overfit_final'] for r in s if r['d_overfit_final'] is not None]
    lines.append(
      f'| {size} | {method} | {_cell([r["final"] for r in s])} | '
      f'{_cell([r["best"] for r in s])} ({best_steps}) | {_cell([r["rise"] for r in s])} | '
      f'{_cell([r["r_t_late"] for r in s], "{:.2f}")} | {_cell(p, "{:.2f}") if p else "-"} | '
      f'{_cell(overfit, "{:.2f}") if overfit else "-"} | {len(runs)} |'
    )
  return '\n'.join(lines) + '\n'


def plot(results, path):
  """fid_classifier, r_t (with ADA's p dashed) and, where monitored, D's overfitting
  ratio d_overfit over training, one colour per method."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  sizes = sorted({size for size, _ in results})
  monitored = any(run['curves'].get('d_overfit') for runs in results.values() for run in runs)
  nrows = 3 if monitored else 2
  fig, axes = plt.subplots(nrows, len(sizes), figsize=(5 * len(sizes), 3.5 * nrows), squeeze=False)
  colours = dict(none='tab:red', diffaugment='tab:blue', ada='tab:green')
  for col, size in enumerate(sizes):
    for (s, method), runs in results.items():
      if s != size:
        continue
      for i, run in enumerate(runs):
        label = method if i == 0 else None
        c = run['curves']
        axes[0, col].plot(*zip(*c['fid']), color=colours[method], label=label, alpha=0.8)
        if c['r_t']:
          axes[1, col].plot(*zip(*c['r_t']), color=colours[method], label=label, alpha=0.8)
        if c['ada_p']:
          lbl = 'ada p' if i == 0 else None
          axes[1, col].plot(*zip(*c['ada_p']), color=colours[method], ls='--', label=lbl)
        if monitored and c.get('d_overfit'):
          axes[2, col].plot(*zip(*c['d_overfit']), color=colours[method], label=label, alpha=0.8)
    axes[0, col].set_title(f'{size} training digits')
    axes[0, col].set_ylabel('fid_classifier (lower is better)')
    axes[0, col].set_yscale('log')
    axes[1, col].set_ylabel('r_t = E[sign D(real)]; ADA p')
    axes[1, col].axhline(0.6, color='gray', lw=0.5)
    axes[-1, col].set_xlabel('step (batch 64)')
    if monitored:
      axes[2, col].set_ylabel('d_overfit: D gap train/held-out,\nrelative to train/generated')
      axes[2, col].axhline(0.0, color='gray', lw=0.5)
    for ax in axes[:, col]:
      ax.legend(fontsize=8)
      ax.grid(alpha=0.3)
  fig.tight_layout()
  with files.atomic_open(path, 'wb') as f:
    fig.savefig(f, format='png', dpi=90)
  plt.close(fig)


def build(workdir, sizes, methods, seeds, steps, eval_every, num_samples, ada_kimg):
  """Trains or reuses every run, writes the table, JSON and plot; returns the results.

  `steps`: one total_steps for every size, or a list with one per size.
  """
  steps = list(steps) if isinstance(steps, (list, tuple)) else [steps]
  steps_of = dict(zip(sizes, steps if len(steps) == len(sizes) else steps[:1] * len(sizes)))
  os.makedirs(workdir, exist_ok=True)
  results, start = {}, time.time()
  for size in sizes:
    for method in methods:
      runs = []
      for seed in seeds:
        name = f'{size}_{method}_s{seed}'
        print(f'{name}', flush=True)
        config = run_config(size, method, seed, steps_of[size], eval_every, num_samples, ada_kimg)
        run_dir = os.path.join(workdir, name)
        minutes = train_or_reuse(config, run_dir)
        c = curves(run_dir)
        if not c['fid']:
          raise ValueError(f'{run_dir}/eval.jsonl has no fid_classifier rows.')
        runs.append(dict(name=name, seed=seed, curves=c, summary=summarise(c), minutes=minutes))
        print(f'  {json.dumps(runs[-1]["summary"])}', flush=True)
      results[(size, method)] = runs
  table = markdown(results, seeds)
  total = (time.time() - start) / 60
  with files.atomic_open(os.path.join(workdir, 'limited_data.md'), 'w') as f:
    f.write(table)
    f.write(f'\nTotal time {total:.1f} min (runs reused: 0 min each).\n')
  serial = [
    dict(size=size, method=method, **run)
    for (size, method), runs in results.items()
    for run in runs
  ]
  with files.atomic_open(os.path.join(workdir, 'limited_data.json'), 'w') as f:
    json.dump(files.json_safe(serial), f, indent=1, default=float, allow_nan=False)
  plot(results, os.path.join(workdir, 'limited_data.png'))
  print(table)
  return results


def _list(text, kind, allowed=None, flag=''):
  items = [t.strip() for t in text.split(',') if t.strip()]
  if not items:
    raise argparse.ArgumentTypeError(f'{flag} is empty')
  out = []
  for item in items:
    if allowed is not None and item not in allowed:
      raise argparse.ArgumentTypeError(f'unknown {item!r}; known: {", ".join(allowed)}')
    try:
      out.append(kind(item))
    except ValueError:
      raise argparse.ArgumentTypeError(f'{item!r} is not an integer') from None
  return out


def main(argv=None):
  """Runs the command; returns its exit status (0, or 2 after one `error:` line on stderr)."""
  parser = argparse.ArgumentParser(
    prog='python -m gans.tools.limited_data', description=__doc__.split('\n')[0]
  )
  parser.add_argument('--workdir', required=True)
  parser.add_argument(
    '--sizes',
    default='500,5000',
    type=lambda t: _list(t, int, flag='--sizes'),
    help='Training digits per run (the first N of mnist5k; at most 5000).',
  )
  parser.add_argument(
    '--methods', default=','.join(METHODS), type=lambda t: _list(t, str, METHODS, '--methods')
  )
  parser.add_argument('--seeds', default='0', type=lambda t: _list(t, int, flag='--seeds'))
  parser.add_argument(
    '--steps',
    default='3000',
    type=lambda t: _list(t, int, flag='--steps'),
    help='Steps of every run, or one value per --sizes entry (e.g. 8000,3000).',
  )
  parser.add_argument('--eval_every', type=tools.int_at_least(1), default=250)
  parser.add_argument(
    '--num_samples', type=tools.int_at_least(2), default=2000, help='Samples per FID.'
  )
  parser.add_argument('--ada_kimg', type=float, default=100.0)
  args = parser.parse_args(argv)
  bad = [n for n in args.sizes if not 1 <= n <= DATASET_SIZE]
  if bad:
    parser.error(f'argument --sizes: {bad[0]} is not in [1, {DATASET_SIZE}]')
  if len(args.steps) not in (1, len(args.sizes)) or min(args.steps) < 1:
    parser.error('argument --steps: one positive count, or one per --sizes entry')
  if args.ada_kimg <= 0:
    parser.error(f'argument --ada_kimg: must be positive, got {args.ada_kimg}')
  try:
    build(
      args.workdir,
      args.sizes,
      args.methods,
      args.seeds,
      args.steps,
      args.eval_every,
      args.num_samples,
      args.ada_kimg,
    )
  except (OSError, ValueError) as e:
    print(f'error: {errors.one_line(e) or type(e).__name__}', file=sys.stderr)
    return 2
  except tools.Stopped as e:  # SIGTERM / SIGINT: the run's checkpoint is saved.
    print(f'stopped: {e}', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
