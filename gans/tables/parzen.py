r"""The GAN paper's Table 1 protocol over seeds: Parzen-window log-likelihood of the families.

  python -m gans.tables run parzen                  # CPU budget: GAN, WGAN-GP, VAE, 3 seeds
  python -m gans.tables run parzen --budget paper   # every family, 5 seeds

Each family's default experiment (the runs of gans.tools.family_table: the same 4,000
mnist5k training digits `train[:4000]` at 32x32) is a sweep over seeds in
WORKDIR/<family>/; the budget's `vectorise` families train their seeds as one
vectorised program (the GAN's MLPs; WGAN-GP's DCGAN too at the paper budget, where an
accelerator is assumed), the others one run after another. Each run is scored as
Goodfellow et al. 2014 Table 1 (following Breuleux et al. 2011): Gaussian kernels on
`num_parzen` generated samples, sigma chosen on the 500 validation digits
train[4000:4500], mean log-likelihood of the 500 test digits train[4500:] (gans.tools.family_table.parzen_estimate). The table gives
the mean +- standard error over seeds of each run's test mean, for pixels in [0, 1]
(our [-1, 1] value + D ln 2, D = 1,024).

Published: Goodfellow et al. 2014 Table 1, MNIST: GAN 225 +- 2 (their +- is the
standard error over test digits of one model). Not comparable protocols (28x28 MNIST,
D = 784, 60,000 training digits and 10,000 samples there; 32x32 mnist5k, D = 1,024,
4,000 digits here), so no verdict: the column is for reading, as the paper's caveat
(and Theis et al. 2016) says the estimate is a poor proxy for likelihood anyway.
"""

import os
import time

from gans import sweep
from gans.tables import report
from gans.tables import runs
from gans.tools import family_table

PUBLISHED = {'gan': (225.0, 2.0)}
BUDGETS = dict(
  cpu=dict(
    families=('gan', 'wgan_gp', 'vae'),
    seeds=3,
    steps=0,
    num_parzen=10_000,
    # The families whose seeds train as one vectorised program: the GAN's MLPs. On
    # XLA's CPU backend vmapped convolutions are slower than one run after another
    # (WGAN-GP's DCGAN: 0.22 steps/s for 3 vectorised seeds; docs/benchmarks.md).
    vectorise=('gan',),
  ),
  paper=dict(
    families=tuple(r[0] for r in family_table.RUNS),
    seeds=5,
    steps=0,
    num_parzen=10_000,
    vectorise=('gan', 'wgan_gp'),
  ),
)


def run(workdir, budget='cpu', seeds=None, shrink=None, log=print):
  """Trains every family's seeds, scores them, writes WORKDIR/table.md and results.json.

  Args:
    workdir: the table's folder; family F's sweep is WORKDIR/F/.
    budget: 'cpu', 'paper' or a dict like BUDGETS['cpu'] (steps 0: the defaults;
      vectorise: the families whose seeds train as one vectorised program).
    seeds: overrides the budget's number of seeds.
    shrink: optional config -> config applied to every family's config (tests).
    log: called with one line per finished family.

  Returns:
    (markdown of table.md, rows): per family the per-run Parzen dicts and the mean +-
    s.e. over seeds of the test mean, in nats for [0, 1] and [-1, 1] pixels.

  Raises:
    KeyError: an unknown budget or family name.
  """
  b = dict(BUDGETS[budget]) if isinstance(budget, str) else dict(budget)
  if seeds:
    b['seeds'] = int(seeds)
  specs = {r[0]: r for r in family_table.RUNS}
  vectorised = b.get('vectorise', b['families'])
  start = time.time()
  rows = []
  for name in b['families']:
    _, spec, paper, overrides = specs[name]
    base = family_table.run_config(spec, overrides, b['steps'] or None)
    if shrink is not None:
      base = shrink(base)
    cell = os.path.join(workdir, name)
    path = runs.experiment(os.path.splitext(spec)[0])
    members, seconds = runs.train(
      path,
      sweep.seeds(b['seeds']),
      cell,
      base=base,
      vectorise=name in vectorised,
    )
    per_run = []
    for m in members:
      exp, state = runs.restore(m, cell)
      p = family_table.parzen_estimate(m.config, exp, state, b['num_parzen'])
      per_run.append(
        dict(seed=int(m.config.seed), **{k: v for k, v in p.items() if k != 'by_sigma'})
      )
    rows.append(
      dict(
        family=name,
        paper_name=paper,
        steps=int(base.total_steps),
        runs=per_run,
        parzen_01=report.mean_se([r['mean_01'] for r in per_run]),
        parzen=report.mean_se([r['mean'] for r in per_run]),
        published=PUBLISHED.get(name),
        seconds=seconds,
      )
    )
    log(f'{name}: Parzen [0,1] {report.fmt(rows[-1]["parzen_01"])} ({seconds:.0f} s)')
  header = ['family', 'steps', 'Parzen [0,1] px (ours)', '[-1,1] px (ours)', 'sigma']
  header += ['published (MNIST, Table 1)', 'verdict', 'runs', 'time']
  body = []
  for r in rows:
    sigmas = sorted({f'{p["sigma"]:.2f}' for p in r['runs']})
    body.append(
      [
        f'{r["family"]} ({r["paper_name"]})',
        r['steps'],
        report.fmt(r['parzen_01'], 0),
        report.fmt(r['parzen'], 0),
        ', '.join(sigmas),
        report.fmt(r['published'], 0),
        '-',
        len(r['runs']),
        f'{r["seconds"]:.0f} s',
      ]
    )
  together = ', '.join(n for n in b['families'] if n in vectorised) or 'none'
  mode = f'seeds trained as one vectorised program: {together}; the others one after another'
  notes = [
    f"Protocol: each family's default experiment on mnist5k train[:4000] at 32x32 "
    f'({b["steps"] or "default"} steps), {b["seeds"]} seeds ({mode}); Parzen windows on '
    f'{b["num_parzen"]} samples, sigma from the validation digits train[4000:4500], test mean '
    'over train[4500:]; ours: mean +- standard error over seeds of that test mean.',
    'Published: Goodfellow et al. 2014 Table 1 (MNIST 28x28, D = 784; +- is the standard error '
    'over test digits of one model). No verdict: the protocols differ (data size, resolution, '
    'D), and Parzen estimates are a poor proxy for likelihood (Theis et al. 2016).',
    f'Total time of this invocation: {time.time() - start:.0f} s.',
  ]
  text = report.write(
    workdir,
    'Parzen-window log-likelihood (parzen)',
    report.markdown_table(header, body),
    notes,
    rows,
  )
  return text, rows
