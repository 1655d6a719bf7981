r"""PacGAN Tables 2 and 3: modes of Stacked MNIST captured by DCGAN and PacDCGAN2/3/4.

  python -m gans.tables run stacked_mnist                  # CPU budget: Table 2 cells
  python -m gans.tables run stacked_mnist --budget paper   # Tables 2 and 3, 10 seeds

Data: three mnist5k digits stacked as R, G and B (gans.metrics.stacked_mnist.dataset,
32x32, 1000 modes). Each cell (table, method) is a sweep over seeds of
experiments/dcgan.py with that dataset, G of width `width`, D of width `width` (Table 2)
or width / 4 and width / 2 (Table 3, PacGAN's smaller discriminators), and for
PacDCGANm `pack` = m with m times the batch (D sees `batch` packed examples of m
images, as PacGAN does); the seeds of a cell are one vectorised group in
WORKDIR/<table>_<method>/. After training, `num_samples` samples per run (PacGAN:
26,000) are classified channel by channel with the offline mnist5k classifier
(gans.eval.samples 'mode_count' on the stacked features): modes = classes 0..999 hit
by at least one sample, KL = KL(mode histogram || uniform over 1000).

Published: PacGAN (Lin et al. 2018) Table 2 (10 trials): DCGAN 78.9 +- 6.46 modes, KL
4.50; PacDCGAN2/3/4 1000 modes, KL 0.06 / 0.06 / 0.07. Table 3 (50 trials): D = 1/4 G:
DCGAN 30.6 +- 20.73, PacDCGAN4 667.4 +- 29.0; D = 1/2 G: DCGAN 628.0 +- 140.9,
PacDCGAN3 866.6 +- 12.1 (errors as published; KL not listed here). Their classifier is
a trained MNIST network on 28x28 MNIST; ours is the project's offline classifier on
32x32 mnist5k, and the CPU budget trains far less: the verdict column compares the
numbers as they are.
"""

import os
import time

from gans import configs
from gans import sweep
from gans import eval as eval_lib
from gans.metrics import stacked_mnist as stacked_lib
from gans.sweep import definition
from gans.tables import report
from gans.tables import runs

METHODS = {'dcgan': 1, 'pacdcgan2': 2, 'pacdcgan3': 3, 'pacdcgan4': 4}
METHOD_NAMES = {'dcgan': 'DCGAN', 'pacdcgan2': 'PacDCGAN2', 'pacdcgan3': 'PacDCGAN3'}
METHOD_NAMES['pacdcgan4'] = 'PacDCGAN4'
# table -> D width as a fraction of G's.
D_FRACTION = {'table2': 1.0, 'table3_quarter': 0.25, 'table3_half': 0.5}
TABLE_NAMES = {'table2': 'Table 2 (D = G)', 'table3_quarter': 'Table 3 (D = 1/4 G)'}
TABLE_NAMES['table3_half'] = 'Table 3 (D = 1/2 G)'
# (table, method) -> {metric: (mean, error as published or None)}.
PUBLISHED = {
  ('table2', 'dcgan'): dict(modes=(78.9, 6.46), kl=(4.50, None)),
  ('table2', 'pacdcgan2'): dict(modes=(1000.0, None), kl=(0.06, None)),
  ('table2', 'pacdcgan3'): dict(modes=(1000.0, None), kl=(0.06, None)),
  ('table2', 'pacdcgan4'): dict(modes=(1000.0, None), kl=(0.07, None)),
  ('table3_quarter', 'dcgan'): dict(modes=(30.6, 20.73)),
  ('table3_quarter', 'pacdcgan4'): dict(modes=(667.4, 29.0)),
  ('table3_half', 'dcgan'): dict(modes=(628.0, 140.9)),
  ('table3_half', 'pacdcgan3'): dict(modes=(866.6, 12.1)),
}
TABLE2 = tuple(('table2', m) for m in METHODS)
TABLE3 = (
  ('table3_quarter', 'dcgan'),
  ('table3_quarter', 'pacdcgan4'),
  ('table3_half', 'dcgan'),
  ('table3_half', 'pacdcgan3'),
)
BUDGETS = dict(
  # 2 cores: G width 16, batch 64 packed examples, 600 steps, 2 seeds, Table 2 only;
  # 10,000 samples per run for the count (PacGAN: 26,000).
  # Trained one seed after another: on XLA's CPU backend vmapped convolutions are
  # slower than separate runs (docs/benchmarks.md, "Sweeps").
  cpu=dict(
    cells=TABLE2,
    width=16,
    batch=64,
    steps=600,
    seeds=2,
    num_samples=10_000,
    lr=2e-4,
    vectorise=False,
  ),
  # Experiments/dcgan.py's width 64, 20k steps (our choice), 10 seeds, both tables,
  # 26,000 samples as PacGAN counts.
  paper=dict(
    cells=TABLE2 + TABLE3, width=64, batch=64, steps=20_000, seeds=10, num_samples=26_000, lr=2e-4
  ),
)


