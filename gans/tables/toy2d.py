r"""The 2D mode-collapse table: PacGAN / VEEGAN ring of 8 and grid of 25 Gaussians.

  python -m gans.tables run toy2d                         # CPU budget (README table)
  python -m gans.tables run toy2d --budget paper --seeds 10   # PacGAN's own (accelerator)

Each cell (dataset, method) is a sweep of `experiments/toy.py:dataset=...,method=...,
setup=...,size=...,steps=...,lr=...,b1=...,decay=...` over `seeds` seeds, trained by
the sweep runner (gans.sweep: the seeds of a cell are one vectorised program) into
WORKDIR/<dataset>_<method>/. After training, 2,500 samples per run from G in inference
mode (batch-norm running statistics) are scored with `gans.metrics.mode_coverage`
(PacGAN's MetricLogger, Lin et al. 2018 Sec. 5.1: a sample is high quality within 3
sigma of the nearest mode, a mode is captured when it is the nearest mode of a
high-quality sample, reverse KL of the mode histogram to uniform). The table gives
mean +- standard error over seeds beside the published numbers, a verdict per metric
(gans.tables.report.VERDICT_RULE), and writes table.md, results.json and a scatter
plot per cell (<dataset>_<method>.png: 1,000 samples of each seed).

Published numbers (verified against the papers' tables):
- PacGAN (Lin et al. 2018) Table 1, 10 trials, mean +- s.e.; image in
  fjxmlzn/PacGAN synthetic_data_experiments/results/Table1.png.
- GDPP (Elfeki et al. 2019) Table 1 (Unrolled-GAN setup, no error bars, no reverse KL;
  M-Elfeki/GDPP Figures/Fig_2.png). Its ring repeats an endpoint (np.linspace(0, 2 pi, 8)),
  so it has 7 distinct modes where ours has 8.
"""

import os
import time

import numpy as np

from gans import configs
from gans import sweep
from gans.data import builtin
from gans.metrics import mode_coverage
from gans.tables import report
from gans.tables import runs
from gans.train import experiment as experiment_lib

EVAL_SAMPLES = 2500
METRICS = (('modes', 1), ('high_quality', 1), ('reverse_kl', 2))  # (name, decimals)

# (setup, dataset, method) -> {metric: (mean, standard error or None)}, metric values in
# the table's units (modes, % high quality, reverse KL).
PUBLISHED = {
  ('pacgan', 'ring8', 'gan'): dict(
    modes=(6.3, 0.5), high_quality=(98.2, 0.2), reverse_kl=(0.45, 0.09)
  ),
  ('pacgan', 'ring8', 'pacgan2'): dict(
    modes=(7.9, 0.1), high_quality=(95.6, 2.0), reverse_kl=(0.07, 0.03)
  ),
  ('pacgan', 'ring8', 'pacgan3'): dict(
    modes=(7.8, 0.1), high_quality=(97.7, 0.3), reverse_kl=(0.10, 0.02)
  ),
  ('pacgan', 'ring8', 'pacgan4'): dict(
    modes=(7.8, 0.1), high_quality=(95.9, 1.4), reverse_kl=(0.07, 0.02)
  ),
  ('pacgan', 'grid25', 'gan'): dict(
    modes=(17.3, 0.8), high_quality=(94.8, 0.7), reverse_kl=(0.70, 0.07)
  ),
  ('pacgan', 'grid25', 'pacgan2'): dict(
    modes=(23.8, 0.7), high_quality=(91.3, 0.8), reverse_kl=(0.13, 0.04)
  ),
  ('pacgan', 'grid25', 'pacgan3'): dict(
    modes=(24.6, 0.4), high_quality=(94.2, 0.4), reverse_kl=(0.06, 0.02)
  ),
  ('pacgan', 'grid25', 'pacgan4'): dict(
    modes=(24.8, 0.2), high_quality=(93.6, 0.6), reverse_kl=(0.04, 0.01)
  ),
  ('gdpp', 'ring8', 'gan'): dict(modes=(1.0, None), high_quality=(99.3, None)),
  ('gdpp', 'ring8', 'wgan_gp'): dict(modes=(6.8, None), high_quality=(59.6, None)),
  ('gdpp', 'grid25', 'gan'): dict(modes=(3.3, None), high_quality=(0.5, None)),
  ('gdpp', 'grid25', 'wgan_gp'): dict(modes=(24.2, None), high_quality=(28.7, None)),
}
SOURCES = {
  'pacgan': 'PacGAN (Lin et al. 2018) Table 1 (10 runs, mean +- s.e.)',
  'gdpp': 'GDPP (Elfeki et al. 2019) Table 1 (Unrolled-GAN setup; no error bars)',
}
METHOD_NAMES = {
  'gan': 'GAN',
  'pacgan2': 'PacGAN2',
  'pacgan3': 'PacGAN3',
  'pacgan4': 'PacGAN4',
  'wgan_gp': 'WGAN-GP',
  'lsgan': 'LSGAN',
  'wgan': 'WGAN',
}

