r"""One table of the generative-model families on mnist5k: GAN, WGAN-GP, VAE, VAE-GAN, PixelCNN,
StyleGAN2.

    python -m gans.tools.family_table --workdir runs/families

Trains each family's default experiment (or reuses a finished run in
WORKDIR/<name>/), all at 32x32 on the same 4,000 training digits
(`train[:4000]`; the GAN experiments, which train on all 5,000 by default, are
overridden), then measures on the held-out digits:
- held-out NLL: exact for PixelCNN, the IWAE bound for the VAE (nats and bits/dim on
  the test split train[4500:]); n/a for models without a likelihood;
- the Parzen-window log-likelihood of Goodfellow et al. 2014 (Table 1 protocol:
  Gaussian kernels on `--num_parzen` generated samples, sigma chosen on the
  validation split train[4000:4500], mean and standard error on the test split), for
  every family that samples, in nats for pixels in [-1, 1] and for pixels in [0, 1];
- fid_classifier and is_classifier (the offline classifier; reference: all 5,000
  mnist5k digits) on `--num_samples` samples;
- samples per second (generation only, after compilation, batch 100);
- a sample grid per family (WORKDIR/table/<name>.png and all of them in one figure).
Writes WORKDIR/families.md (the table with the published numbers beside ours) and
WORKDIR/families.json, each atomically once every run is measured. Bad input (an
unknown run name or count, a workdir it cannot write, a run the training or the
evaluation refuses, e.g. a damaged checkpoint) stops it with one line `error: ...` on
stderr and exit status 2, leaving the table files as they were.
"""

import argparse
import json
import os
import sys
import time

import jax
import numpy as np
from PIL import Image

from gans import configs
from gans import data
from gans import errors
from gans import eval as eval_lib
from gans import files
from gans import tools
from gans.data import images as image_lib
from gans.metrics import parzen
from gans.train import experiment as experiment_lib
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN, VALID, TEST = configs.HOLDOUT_SPLITS['mnist5k']
# (name, experiment file, paper, overrides of the default config)
RUNS = (
  ('gan', 'gan.py', 'Goodfellow et al. 2014', dict(image_size=32)),
  ('wgan_gp', 'wgan_gp.py', 'Gulrajani et al. 2017', {}),
  ('vae', 'vae.py', 'Kingma & Welling 2014', {}),
  ('vae_gan', 'vae_gan.py', 'Larsen et al. 2016', {}),
  ('pixelcnn', 'pixelcnn.py', 'van den Oord et al. 2016', {}),
  ('stylegan2', 'stylegan2.py', 'Karras et al. 2020', {}),
)
# Published numbers with comparable protocols, and how ours differ.
# None is measured under the same protocol as ours (32x32 bilinear-upsampled mnist5k,
# D = 1024, 4,000 training digits); each entry says what differs.
PUBLISHED = {
  'gan': 'Parzen 225 +- 2 ([0, 1] column; MNIST 28x28, D = 784, 60k training digits; '
  'Goodfellow et al. 2014 Table 1)',
  'wgan_gp': 'none (no likelihood or Parzen reported)',
  'vae': 'NLL 86.76 nats (binarized MNIST 28x28, D = 784, dynamic binarization, MLP, '
  'K = 5000; Burda et al. 2016 Table 1); ours: static binarization at 127.5, D = 1024',
  'vae_gan': 'none (CelebA; no likelihood reported)',
  'pixelcnn': 'NLL about 81 nats on binarized MNIST 28x28 (PixelRNN paper), not '
  'comparable with our 256-level nats; 256-level: CIFAR-10 3.03 bits/dim (gated PixelCNN)',
  'stylegan2': 'none on MNIST; CIFAR-10 FID 6.96 for the baseline, 5.33 with ADA (Inception, '
  '50k samples against the training set; the `cifar` preset)',
}


def run_config(spec, overrides, steps=None):
  """The experiment's default config on the table's training split."""
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', spec))
  config.train_split = TRAIN
  for key, value in overrides.items():
    config[key] = value
  if steps:
    config.total_steps = steps
  for fragment in config.evals.values():
    fragment.every = 0  # The table evaluates once, at the end.
  return config