def cell_config(table, method, width, batch, steps, lr, shrink=None):
  """experiments/dcgan.py:dataset=stacked_mnist for one cell (see the module docstring)."""
  m = METHODS[method]
  config = configs.load_config_file(runs.experiment('dcgan', 'dataset=stacked_mnist'))
  overrides = {
    'generator.width': width,
    'discriminator.width': max(int(width * D_FRACTION[table]), 1),
    'batch_size': batch * m,
    'pack': m,
    'total_steps': steps,
    'log_every': max(steps // 5, 1),
    'sample_every': steps,
    'checkpoint_every': steps,
    'evals.samples.every': 0,
    'g_optimizer.lr': lr,
    'd_optimizer.lr': lr,
  }
  config = definition.apply_overrides(config, overrides, 'gans.tables.stacked_mnist')
  return shrink(config) if shrink is not None else config


def count_modes(config, exp, state, dataset, num_samples):
  """{'modes': float, 'kl': float} of `num_samples` samples of one run (offline classifier).

  Uses gans.eval.samples with metrics ('mode_count',) on the Stacked MNIST dataset, which
  classifies each channel with the mnist5k classifier (1000 joint classes).
  """
  fragment = dict(features='classifier', metrics=('mode_count',), num_samples=num_samples)
  out = eval_lib.samples.SampleEvaluator(config, dataset, fragment)(exp, state)
  return dict(modes=float(out['modes_classifier']), kl=float(out['modes_kl_classifier']))


def run(workdir, budget='cpu', seeds=None, dataset=None, shrink=None, log=print):
  """Trains and counts every cell; writes WORKDIR/table.md and results.json.

  Args:
    workdir: the table's folder; cell (table, method) is WORKDIR/<table>_<method>/.
    budget: 'cpu', 'paper' or a dict like BUDGETS['cpu'] (cells: (table, method) pairs).
    seeds: overrides the budget's number of seeds.
    dataset: the Stacked MNIST gans.data.Dataset (default
      gans.metrics.stacked_mnist.dataset(32), 50,000 images).
    shrink: optional config -> config applied to every cell (tests).
    log: called with one line per finished cell.

  Returns:
    (markdown of table.md, rows): per cell the per-run modes and KL and their mean +- s.e.

  Raises:
    KeyError: an unknown budget, table or method name.
  """
  b = dict(BUDGETS[budget]) if isinstance(budget, str) else dict(budget)
  if seeds:
    b['seeds'] = int(seeds)
  dataset = dataset or stacked_lib.dataset(image_size=32)
  start = time.time()
  rows = []
  spec = runs.experiment('dcgan', 'dataset=stacked_mnist')
  for table, method in b['cells']:
    base = cell_config(table, method, b['width'], b['batch'], b['steps'], b['lr'], shrink)
    cell = os.path.join(workdir, f'{table}_{method}')
    members, seconds = runs.train(
      spec,
      sweep.seeds(b['seeds']),
      cell,
      base=base,
      vectorise=b.get('vectorise', True),
      dataset=dataset,
    )
    per_run = []
    for m in members:
      exp, state = runs.restore(m, cell, dataset=dataset)
      per_run.append(
        dict(
          seed=int(m.config.seed), **count_modes(m.config, exp, state, dataset, b['num_samples'])
        )
      )
    rows.append(
      dict(
        table=table,
        method=method,
        runs=per_run,
        modes=report.mean_se([r['modes'] for r in per_run]),
        kl=report.mean_se([r['kl'] for r in per_run]),
        paper=PUBLISHED.get((table, method), {}),
        seconds=seconds,
      )
    )
    log(
      f'{table} {method}: modes {report.fmt(rows[-1]["modes"])}, '
      f'KL {report.fmt(rows[-1]["kl"], 2)} ({seconds:.0f} s)'
    )
  header = ['table', 'method', 'modes (ours)', '(paper)', 'verdict', 'KL (ours)', '(paper)']
  header += ['verdict', 'runs', 'time']
  body = []
  for r in rows:
    pm, pk = r['paper'].get('modes'), r['paper'].get('kl')
    body.append(
      [
        TABLE_NAMES[r['table']],
        METHOD_NAMES[r['method']],
        report.fmt(r['modes']),
        report.fmt(pm),
        report.verdict(r['modes'], pm),
        report.fmt(r['kl'], 2),
        report.fmt(pk, 2),
        report.verdict(r['kl'], pk),
        len(r['runs']),
        f'{r["seconds"]:.0f} s',
      ]
    )
  notes = [
    f'Protocol: experiments/dcgan.py on Stacked MNIST (3 mnist5k digits, 32x32x3, '
    f'{dataset.num_examples} images), G width {b["width"]}, D width {b["width"]} x the '
    f"table's fraction, {b['batch']} packed examples per batch, Adam {b['lr']} (beta1 0.5), "
    f'{b["steps"]} steps, {b["seeds"]} seeds per cell ('
    f'{"one vectorised group" if b.get("vectorise", True) else "trained one after another"}); '
    f'{b["num_samples"]} samples per run counted with the offline mnist5k classifier per channel '
    '(PacGAN: 26,000 samples, an MNIST classifier). Ours: mean +- standard error over seeds.',
    'Published: PacGAN (Lin et al. 2018) Table 2 (10 trials) and Table 3 (50 trials); '
    'errors as published, none listed for the KL values.',
    report.VERDICT_RULE,
    f'Total time of this invocation: {time.time() - start:.0f} s.',
  ]
  text = report.write(
    workdir, 'Stacked MNIST modes (stacked_mnist)', report.markdown_table(header, body), notes, rows
  )
  return text, rows
