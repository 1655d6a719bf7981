r"""Synthetic training data: a classifier trained on real, generated, and real plus
generated images of a class-conditional run, scored on held-out real images.

    python -m gans.tools.synthetic_data --config experiments/cgan.py \
        --config.train_split='train[:4000]' --workdir runs/cgan \
        [--real 100,500,all --ratios 0,0.5,1,2 --cas 5000 --seeds 0,1,2 --steps 1000]

Takes the latest checkpoint of a trained class-conditional run (`--config` with the
`--config.KEY=VALUE` overrides it was trained with; they are checked against
WORKDIR/config.json) and, for each seed s of --seeds and each count n of --real
(real labelled images: a class-stratified draw from the run's training split with
seed s; 'all' is the whole split), trains the project's classifier recipe
(gans.eval.cas: gans.metrics.classifier at a fixed budget of --steps optimizer steps,
batch 64, whatever the number of images) on
  (a) the n real images only;
  (b) n generated images only: the Classification Accuracy Score (CAS) of Ravuri &
      Vinyals 2019 at a matched count; also each count of --cas (e.g. 5,000);
  (c) the n real images plus round(r n) generated ones, for each r > 0 of --ratios
      (the paper's Naive Augmentation Score, in the low-data regime too);
and scores it on the real images of --heldout_split (default
data.default_heldout_split: mnist5k trained on 'train[:4000]' -> 'train[4500:]', 500
digits). Generated images: sample i has class i mod K (balanced classes), latents from
PRNGKey(s), EMA weights where kept (--no_ema: the live ones), quantized to uint8 as when
saved; every count of one seed takes a prefix of the same stream, and every condition of
seed s the same real subset and classifier seed, so the conditions are paired. Reported
per condition: mean held-out accuracy over seeds +- its standard error (sample standard
deviation / sqrt(seeds)), and the mean paired difference from real only.

Writes into WORKDIR/analysis/, atomically once everything is measured:
  synthetic_data.md    two markdown tables: real plus generated (rows: real count;
                       columns: ratio) and generated only (CAS beside the real baseline
                       at the same count), accuracies in %;
  synthetic_data.json  every condition with its per-seed and per-class accuracies, and
                       the protocol;
  synthetic_data.png   held-out accuracy against the ratio of generated to real images,
                       one line per real count, CAS dotted.
Prints a progress line per classifier (with an ETA). Bad input (a flag, a config key, an
unconditional run, a missing checkpoint) stops it with one line `error: ...` on stderr
and exit status 2.
"""

import argparse
import ast
import json
import os
import sys
import time

import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans import files
from gans import tools
from gans.eval import cas
from gans.train import loop

NAME = 'synthetic_data'
# Fields that decide which images are real training or held-out images: they must be
# those the run was trained with.
DATA_FIELDS = ('family', 'dataset', 'train_split', 'image_size', 'conditional', 'num_classes')


class _Parser(argparse.ArgumentParser):
  """argparse whose errors are one line `error: ...` on stderr and exit status 2."""

  def error(self, message):
    self.exit(errors.EXIT_STATUS, f'error: {message}\n')


def _counts(text):
  items = [t.strip() for t in text.split(',') if t.strip()]
  if not items:
    raise argparse.ArgumentTypeError('give one or more counts')
  out = []
  for item in items:
    if item == 'all':
      out.append('all')
      continue
    try:
      value = int(item)
    except ValueError:
      raise argparse.ArgumentTypeError(f'{item!r} is not an integer or "all"') from None
    if value < 1:
      raise argparse.ArgumentTypeError(f'{value} is below 1')
    out.append(value)
  return out


def _ratios(text):
  out = []
  for item in [t.strip() for t in text.split(',') if t.strip()]:
    try:
      value = float(item)
    except ValueError:
      raise argparse.ArgumentTypeError(f'{item!r} is not a number') from None
    if not 0 <= value <= 100:
      raise argparse.ArgumentTypeError(f'{value} is not in [0, 100]')
    out.append(value)
  if not out:
    raise argparse.ArgumentTypeError('give one or more ratios')
  return sorted(set(out))


def _seeds(text):
  try:
    return list(cas.parse_seeds(text))
  except errors.UserInputError:
    raise argparse.ArgumentTypeError(f'{text!r}: give distinct integers, e.g. 0,1,2') from None


