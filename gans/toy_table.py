r"""The 2D mode-collapse table: several seeds of several methods on ring8 and grid25.

  python -m gans.toy_table                              # the README table (CPU_BUDGET)
  python -m gans.toy_table --budget paper --seeds 10    # PacGAN's budget (accelerator)

Each (dataset, method) is `experiments/toy.py:dataset=...,method=...,setup=...,size=...`
trained with the generic step (gans.train.step) — no trainer of its own. The toy step
is tiny, so dispatch would dominate: `chunk` steps run in one jitted `lax.scan`, on
real batches sampled on device from the mixture, and the seeds run together under
`jax.vmap` (one initial state per seed from `init_state(seed=...)`).

After training, 2500 samples per run from G in inference mode (batch-norm running
statistics) are scored with `gans.metrics.mode_coverage` (PacGAN's MetricLogger:
high quality = within 3 sigma of the nearest mode, a mode is captured if it is the
nearest mode of a high-quality sample, reverse KL of the mode histogram to uniform).
The table gives mean +- standard error over seeds (std with ddof=1 / sqrt(n)) beside the
published numbers, and writes `table.md`, `results.json` and a scatter plot per run
group (`<dataset>_<method>.png`) to --out.

Published numbers (verified against the papers' tables):
- PacGAN (Lin et al. 2018) Table 1, 10 trials, mean +- s.e.; image in
  fjxmlzn/PacGAN synthetic_data_experiments/results/Table1.png.
- GDPP (Elfeki et al. 2019) Table 1 (Unrolled-GAN setup, no error bars, no reverse KL;
  M-Elfeki/GDPP Figures/Fig_2.png). Its ring repeats an endpoint (np.linspace(0, 2 pi, 8)),
  so it has 7 distinct modes where ours has 8.
"""

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from gans import configs
from gans import nets
from gans.data import builtin
from gans.metrics import mode_coverage
from gans.families import gan as gan_family
from gans.families.gan import step as step_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_CONFIG = os.path.join(ROOT, 'experiments', 'toy.py')
EVAL_SAMPLES = 2500
_DATA_KEY = 7919  # fold_in constant: the data stream of a run, apart from its step keys.

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
  'pacgan': 'PacGAN Table 1 (10 runs, mean +- s.e.)',
  'gdpp': 'GDPP Table 1 (Unrolled-GAN setup; no error bars)',
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


# The CPU budget of the README table (2 cores): PacGAN's setup with narrower networks
# (G 4 x 64, D maxout 32 x 5 with LeCun-normal initial weights), 5k steps instead of
# 400k, and to get that far that fast a larger learning rate (2e-3, beta1 0.5, decayed
# linearly to 0) for every method.
CPU_BUDGET = dict(setup='pacgan', size='tiny', steps=5000, lr=2e-3, b1=0.5, decay='linear')
# PacGAN's own budget (an accelerator's work: 400k steps of the full networks).
PAPER_BUDGET = dict(setup='pacgan', size='paper', steps=400_000, lr=0.0, b1=0.0, decay='none')


def toy_config(dataset, method, setup='pacgan', size='tiny', steps=0, lr=0.0, b1=0.0, decay='none'):
  return configs.load_config_file(
    f'{TOY_CONFIG}:dataset={dataset},method={method},setup={setup},size={size},'
    f'steps={steps},lr={lr},b1={b1},decay={decay}'
  )


def sample_mixture(key, shape, means, sigma):
  """Points [*shape, 2] and their mode indices [*shape] from the equal-weight mixture."""
  mode_key, noise_key = jax.random.split(key)
  modes = jax.random.randint(mode_key, shape, 0, means.shape[0])
  x = means[modes] + sigma * jax.random.normal(noise_key, shape + (means.shape[1],))
  return x.astype(jnp.float32), modes.astype(jnp.int32)


