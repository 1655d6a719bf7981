r"""Lucic et al. 2018 ("Are GANs Created Equal?") in miniature: losses under a random search.

  python -m gans.tables run losses                  # CPU budget (README table)
  python -m gans.tables run losses --budget paper   # wider search, longer runs

For each loss (minimax, non-saturating, least squares, WGAN with weight clipping,
WGAN-GP, DRAGAN) the same random search: `settings` draws of the learning rate (both
players' Adam, log-uniform), beta1 (uniform) and the penalty weight lambda (WGAN-GP and
DRAGAN, log-uniform), one list shared by every loss (common random numbers), each
setting trained with `seeds` seeds. Every run is experiments/dcgan.py on mnist5k (32x32
digits) with one architecture for all losses (DCGAN G and D of `width`, D without
batch norm so the penalties see per-example gradients), batch 64, one D step per G
step. A loss's settings and seeds differ only in numeric hyperparameters and the seed,
so each loss trains as one vectorised sweep group in WORKDIR/<loss>/.

Scored by fid_classifier (the Frechet distance in the offline MNIST classifier's
feature space, gans.eval.samples, `num_samples` samples against all 5,000 digits)
at the end of training. The table gives per loss: the best setting's mean +- s.e. over
its seeds (the setting with the lowest mean), the median over every run, and the
paper's MNIST value; `fid_box.png` is the box plot of every run's FID per loss.

Published: Lucic et al. 2018, Table 2, MNIST column (best FID after a wide search,
mean +- as published): MM GAN 9.8 +- 0.9, NS GAN 6.8 +- 0.5, LSGAN 7.8 +- 0.6, WGAN
6.7 +- 0.4, WGAN-GP 20.3 +- 5.0, DRAGAN 7.6 +- 0.4 (BEGAN 13.1 +- 1.0 has no loss
here). Their FID is computed on Inception features, ours on the offline classifier's:
the values are on different scales, so there is no verdict per value; the table
compares the orderings (Spearman rank correlation of the best values).
"""

import math
import os
import time

import numpy as np

from gans import configs
from gans import data
from gans import eval as eval_lib
from gans import sweep
from gans.sweep import definition
from gans.tables import report
from gans.tables import runs

# loss -> (label, overrides over the base config, whether lambda is searched)
LOSSES = {
  'minimax': ('MM GAN', dict(loss='minimax'), False),
  'non_saturating': ('NS GAN', dict(loss='non_saturating'), False),
  'least_squares': ('LSGAN', dict(loss='least_squares'), False),
  'wgan': ('WGAN', dict(loss='wasserstein', weight_clip=0.01), False),
  'wgan_gp': ('WGAN-GP', dict(loss='wasserstein'), 'gradient_penalty'),
  'dragan': ('DRAGAN', dict(loss='non_saturating'), 'dragan'),
}
# Lucic et al. 2018 Table 2, MNIST column (Inception FID; mean +- as published).
PUBLISHED = {
  'minimax': (9.8, 0.9),
  'non_saturating': (6.8, 0.5),
  'least_squares': (7.8, 0.6),
  'wgan': (6.7, 0.4),
  'wgan_gp': (20.3, 5.0),
  'dragan': (7.6, 0.4),
}
BUDGETS = dict(
  # 2 cores: narrow networks, 300 steps, a narrower learning-rate range so that 300
  # steps can reach digits (Lucic et al. search 1e-5 .. 1e-2), 3 settings x 2 seeds.
  cpu=dict(
    width=16,
    steps=300,
    settings=3,
    seeds=2,
    lr=(1e-4, 2e-3),
    b1=(0.0, 0.9),
    penalty=(0.1, 100.0),
    num_samples=2000,
    vectorise=False,  # On XLA's CPU backend vmapped convolutions are slower (docs/benchmarks.md).
  ),
  # Lucic et al.'s ranges (lr 1e-5 .. 1e-2, beta1 0 .. 1, lambda 0.1 .. 100), the
  # DCGAN width, 20 settings x 5 seeds (they used 100 settings and up to 50 seeds).
  paper=dict(
    width=64,
    steps=20_000,
    settings=20,
    seeds=5,
    lr=(1e-5, 1e-2),
    b1=(0.0, 1.0),
    penalty=(0.1, 100.0),
    num_samples=10_000,
    vectorise=True,
  ),
)
SEARCH_SEED = 2018