def apply_overrides(config, overrides):
  """Sets `--config.a.b=value` overrides on `config` (the field's type decides the parsing).

  Raises UserInputError naming the key: an unknown field, a value of the wrong type, or
  an override without '='.
  """
  for item in overrides:
    key, has_value, text = item[len('--config.') :].partition('=')
    if not has_value:
      raise errors.UserInputError(f'{item}: give the value after "=" (--config.{key}=VALUE).')
    node, parts = config, key.split('.')
    for part in parts[:-1]:
      if part not in node or not hasattr(node[part], 'keys'):
        raise errors.UserInputError(f'--config.{key}: the config has no field {part!r}.')
      node = node[part]
    field = parts[-1]
    if field not in node:
      raise errors.UserInputError(f'--config.{key}: the config has no field {field!r}.')
    old = node[field]
    try:
      if isinstance(old, bool):
        if text.lower() not in ('true', 'false', '1', '0'):
          raise ValueError(text)
        value = text.lower() in ('true', '1')
      elif isinstance(old, (int, float)):
        value = type(old)(text)
      elif isinstance(old, (tuple, list)):
        value = ast.literal_eval(text) if text.strip()[:1] in '([' else text.split(',')
      else:
        value = text
      node[field] = value
    except (TypeError, ValueError, SyntaxError):
      raise errors.UserInputError(
        f'--config.{key}={text!r}: expected a value of type {type(old).__name__}.'
      ) from None
  return config


def load_config(spec, overrides, workdir):
  """The run's config: `spec` (path.py[:args]) with the overrides, checked against the
  WORKDIR/config.json the run saved (the DATA_FIELDS must agree); UserInputError
  naming the field and the override to add otherwise."""
  config = apply_overrides(configs.load_config_file(spec), overrides)
  saved_path = os.path.join(workdir, 'config.json')
  if os.path.exists(saved_path):
    with open(saved_path) as f:
      saved = json.load(f)
    for field in DATA_FIELDS:
      if field in saved and saved[field] != config.get(field, saved[field]):
        want = repr(saved[field]) if isinstance(saved[field], str) else saved[field]
        raise errors.UserInputError(
          f'{saved_path}: the run was trained with config.{field}={saved[field]!r}, but '
          f'--config gives {config.get(field)!r}; add --config.{field}={want} (the '
          'overrides it was trained with).'
        )
  return config


def plan(pool, reals, ratios, cas_counts):
  """The conditions: [dict(condition, real, generated, ratio)].

  `reals` are counts or 'all' (= pool); 'real' (ratio 0) and 'generated' (matched
  count) for each, 'mixed' for each ratio > 0, then each extra generated-only count.
  Raises UserInputError for a real count above `pool`.
  """
  out, seen = [], set()
  for n in reals:
    n = pool if n == 'all' else int(n)
    if n > pool:
      raise errors.UserInputError(
        f'--real {n}: the run trains on {pool} images; give counts up to {pool} (or all).'
      )
    if n in seen:
      continue
    seen.add(n)
    out.append(dict(condition='real', real=n, generated=0, ratio=0.0))
    for r in ratios:
      if r > 0:
        out.append(dict(condition='mixed', real=n, generated=int(round(r * n)), ratio=r))
  extra = {pool if n == 'all' else int(n) for n in cas_counts}
  for n in sorted(seen | extra):
    out.append(dict(condition='generated', real=0, generated=n, ratio=None))
  return out