class VmappedRuns:
  """Trains len(seeds) runs of one config together; `chunk` steps per jitted call."""

  def __init__(self, config, seeds):
    configs.validate(config)
    gan_family.validate(config)
    self.config = config
    means_fn, self.sigma = builtin.TOY_MIXTURES[config.dataset]
    self.means = np.asarray(means_fn(), np.float32)
    self.generator, self.discriminator = nets.build(config, (2,))
    g_tx, d_tx = gan_family.optimizers(config)
    step = step_lib.make_train_step(config, self.generator, self.discriminator, g_tx, d_tx)
    means, sigma = jnp.asarray(self.means), self.sigma
    shape = (config.n_critic, config.batch_size)

    def train(state, num_steps):
      def body(state, _):
        key = jax.random.fold_in(jax.random.fold_in(state.key, _DATA_KEY), state.step)
        x, y = sample_mixture(key, shape, means, sigma)
        return step(state, {'x': x, 'y': y})

      return jax.lax.scan(body, state, None, length=num_steps)

    self._train = jax.jit(jax.vmap(train, in_axes=(0, None)), static_argnums=1, donate_argnums=0)
    init = lambda seed: gan_family.init_state(
      config, self.generator, self.discriminator, (2,), g_tx, d_tx, seed=seed
    )
    self.states = jax.jit(jax.vmap(init))(jnp.asarray(seeds, jnp.int32))
    self.seeds = list(seeds)

  def train(self, num_steps, chunk=1000):
    """Runs num_steps steps; returns the metrics of the last chunk, [seeds, steps]."""
    metrics = None
    done = 0
    while done < num_steps:
      n = min(chunk, num_steps - done)
      self.states, metrics = self._train(self.states, n)
      done += n
    return jax.device_get(metrics)

  def samples(self, num=EVAL_SAMPLES, seed=0):
    """G's outputs in inference mode, [seeds, num, 2]; latents differ per run."""
    latent_dim = self.config.latent_dim

    def sample(state, run_seed):
      z = jax.random.normal(
        jax.random.fold_in(jax.random.PRNGKey(seed), run_seed), (num, latent_dim), jnp.float32
      )
      g = state.models['generator']
      return step_lib.apply_net(self.generator, g.params, g.collections, z, None, False)[0]

    return np.asarray(jax.jit(jax.vmap(sample))(self.states, jnp.asarray(self.seeds)))

  def evaluate(self, num=EVAL_SAMPLES):
    samples = self.samples(num)
    return samples, [mode_coverage(s, self.means, self.sigma) for s in samples]


def summarize(results):
  """Per-run mode_coverage dicts -> {metric: (mean, standard error)} in table units."""
  values = dict(
    modes=[r['modes'] for r in results],
    high_quality=[100.0 * r['high_quality'] for r in results],
    reverse_kl=[r['reverse_kl'] for r in results],
  )
  out = {}
  for k, v in values.items():
    v = np.asarray(v, np.float64)
    if len(v) > 1 and np.all(np.isfinite(v)):
      se = float(np.std(v, ddof=1) / np.sqrt(len(v)))
    else:  # One run, or a run with no high-quality sample (reverse KL = inf).
      se = float('nan')
    out[k] = (float(np.mean(v)), se)
  return out


def _fmt(value, digits):
  mean, se = value
  if not np.isfinite(mean):
    return 'inf'
  if se is None or not np.isfinite(se):
    return f'{mean:.{digits}f}'
  return f'{mean:.{digits}f} ± {se:.{digits}f}'