# The CPU budget (2 cores): PacGAN's setup with narrower networks (G 4 x 64, D maxout
# 32 x 5 with LeCun-normal initial weights), 5k steps instead of 400k, and to get that
# far that fast a larger learning rate (2e-3, beta1 0.5, decayed linearly to 0) for
# every method; 5 seeds.
BUDGETS = dict(
  cpu=dict(
    toy=dict(setup='pacgan', size='tiny', steps=5000, lr=2e-3, b1=0.5, decay='linear'),
    datasets=('ring8', 'grid25'),
    methods=('gan', 'pacgan2', 'pacgan3', 'pacgan4', 'wgan_gp'),
    seeds=5,
  ),
  # PacGAN's own: the full networks, 400k steps, Adam 1e-4 / beta1 0.8, 10 trials.
  paper=dict(
    toy=dict(setup='pacgan', size='paper', steps=400_000, lr=0.0, b1=0.0, decay='none'),
    datasets=('ring8', 'grid25'),
    methods=('gan', 'pacgan2', 'pacgan3', 'pacgan4', 'wgan_gp'),
    seeds=10,
  ),
)


def toy_arg(dataset, method, setup='pacgan', size='tiny', steps=0, lr=0.0, b1=0.0, decay='none'):
  """The experiments/toy.py argument string of one cell."""
  return (
    f'dataset={dataset},method={method},setup={setup},size={size},steps={steps},lr={lr},'
    f'b1={b1},decay={decay}'
  )


def toy_config(dataset, method, **toy):
  """experiments/toy.py's config of one cell (`toy`: the budget's toy.py arguments)."""
  return configs.load_config_file(runs.experiment('toy', toy_arg(dataset, method, **toy)))


def score(exp, state, dataset, num=EVAL_SAMPLES, seed=0):
  """(samples [num, 2] float32, mode_coverage dict) of one trained toy run.

  Samples come from G in inference mode (gans.train.experiment.generate, latents from
  PRNGKey(seed)); scored against the mixture's means with PacGAN's 3-sigma rule.
  """
  means_fn, sigma = builtin.TOY_MIXTURES[dataset]
  samples = np.asarray(experiment_lib.generate(exp, state, num, seed=seed, batch_size=num))
  return samples, mode_coverage(samples, np.asarray(means_fn(), np.float32), sigma)


def summarize(results):
  """Per-run mode_coverage dicts -> {metric: (mean, standard error)} in table units.

  high_quality becomes a percentage; see report.mean_se (se NaN for one run or for a
  run with no high-quality sample, whose reverse KL is inf).
  """
  return dict(
    modes=report.mean_se([r['modes'] for r in results]),
    high_quality=report.mean_se([100.0 * r['high_quality'] for r in results]),
    reverse_kl=report.mean_se([r['reverse_kl'] for r in results]),
  )