def measure(exp, state, conditions, seeds, steps, heldout, use_ema=True, progress=print):
  """Trains and scores the classifier of every condition for every seed.

  Args:
    exp: the run's Experiment (any object with config, dataset, sample, labels: see
      gans.eval.cas.generated).
    state: its train state.
    conditions: from `plan`.
    seeds: ints.
    steps: classifier optimizer steps.
    heldout: (images float32 [M, H, W, C] in [-1, 1], labels int [M]).
    use_ema: sample with the EMA weights where kept.
    progress: called with one line per classifier.

  Returns:
    `conditions`, each with per-seed `accuracy`, `per_class`, `steps_taken`, `seconds`.
  """
  config, pool = exp.config, exp.dataset
  k = configs.class_count(config)
  labels = cas.all_labels(pool)
  total, done, start = len(conditions) * len(seeds), 0, time.time()
  results = [dict(c, accuracy=[], per_class=[], steps_taken=[], seconds=[]) for c in conditions]
  most = max(c['generated'] for c in conditions)
  for seed in seeds:
    fake_x, fake_y = cas.generated(exp, state, most, seed, None, use_ema) if most else (None, None)
    subsets = {}
    for c in results:
      n, g = c['real'], c['generated']
      if n and n not in subsets:
        idx = cas.stratified_indices(labels, n, seed)
        x, y = pool.get(idx)
        subsets[n] = (np.asarray(x, np.float32), np.asarray(y, np.int32))
      parts = ([subsets[n]] if n else []) + ([(fake_x[:g], fake_y[:g])] if g else [])
      x = np.concatenate([p[0] for p in parts])
      y = np.concatenate([p[1] for p in parts])
      score = cas.train_and_score(config, x, y, k, heldout, steps, seed)
      c['accuracy'].append(score['accuracy'])
      c['per_class'].append(score['per_class'])
      c['steps_taken'].append(score['steps'])
      c['seconds'].append(score['seconds'])
      done += 1
      elapsed = time.time() - start
      eta = elapsed / done * (total - done)
      progress(
        f'[{done}/{total}] seed {seed} {describe(c)}: held-out accuracy '
        f'{score["accuracy"]:.4f} ({score["steps"]} steps, {score["seconds"]:.1f} s; '
        f'ETA {eta / 60:.1f} min)'
      )
  for c in results:
    c['mean'], c['stderr'] = cas.mean_and_stderr(c['accuracy'])
  for c in results:
    base = next((b for b in results if b['condition'] == 'real' and b['real'] == c['real']), None)
    if c['condition'] == 'mixed' and base is not None:
      diff = np.subtract(c['accuracy'], base['accuracy'])
      c['gain_mean'], c['gain_stderr'] = cas.mean_and_stderr(diff)
    if c['condition'] == 'generated':
      same = next(
        (b for b in results if b['condition'] == 'real' and b['real'] == c['generated']), None
      )
      if same is not None:
        c['real_same_count'] = same['mean']
        c['cas_ratio'] = c['mean'] / same['mean'] if same['mean'] > 0 else float('nan')
  return results


def describe(c):
  """'100 real', '100 real + 50 generated (ratio 0.5)' or '5000 generated only'."""
  if c['condition'] == 'real':
    return f'{c["real"]} real'
  if c['condition'] == 'mixed':
    return f'{c["real"]} real + {c["generated"]} generated (ratio {c["ratio"]:g})'
  return f'{c["generated"]} generated only'


def _pct(c, key='mean', se='stderr', fmt='.1f'):
  """'mean ± stderr' of c[key] and c[se] in % ('-' for no condition)."""
  if c is None:
    return '-'
  text = f'{100 * c[key]:{fmt}}'
  if np.isfinite(c.get(se, float('nan'))):
    text += f' ± {100 * c[se]:.1f}'
  return text