def search(settings, lr, b1, penalty, seed=SEARCH_SEED):
  """The random search: `settings` dicts {lr, b1, penalty} (floats), the same for every loss.

  lr and penalty are log-uniform in their (low, high) ranges, b1 uniform in its range;
  drawn with numpy's default_rng(seed), so a budget always gives the same settings.
  """
  rng = np.random.default_rng(seed)
  log_uniform = lambda lo, hi: float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
  out = []
  for _ in range(settings):
    out.append(dict(lr=log_uniform(*lr), b1=float(rng.uniform(*b1)), penalty=log_uniform(*penalty)))
  return out


def base_config(loss, width, steps, shrink=None):
  """experiments/dcgan.py on mnist5k with the table's shared architecture and `loss`."""
  config = configs.load_config_file(runs.experiment('dcgan'))
  overrides = {
    'generator.width': width,
    'discriminator.width': width,
    'discriminator.norm': 'none',
    'batch_size': 64,
    'n_critic': 1,
    'total_steps': steps,
    'log_every': max(steps // 5, 1),
    'sample_every': steps,
    'checkpoint_every': steps,
    'evals.samples.every': 0,
    **LOSSES[loss][1],
  }
  config = definition.apply_overrides(config, overrides, 'gans.tables.losses')
  return shrink(config) if shrink is not None else config


def member_overrides(loss, settings, seeds):
  """The sweep members of one loss: every setting x `seeds` seeds, as override dicts."""
  penalty_key = LOSSES[loss][2]
  per_setting = []
  for s in settings:
    o = {'g_optimizer.lr': s['lr'], 'd_optimizer.lr': s['lr']}
    o.update({'g_optimizer.b1': s['b1'], 'd_optimizer.b1': s['b1']})
    if penalty_key:
      o[penalty_key] = s['penalty']
    per_setting.append(o)
  return sweep.product(per_setting, sweep.seeds(seeds))


def fid(config, exp, state, dataset, num_samples):
  """fid_classifier (float) of one run: `num_samples` samples against `dataset` (all digits)."""
  fragment = dict(
    features='classifier', metrics=('fid',), num_samples=num_samples, reference_split='train'
  )
  return float(
    eval_lib.samples.SampleEvaluator(config, dataset, fragment)(exp, state)['fid_classifier']
  )


def spearman(a, b):
  """Spearman rank correlation of two equal-length sequences (no ties expected); NaN if < 2."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if len(a) < 2:
    return float('nan')
  ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
  return float(np.corrcoef(ra, rb)[0, 1])


def box_plot(path, rows):
  """fid_box.png: every run's fid_classifier per loss (box plot, runs as points)."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
  values = [[r['fid'] for r in row['runs'] if math.isfinite(r['fid'])] or [np.nan] for row in rows]
  ax.boxplot(values)
  ax.set_xticks(range(1, len(rows) + 1), [LOSSES[r['loss']][0] for r in rows])
  for i, v in enumerate(values):
    ax.scatter(np.full(len(v), i + 1), v, s=10, alpha=0.6)
  ax.set_ylabel('fid_classifier (lower is better)')
  ax.set_title('Random search per loss (mnist5k)')
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def run(workdir, budget='cpu', seeds=None, losses=None, shrink=None, log=print):
  """Trains the random search of every loss, scores it, writes table.md, results.json, fid_box.png.

  Args:
    workdir: the table's folder; loss L's sweep is WORKDIR/L/.
    budget: 'cpu', 'paper' or a dict like BUDGETS['cpu'].
    seeds: overrides the budget's seeds per setting.
    losses: names of LOSSES to run (default all).
    shrink: optional config -> config applied to every base config (tests).
    log: called with one line per finished loss.

  Returns:
    (markdown of table.md, rows): per loss its settings, every run's fid (float, NaN
    for a run that stopped on a non-finite loss), best setting and seconds.

  Raises:
    KeyError: an unknown budget or loss name.
  """
  b = dict(BUDGETS[budget]) if isinstance(budget, str) else dict(budget)
  if seeds:
    b['seeds'] = int(seeds)
  settings = search(b['settings'], b['lr'], b['b1'], b['penalty'])
  start = time.time()
  rows = []
  digits = None
  for loss in losses or LOSSES:
    base = base_config(loss, b['width'], b['steps'], shrink)
    if digits is None:
      digits = data.load(base, split='train')
    cell = os.path.join(workdir, loss)
    spec = runs.experiment('dcgan')
    members, seconds = runs.train(
      spec,
      member_overrides(loss, settings, b['seeds']),
      cell,
      base=base,
      vectorise=b.get('vectorise', True),
    )
    results = []
    for i, m in enumerate(members):
      value = float('nan')
      if not runs.failed(m, cell):
        exp, state = runs.restore(m, cell)
        value = fid(m.config, exp, state, digits, b['num_samples'])
      results.append(dict(setting=i // b['seeds'], seed=int(m.config.seed), fid=value))
    by_setting = [
      report.mean_se([r['fid'] for r in results if r['setting'] == s]) for s in range(len(settings))
    ]
    finite = [i for i, v in enumerate(by_setting) if math.isfinite(v[0])]
    best = min(finite, key=lambda i: by_setting[i][0]) if finite else None
    all_fid = [r['fid'] for r in results if math.isfinite(r['fid'])]
    rows.append(
      dict(
        loss=loss,
        runs=results,
        settings=settings,
        by_setting=by_setting,
        best_setting=best,
        best=by_setting[best] if best is not None else (float('nan'), float('nan')),
        median=float(np.median(all_fid)) if all_fid else float('nan'),
        failed=len(results) - len(all_fid),
        seconds=seconds,
        paper=PUBLISHED[loss],
      )
    )
    log(
      f'{loss}: best {report.fmt(rows[-1]["best"])}, median {rows[-1]["median"]:.1f} '
      f'({seconds:.0f} s)'
    )
  box_plot(os.path.join(workdir, 'fid_box.png'), rows)
  header = [
    'loss',
    'best setting (lr, beta1, lambda)',
    'best fid_classifier (ours)',
    'median (ours)',
  ]
  header += ['runs (failed)', 'paper MNIST FID (Inception)', 'rank ours', 'rank paper', 'time']
  rank = lambda vals: list(np.argsort(np.argsort(vals)) + 1)
  ours_rank = rank([r['best'][0] if math.isfinite(r['best'][0]) else np.inf for r in rows])
  paper_rank = rank([r['paper'][0] for r in rows])
  body = []
  for r, ro, rp in zip(rows, ours_rank, paper_rank):
    s = settings[r['best_setting']] if r['best_setting'] is not None else None
    lam = f', {s["penalty"]:.3g}' if s and LOSSES[r['loss']][2] else ''
    body.append(
      [
        LOSSES[r['loss']][0],
        f'{s["lr"]:.2e}, {s["b1"]:.2f}{lam}' if s else '-',
        report.fmt(r['best']),
        f'{r["median"]:.1f}',
        f'{len(r["runs"])} ({r["failed"]})',
        report.fmt(r['paper']),
        ro,
        rp,
        f'{r["seconds"]:.0f} s',
      ]
    )
  mode = 'vectorised per loss' if b.get('vectorise', True) else 'one run after another'
  rho = spearman([r['best'][0] for r in rows], [r['paper'][0] for r in rows])
  notes = [
    f'Protocol: experiments/dcgan.py on mnist5k 32x32, G and D width {b["width"]} (D without '
    f'batch norm), batch 64, 1 D step per G step, {b["steps"]} steps; random search of '
    f'{b["settings"]} settings (lr log-uniform in {b["lr"]}, beta1 uniform in {b["b1"]}, lambda '
    f'log-uniform in {b["penalty"]} for WGAN-GP and DRAGAN; the same draws for every loss) x '
    f'{b["seeds"]} seeds ({mode}); fid_classifier on {b["num_samples"]} samples against the '
    '5,000 digits. '
    'Best: the setting with the lowest mean over its seeds, mean +- s.e. over those seeds.',
    'Published: Lucic et al. 2018 Table 2, MNIST column (best FID of a wide search, 100 settings, '
    'Inception-network FID). The scales differ (Inception against classifier features), so no '
    f'verdict per value; the orderings compare by Spearman rank correlation: {rho:.2f} '
    f'over {len(rows)} losses (1: the same order).',
    f'Total time of this invocation: {time.time() - start:.0f} s.',
  ]
  text = report.write(
    workdir,
    'Losses under a random search (losses)',
    report.markdown_table(header, body),
    notes,
    dict(rows=rows, spearman=rho, budget=b),
  )
  return text, rows