def trained(config, workdir):
  """(exp, state) of a finished run in `workdir`, training it first if needed."""
  minutes = tools.train_to_end(config, workdir)
  if minutes is not None:
    print(f'  trained {workdir} in {minutes:.1f} min', flush=True)
  return loop.restore_latest(config, workdir)


def flat(dataset):
  x, _ = dataset.get(np.arange(dataset.num_examples))
  return x.reshape(len(x), -1)


def samples_per_second(exp, state, n=1000, batch=100):
  """Generation speed after compilation (one batch first, then n timed)."""
  jax.block_until_ready(exp.sample(state, jax.random.PRNGKey(9), 0, batch))
  start = time.time()
  experiment_lib.generate(exp, state, n, seed=9, batch_size=batch)
  return n / (time.time() - start)


def parzen_estimate(config, exp, state, num_parzen):
  """The Parzen-window log-likelihood of Goodfellow et al. 2014 (Table 1 protocol).

  Gaussian kernels on `num_parzen` generated samples (seed 1), sigma chosen on the
  validation digits VALID, mean and standard error over the test digits TEST.
  Returns dict(sigma, mean, standard_error (nats, pixels in [-1, 1]), mean_01 (pixels
  in [0, 1]: mean + D ln 2), dims D, num_samples, by_sigma {sigma: validation mean}).
  Raises UserInputError when the family does not sample.
  """
  fake = experiment_lib.generate(exp, state, num_parzen, seed=1, batch_size=100)
  fake = fake.reshape(len(fake), -1)
  valid = flat(data.load(config, split=VALID))
  test = flat(data.load(config, split=TEST))
  sigma, by_sigma = parzen.select_parzen_sigma(fake, valid)
  mean, se = parzen.parzen_log_likelihood(fake, test, sigma)
  dims = test.shape[1]
  return dict(
    sigma=sigma,
    mean=mean,
    standard_error=se,
    mean_01=mean + dims * np.log(2.0),
    dims=dims,
    num_samples=len(fake),
    by_sigma=by_sigma,
  )


def measure(name, config, exp, state, num_samples, num_parzen):
  """The table's row for one trained run."""
  row = dict(name=name, family=config.family, steps=int(state.step))
  if exp.likelihood is not None:
    ev = eval_lib.likelihood.LikelihoodEvaluator(
      config, exp.dataset, dict(split=TEST, batch_size=100), exp=exp
    )
    out = ev(exp, state)
    row['nll'] = {k: v for k, v in out.items() if k != 'protocol'}
    row['likelihood'] = out['protocol'].get('decoder_likelihood') or out['protocol'].get(
      'likelihood', ''
    )
  row['parzen'] = parzen_estimate(config, exp, state, num_parzen)
  fragment = dict(
    features='classifier', metrics=('fid', 'is'), num_samples=num_samples, reference_split='train'
  )
  full = data.load(config, split='train')
  ev = eval_lib.samples.SampleEvaluator(config, full, fragment)
  out = ev(exp, state)
  row.update(fid_classifier=out['fid_classifier'], is_classifier=out['is_classifier'])
  row['samples_per_second'] = samples_per_second(exp, state)
  return row


def grid_image(exp, state, path, n=64):
  images = image_lib.to_uint8(experiment_lib.generate(exp, state, n, seed=2, batch_size=n))
  grid = image_lib.grid(images, rows=8)
  image_lib.save_png(path, grid)
  return grid