def markdown(results, protocol):
  """The two tables (accuracies in % of the held-out real images, mean ± standard error
  over seeds) and a line stating the protocol."""
  reals = sorted({c['real'] for c in results if c['condition'] == 'real'})
  ratios = sorted({c['ratio'] for c in results if c['condition'] == 'mixed'})
  find = lambda cond, real, gen=None, ratio=None: next(
    (
      c
      for c in results
      if c['condition'] == cond
      and c['real'] == real
      and (gen is None or c['generated'] == gen)
      and (ratio is None or c['ratio'] == ratio)
    ),
    None,
  )
  head = ['real images', 'real only'] + [f'real + {r:g}x generated' for r in ratios]
  lines = [
    '| ' + ' | '.join(head) + ' |',
    '| ' + ' | '.join(['---'] * len(head)) + ' |',
  ]
  for n in reals:
    cells = [str(n), _pct(find('real', n))]
    for r in ratios:
      c = find('mixed', n, ratio=r)
      cell = _pct(c)
      if c is not None and 'gain_mean' in c:
        cell += f' ({_pct(c, "gain_mean", "gain_stderr", "+.1f")})'
      cells.append(cell)
    lines.append('| ' + ' | '.join(cells) + ' |')
  lines += [
    '',
    '| generated images, no real | CAS | real only, same count | CAS / real |',
    '| --- | --- | --- | --- |',
  ]
  for c in sorted(
    (c for c in results if c['condition'] == 'generated'), key=lambda c: c['generated']
  ):
    real = find('real', c['generated'])
    ratio = f'{c["cas_ratio"]:.2f}' if 'cas_ratio' in c else '-'
    lines.append(f'| {c["generated"]} | {_pct(c)} | {_pct(real)} | {ratio} |')
  p = protocol
  seeds = (
    f'mean ± standard error over seeds {", ".join(map(str, p["seeds"]))}'
    if len(p['seeds']) > 1
    else f'one seed ({p["seeds"][0]}, no standard error)'
  )
  lines += [
    '',
    f'Held-out accuracy (%) on {p["num_heldout"]} real images of {p["dataset"]} '
    f'{p["heldout_split"]}, {seeds}; in brackets the change from real only (points; '
    f'paired by seed: same real images, same classifier seed). Run {p["workdir"]} at step {p["step"]} '
    f'({"EMA" if p["ema"] else "live"} generator); real images class-stratified from '
    f'{p["train_split"]}; classifier: gans.metrics.classifier recipe, {p["steps"]} steps of '
    f'batch 64 per condition.',
  ]
  return '\n'.join(lines) + '\n'