def markdown(rows, setup):
  """rows: dicts with dataset, method, ours (summary), steps, seconds."""
  lines = [
    '| data | method | modes (ours) | modes (paper) | high quality % (ours) | '
    '(paper) | reverse KL (ours) | (paper) | runs | steps | time |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for r in rows:
    ours = r['ours']
    paper = PUBLISHED.get((setup, r['dataset'], r['method']), {})
    p = lambda k, d: _fmt(paper[k], d) if k in paper else '—'
    lines.append(
      f'| {r["dataset"]} | {METHOD_NAMES.get(r["method"], r["method"])} | '
      f'{_fmt(ours["modes"], 1)} | {p("modes", 1)} | '
      f'{_fmt(ours["high_quality"], 1)} | {p("high_quality", 1)} | '
      f'{_fmt(ours["reverse_kl"], 2)} | {p("reverse_kl", 2)} | '
      f'{r["runs"]} | {r["steps"]} | {r["seconds"]:.0f} s |'
    )
  lines.append('')
  lines.append(f'Paper columns: {SOURCES[setup]}. Ours: mean ± standard error over runs.')
  return '\n'.join(lines)


def run_table(
  datasets=('ring8', 'grid25'),
  methods=('gan', 'pacgan2', 'wgan_gp'),
  seeds=5,
  budget=None,
  chunk=1000,
  out=None,
  log=print,
):
  """Trains and scores every (dataset, method); returns (markdown, rows).

  `budget`: the toy.py arguments setup, size, steps, lr, b1, decay (CPU_BUDGET by
  default).
  """
  budget = dict(CPU_BUDGET if budget is None else budget)
  rows = []
  for dataset in datasets:
    for method in methods:
      config = toy_config(dataset, method, **budget)
      start = time.time()
      runs = VmappedRuns(config, range(seeds))
      metrics = runs.train(config.total_steps, chunk)
      samples, results = runs.evaluate()
      seconds = time.time() - start
      row = dict(
        dataset=dataset,
        method=method,
        budget=budget,
        steps=int(config.total_steps),
        runs=seeds,
        seconds=seconds,
        ours=summarize(results),
        paper=PUBLISHED.get((budget['setup'], dataset, method)),
        per_run=[
          dict(
            seed=s,
            modes=r['modes'],
            high_quality=r['high_quality'],
            reverse_kl=r['reverse_kl'],
            counts=r['counts'].tolist(),
          )
          for s, r in zip(runs.seeds, results)
        ],
        final_losses={k: float(np.mean(v[:, -1])) for k, v in metrics.items()},
      )
      rows.append(row)
      log(
        f'{dataset} {method}: modes {_fmt(row["ours"]["modes"], 1)}, high quality '
        f'{_fmt(row["ours"]["high_quality"], 1)} %, reverse KL '
        f'{_fmt(row["ours"]["reverse_kl"], 2)} ({seconds:.0f} s)'
      )
      if out:
        _save_scatter(os.path.join(out, f'{dataset}_{method}.png'), samples, runs.means)
  table = markdown(rows, budget['setup'])
  if out:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'table.md'), 'w') as f:
      f.write(table + '\n')
    with open(os.path.join(out, 'results.json'), 'w') as f:
      json.dump(rows, f, indent=1)
  return table, rows


def _save_scatter(path, samples, means):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from gans.train import writer  # pylint: disable=g-import-not-at-top

  os.makedirs(os.path.dirname(path), exist_ok=True)
  lim = 1.25 * np.abs(means).max() + 0.5
  tiles = [writer.scatter_image(s[:1000], reference=means, size=160, lim=lim) for s in samples]
  Image.fromarray(np.concatenate(tiles, axis=1)).save(path)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--datasets', default='ring8,grid25')
  parser.add_argument('--methods', default='gan,pacgan2,wgan_gp')
  parser.add_argument('--seeds', type=int, default=5)
  parser.add_argument(
    '--budget',
    default='cpu',
    choices=('cpu', 'paper'),
    help="cpu: CPU_BUDGET (the README table); paper: PacGAN's own",
  )
  for name, kind in (
    ('setup', str),
    ('size', str),
    ('steps', int),
    ('lr', float),
    ('b1', float),
    ('decay', str),
  ):
    parser.add_argument('--' + name, type=kind, default=None, help="overrides the budget's " + name)
  parser.add_argument('--chunk', type=int, default=1000)
  parser.add_argument('--out', default='runs/toy_table')
  args = parser.parse_args(argv)
  budget = dict(CPU_BUDGET if args.budget == 'cpu' else PAPER_BUDGET)
  budget.update({k: getattr(args, k) for k in budget if getattr(args, k) is not None})
  start = time.time()
  table, _ = run_table(
    args.datasets.split(','), args.methods.split(','), args.seeds, budget, args.chunk, args.out
  )
  print(table)
  print(f'Total time {time.time() - start:.0f} s; written to {args.out}/')


if __name__ == '__main__':
  main()