def markdown(rows, labels):
  head = (
    '| family | run | held-out NLL (nats / bits/dim) | Parzen ([-1,1] / [0,1] px) '
    '| fid_classifier | is_classifier | samples/s | published |\n'
    '| --- | --- | --- | --- | --- | --- | --- | --- |'
  )
  lines = [head]
  for r in rows:
    nll = 'n/a'
    if 'nll' in r:
      nll_unit = r.get('likelihood', '')
      parts = [
        f'{k} {v:.1f} / {r["nll"][k + "_bits_per_dim"]:.3f}'
        for k, v in r['nll'].items()
        if not k.endswith('_bits_per_dim')
      ]
      nll = '; '.join(parts) + (f' ({nll_unit})' if nll_unit else '')
    p = r['parzen']
    parzen_cell = (
      f'{p["mean"]:.0f} / {p["mean_01"]:.0f} +- {p["standard_error"]:.0f} (sigma {p["sigma"]:.2f})'
    )
    lines.append(
      f'| {labels[r["name"]]} | `{r["name"]}` ({r["steps"]} steps) | {nll} | '
      f'{parzen_cell} | {r["fid_classifier"]:.1f} | {r["is_classifier"]:.2f} | '
      f'{r["samples_per_second"]:.0f} | {PUBLISHED[r["name"]]} |'
    )
  return '\n'.join(lines) + '\n'


def build(workdir, only, num_samples, num_parzen, steps):
  """Trains or reuses the runs named in `only` (all if empty); writes the table; returns rows."""
  os.makedirs(os.path.join(workdir, 'table'), exist_ok=True)
  rows, grids, labels = [], [], {}
  start = time.time()
  for name, spec, paper, overrides in RUNS:
    if only and name not in only:
      continue
    labels[name] = f'{name} ({paper})'
    print(f'{name}: {spec}', flush=True)
    config = run_config(spec, overrides, steps)
    exp, state = trained(config, os.path.join(workdir, name))
    rows.append(measure(name, config, exp, state, num_samples, num_parzen))
    grids.append(grid_image(exp, state, os.path.join(workdir, 'table', f'{name}.png')))
    print(f'  {json.dumps({k: v for k, v in rows[-1].items() if k != "parzen"})}', flush=True)
  table = markdown(rows, labels)
  with files.atomic_open(os.path.join(workdir, 'families.md'), 'w') as f:
    f.write(table)
    f.write(f'\nTotal time {(time.time() - start) / 60:.1f} min.\n')
  with files.atomic_open(os.path.join(workdir, 'families.json'), 'w') as f:
    json.dump(files.json_safe(rows), f, indent=2, default=float, allow_nan=False)
  if grids:
    height = max(g.shape[0] for g in grids)
    pad = lambda g: np.pad(g, ((0, height - g.shape[0]), (0, 8), (0, 0)), constant_values=255)
    figure = np.concatenate([pad(g) for g in grids], axis=1)
    Image.fromarray(figure[..., 0] if figure.shape[-1] == 1 else figure).save(
      os.path.join(workdir, 'table', 'all.png')
    )
  print(table)
  return rows


def main(argv=None):
  """Runs the command; returns its exit status (0, or 2 after one `error:` line on stderr)."""
  parser = argparse.ArgumentParser(
    prog='python -m gans.tools.family_table', description=__doc__.split('\n')[0]
  )
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--only', default='', help='Comma-separated run names (default all).')
  parser.add_argument(
    '--num_samples',
    type=tools.int_at_least(2),
    default=2000,
    help='Generated samples for fid/is_classifier.',
  )
  parser.add_argument(
    '--num_parzen',
    type=tools.int_at_least(1),
    default=10_000,
    help='Generated samples as Parzen kernel centres.',
  )
  parser.add_argument(
    '--steps',
    type=tools.int_at_least(0),
    default=0,
    help="Override every run's total_steps (0: the defaults).",
  )
  args = parser.parse_args(argv)
  only = set(filter(None, args.only.split(',')))
  known = [run[0] for run in RUNS]
  unknown = sorted(only - set(known))
  if unknown:
    parser.error(f'argument --only: unknown run {unknown[0]!r}; known: {", ".join(known)}')
  try:
    build(args.workdir, only, args.num_samples, args.num_parzen, args.steps)
  except (OSError, ValueError) as e:
    # Bad input (a path, a damaged or foreign checkpoint, a refused config): one line.
    print(f'error: {errors.one_line(e) or type(e).__name__}', file=sys.stderr)
    return 2
  except tools.Stopped as e:
    print(f'stopped: {e}', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