def plot(results, path):
  """Held-out accuracy against generated/real ratio, one line per real count (error bars:
  standard error); the matched CAS of each count dotted in the same colour, the other
  generated-only counts dashed grey."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, ax = plt.subplots(figsize=(6.5, 4.2))
  reals = sorted({c['real'] for c in results if c['condition'] == 'real'})
  for i, n in enumerate(reals):
    colour = f'C{i}'
    line = sorted(
      (c for c in results if c['condition'] in ('real', 'mixed') and c['real'] == n),
      key=lambda c: c['ratio'],
    )
    ax.errorbar(
      [c['ratio'] for c in line],
      [100 * c['mean'] for c in line],
      yerr=[100 * np.nan_to_num(c['stderr']) for c in line],
      color=colour,
      marker='o',
      capsize=3,
      label=f'{n} real',
    )
    matched = next(
      (c for c in results if c['condition'] == 'generated' and c['generated'] == n), None
    )
    if matched is not None:
      ax.axhline(100 * matched['mean'], color=colour, ls=':', lw=1.2)
  for c in results:
    if c['condition'] == 'generated' and c['generated'] not in reals:
      ax.axhline(100 * c['mean'], color='gray', ls='--', lw=1)
      ax.text(0, 100 * c['mean'], f' {c["generated"]} generated only', color='gray', va='bottom')
  ax.set_xlabel('generated images per real image (ratio r; r n generated added)')
  ax.set_ylabel('held-out real accuracy (%)')
  ax.set_title(
    'Classifier trained on real + generated images\n(dotted: generated only, same count)'
  )
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  with files.atomic_open(path, 'wb') as f:
    fig.savefig(f, format='png', dpi=90)
  plt.close(fig)


def build(
  config,
  workdir,
  reals,
  ratios,
  cas_counts,
  seeds,
  steps=1000,
  heldout_split='',
  use_ema=True,
  step=None,
  progress=print,
):
  """Measures every condition on the run in `workdir`; writes the three files.

  Returns (results, protocol). Raises UserInputError for an unconditional run, a held-out
  split that overlaps the training split, a real count above the training split, and
  MissingInputError for a workdir without a checkpoint.
  """
  start = time.time()
  # The checks that read no data first, so that bad input fails at once.
  cas.check_conditional(config, None, f'The run in {workdir}')
  split = cas.heldout_split(config, heldout_split, '--heldout_split')
  exp, state = loop.restore_latest(config, workdir, step=step)
  pool = exp.dataset
  k = cas.check_conditional(config, pool, f'The run in {workdir}')
  conditions = plan(pool.num_examples, reals, ratios, cas_counts)
  held = data.load(config, split=split)
  x, y = held.get(np.arange(held.num_examples))
  heldout = (np.asarray(x, np.float32), np.asarray(y, np.int32))
  progress(
    f'{len(conditions)} conditions x {len(seeds)} seeds on {workdir} (step '
    f'{int(state.step)}, {k} classes); held-out: {held.num_examples} images of {split}.'
  )
  results = measure(exp, state, conditions, seeds, steps, heldout, use_ema, progress)
  protocol = dict(
    paper=cas.PAPER,
    workdir=os.path.abspath(workdir),
    step=int(state.step),
    family=config.get('family', 'gan'),
    dataset=config.dataset,
    train_split=config.get('train_split', 'train'),
    num_train=pool.num_examples,
    heldout_split=split,
    num_heldout=held.num_examples,
    seeds=list(seeds),
    steps=int(steps),
    classifier='gans.metrics.classifier recipe (batch 64, Adam 2e-3 cosine), no internal '
    'hold-out, a fixed number of steps (whole epochs, at least `steps`)',
    ema=bool(use_ema and state.ema),
    generated='sample i has class i mod K; latents PRNGKey(seed); quantized to uint8; '
    'one stream per seed, every count a prefix of it',
    real='class-stratified draw from the training split with each seed (the same for '
    'every condition of that seed)',
    stderr='sample standard deviation over seeds / sqrt(number of seeds)',
  )
  protocol.update(getattr(exp, 'protocol', {}) or {})
  protocol['seconds'] = round(time.time() - start, 1)
  out = os.path.join(workdir, 'analysis')
  os.makedirs(out, exist_ok=True)
  table = markdown(results, protocol)
  with files.atomic_open(os.path.join(out, f'{NAME}.md'), 'w') as f:
    f.write(table)
  with files.atomic_open(os.path.join(out, f'{NAME}.json'), 'w') as f:
    json.dump(
      files.json_safe(dict(protocol=protocol, conditions=results)), f, indent=1, allow_nan=False
    )
  plot(results, os.path.join(out, f'{NAME}.png'))
  progress(table)
  progress(f'Wrote {out}/{NAME}.md, .json and .png in {protocol["seconds"] / 60:.1f} min.')
  return results, protocol


def main(argv=None):
  """Runs the command; returns its exit status (0, or 2 after one `error:` line on stderr)."""
  parser = _Parser(
    prog=f'python -m gans.tools.{NAME}', description=__doc__.split('\n')[0], allow_abbrev=False
  )
  parser.add_argument('--config', required=True, help="The run's experiment file path.py[:args].")
  parser.add_argument('--workdir', required=True, help="The run's directory (its checkpoints).")
  parser.add_argument(
    '--real', default='100,500,all', type=_counts, help='Real image counts (or all).'
  )
  parser.add_argument(
    '--ratios', default='0,0.5,1,2', type=_ratios, help='Generated images per real image.'
  )
  parser.add_argument(
    '--cas', default='5000', type=_counts, help='Generated-only counts besides each --real.'
  )
  parser.add_argument('--seeds', default='0,1,2', type=_seeds)
  parser.add_argument(
    '--steps',
    default=1000,
    type=tools.int_at_least(1),
    help='Classifier optimizer steps (batch 64).',
  )
  parser.add_argument('--heldout_split', default='', help='Default: data.default_heldout_split.')
  parser.add_argument(
    '--step', default=None, type=tools.int_at_least(1), help='Checkpoint (default latest).'
  )
  parser.add_argument('--no_ema', action='store_true', help='Sample with the live weights.')
  args, rest = parser.parse_known_args(argv)
  bad = [a for a in rest if not a.startswith('--config.')]
  if bad:
    parser.error(f'unrecognized arguments: {" ".join(bad)}')
  try:
    config = load_config(args.config, rest, args.workdir)
    build(
      config,
      args.workdir,
      args.real,
      args.ratios,
      args.cas,
      args.seeds,
      args.steps,
      args.heldout_split,
      not args.no_ema,
      args.step,
      progress=lambda line: print(line, flush=True),
    )
  except (OSError, ValueError) as e:
    print(f'error: {errors.one_line(e) or type(e).__name__}', file=sys.stderr)
    return errors.EXIT_STATUS
  return 0


if __name__ == '__main__':
  sys.exit(main())