def save_scatter(path, samples, dataset):
  """PNG of each run's first 1,000 samples (one 160-pixel tile per run) over the modes."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from gans.train import writer  # pylint: disable=g-import-not-at-top

  means = builtin.TOY_MIXTURES[dataset][0]()
  lim = 1.25 * np.abs(means).max() + 0.5
  tiles = [writer.scatter_image(s[:1000], reference=means, size=160, lim=lim) for s in samples]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.concatenate(tiles, axis=1)).save(path)


def run_cell(workdir, dataset, method, toy, seeds, vectorise=True, shrink=None):
  """Trains (or reuses) and scores one (dataset, method) cell; returns its row dict.

  `toy`: experiments/toy.py arguments; `seeds`: number of seeds (0 .. seeds - 1);
  `shrink`: optional function(config) -> config applied to the base config (tests).
  """
  spec = runs.experiment('toy', toy_arg(dataset, method, **toy))
  base = configs.load_config_file(spec)
  if shrink is not None:
    base = shrink(base)
  cell = os.path.join(workdir, f'{dataset}_{method}')
  members, seconds = runs.train(spec, sweep.seeds(seeds), cell, base=base, vectorise=vectorise)
  results, samples = [], []
  for m in members:
    exp, state = runs.restore(m, cell)
    s, r = score(exp, state, dataset)
    samples.append(s)
    results.append(dict(seed=int(m.config.seed), failed=runs.failed(m, cell), **r))
  save_scatter(os.path.join(workdir, f'{dataset}_{method}.png'), samples, dataset)
  return dict(
    dataset=dataset,
    method=method,
    toy=toy,
    steps=int(base.total_steps),
    runs=len(members),
    seconds=seconds,
    ours=summarize(results),
    paper=PUBLISHED.get((toy['setup'], dataset, method)),
    per_run=[
      dict(
        seed=r['seed'],
        failed=r['failed'],
        modes=r['modes'],
        high_quality=r['high_quality'],
        reverse_kl=r['reverse_kl'],
        counts=np.asarray(r['counts']).tolist(),
      )
      for r in results
    ],
  )


def markdown(rows, setup):
  """The table of `rows` (run_cell's) with the paper's columns and verdicts."""
  header = ['data', 'method']
  for name, _ in METRICS:
    label = {'high_quality': 'high quality %', 'reverse_kl': 'reverse KL'}.get(name, name)
    header += [f'{label} (ours)', '(paper)', 'verdict']
  header += ['runs', 'steps', 'time']
  body = []
  for r in rows:
    paper = r['paper'] or {}
    cells = [r['dataset'], METHOD_NAMES.get(r['method'], r['method'])]
    for name, digits in METRICS:
      ours, pub = tuple(r['ours'][name]), paper.get(name)
      cells += [report.fmt(ours, digits), report.fmt(pub, digits), report.verdict(ours, pub)]
    cells += [r['runs'], r['steps'], f'{r["seconds"]:.0f} s']
    body.append(cells)
  return report.markdown_table(header, body) + f'\nPaper columns: {SOURCES[setup]}.\n'


def resolve_budget(budget, seeds=None):
  """The budget dict of `budget` (a BUDGETS name or a dict like BUDGETS['cpu']), seeds set."""
  out = dict(BUDGETS[budget]) if isinstance(budget, str) else dict(budget)
  if seeds:
    out['seeds'] = int(seeds)
  return out


def run(workdir, budget='cpu', seeds=None, vectorise=True, shrink=None, log=print):
  """Trains and scores every cell of the budget; writes WORKDIR/table.md, results.json.

  Args:
    workdir: the table's folder; each cell's sweep is WORKDIR/<dataset>_<method>/.
    budget: 'cpu', 'paper' or a dict with keys toy (experiments/toy.py arguments),
      datasets, methods, seeds.
    seeds: overrides the budget's number of seeds.
    vectorise: False trains each seed alone (the per-run path, to compare).
    shrink: optional config -> config applied to every cell's config (tests).
    log: called with one line per finished cell.

  Returns:
    (markdown of table.md, rows): rows are run_cell's dicts.

  Raises:
    KeyError: an unknown budget name. UserInputError / ValueError: a bad toy.py argument.
  """
  b = resolve_budget(budget, seeds)
  start = time.time()
  rows = []
  for dataset in b['datasets']:
    for method in b['methods']:
      row = run_cell(workdir, dataset, method, b['toy'], b['seeds'], vectorise, shrink)
      rows.append(row)
      log(
        f'{dataset} {method}: modes {report.fmt(row["ours"]["modes"])}, high quality '
        f'{report.fmt(row["ours"]["high_quality"])} %, reverse KL '
        f'{report.fmt(row["ours"]["reverse_kl"], 2)} ({row["seconds"]:.0f} s)'
      )
  toy = b['toy']
  notes = [
    f'Protocol: experiments/toy.py setup={toy["setup"]}, size={toy["size"]}, '
    f'steps={toy["steps"] or "the setup default"}, lr={toy["lr"] or "default"}, '
    f'b1={toy["b1"] or "default"}, decay={toy["decay"]}; {b["seeds"]} seeds per cell, '
    f'each cell one vectorised sweep group; {EVAL_SAMPLES} samples per run scored with '
    "PacGAN's 3-sigma rule. Ours: mean +- standard error over seeds.",
    report.VERDICT_RULE,
    f'Total time of this invocation: {time.time() - start:.0f} s (cells reused from an '
    'earlier invocation count only their loading time).',
  ]
  text = report.write(
    workdir, '2D mode-collapse table (toy2d)', markdown(rows, toy['setup']), notes, rows
  )
  return text, rows
