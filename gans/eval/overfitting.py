"""The discriminator-overfitting monitor (type 'overfitting'): D on training vs held-out reals.

  config.evals.overfitting = configs.overfitting_eval(every=500)

A discriminator that memorises its training images scores them as real and new real
images of the same distribution less so; the gap between the two is the overfitting
signal of Karras et al. 2020 (ADA, Fig. 1b: the distributions of D's output on the
training set, a validation set and generated images drift apart as D overfits; Sec. 2.1
derives the r_t heuristic from it). The training loop already logs r_t = E[sign D(x)]
on each training batch (augmented when augmentation is on); this evaluator measures
the gap itself, on images no augmentation touches.

At each evaluation, with D in evaluation mode (batch norm uses its running averages, so
a batch of training images and a batch of held-out images are normalised alike):

  d_train        mean D(x) over `num_examples` fixed training images (chosen once by
                 `seed`) of the run's training split;
  d_heldout      mean D(x) over `num_examples` images of `heldout_split`, real images
                 the run never trains on (default: data.default_heldout_split);
  d_generated    mean D(G(z)) over `num_examples` samples (EMA generator where kept and
                 `use_ema`; class (start + i) mod K for a conditional family);
  d_gap          d_train - d_heldout (raw D outputs: logits, or critic values);
  d_overfit      d_gap / (d_train - d_generated): 0 while held-out images look as real
                 to D as training images, 1 when they look as fake as generated ones
                 (scale-free, so runs with different losses compare; NaN when D does
                 not separate training from generated images);
  rt_train, rt_heldout   E[sign D(x)] on the two sets (ADA's r_t without augmentation).

Works for every family with a discriminator (`gan`, `stylegan2`, `vae_gan`); a packed D
(PacGAN, config.pack = m) scores groups of m consecutive images of one set.
"""

import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans import parallel


def options(fragment=None, name='overfitting'):
  """An evaluator fragment merged over gans.configs.overfitting_eval(); checks names."""
  values = configs.overfitting_eval().to_dict()
  for key, value in (fragment or {}).items():
    if key not in values:
      raise errors.UserInputError(
        f'Unknown field {key!r} in config.evals.{name} (type overfitting); '
        f'known: {", ".join(sorted(values))}.'
      )
    values[key] = value
  return ml_collections.ConfigDict(values)


def _pack(x, m):
  """[B, ..., C] -> [B / m, ..., m C]: PacGAN's concatenation of m consecutive examples
  on the last axis, as the GAN step packs what D sees (gans.families.gan.tricks.pack,
  which gans.eval does not import; a test keeps the two equal)."""
  if m == 1:
    return x
  b = x.shape[0]
  x = x.reshape((b // m, m) + x.shape[1:])
  return jnp.moveaxis(x, 1, -2).reshape((b // m,) + x.shape[2:-1] + (m * x.shape[-1],))


def discriminate_fn(exp):
  """jit of (variables, x [B, ...] float32, y int32 [B] or None) -> D's output [B / m].

  D in evaluation mode; a D that returns (logit, class logits) (ACGAN) gives its logit.
  """
  module = exp.modules['discriminator']
  m = int(exp.config.get('pack', 1))

  @jax.jit
  def discriminate(variables, x, y):
    out = module.apply(variables, _pack(x, m), None if m > 1 else y, train=False)
    if isinstance(out, (tuple, list)):
      out = out[0]
    return out.reshape(-1).astype(jnp.float32)

  return discriminate


class OverfittingEvaluator:
  """D's mean output on training reals, held-out reals and samples (module docstring)."""

  def __init__(self, config, dataset, fragment=None, name='overfitting', exp=None):
    self.name = name
    self.opts = options(fragment, name)
    self.every = int(self.opts.every)
    if exp is not None and 'discriminator' not in exp.modules:
      raise errors.UserInputError(
        f'config.evals.{name} (type overfitting): family '
        f'{config.get("family", "gan")!r} has no discriminator.'
      )
    train_split = config.get('train_split', 'train')
    heldout_split = self.opts.heldout_split or data.default_heldout_split(config)
    if heldout_split == train_split or data.splits_overlap(
      config.dataset, train_split, heldout_split
    ):
      raise errors.UserInputError(
        f'config.evals.{name}.heldout_split={heldout_split!r} overlaps the training split '
        f'{train_split!r}; the overfitting gap needs real images D never sees.'
      )
    self.heldout_split = heldout_split
    self.heldout = data.load(config, split=heldout_split)
    self.train = dataset
    num = int(self.opts.num_examples)
    if num <= 0:
      raise errors.UserInputError(f'config.evals.{name}.num_examples={num}: give a count > 0.')
    self.num = min(num, self.train.num_examples, self.heldout.num_examples)
    rng = np.random.default_rng(int(self.opts.seed))
    self.train_idx = np.sort(rng.permutation(self.train.num_examples)[: self.num])
    self.heldout_idx = np.arange(self.num)
    self.pack = int(config.get('pack', 1))
    self._discriminate = None

  def _batch_size(self, exp):
    # A multiple of the devices and of the pack size (each device gets whole packs).
    unit = exp.mesh.devices.size * self.pack
    return -(-int(self.opts.batch_size or exp.config.batch_size) // unit) * unit

  def _scores(self, exp, variables, batches):
    """D's outputs of `batches` [(x, y)] (host arrays, all of one batch size) -> [N / m]."""
    out = []
    for x, y in batches:
      batch = parallel.to_global({'x': x, 'y': y}, exp.mesh, 0)
      y = batch['y'] if exp.num_classes else None
      out.append(np.asarray(jax.device_get(self._discriminate(variables, batch['x'], y))))
    return np.concatenate(out).astype(np.float64)

  def _real_batches(self, dataset, idx, batch_size):
    local = batch_size // jax.process_count()
    mine = slice(jax.process_index() * local, (jax.process_index() + 1) * local)
    for i in range(0, len(idx), batch_size):
      part = idx[i : i + batch_size]
      n = len(part)
      padded = np.concatenate([part, np.repeat(part[-1:], batch_size - n)])
      x, y = dataset.get(padded[mine])
      yield n, x, np.zeros(len(x), np.int32) if y is None else np.asarray(y, np.int32)

  def _real(self, exp, variables, dataset, idx, batch_size):
    counts, batches = [], []
    for n, x, y in self._real_batches(dataset, idx, batch_size):
      counts.append(n)
      batches.append((x, y))
    scores = self._scores(exp, variables, batches)
    per = batch_size // self.pack
    return np.concatenate(
      [scores[b * per : b * per + n // self.pack] for b, n in enumerate(counts)]
    )

  def __call__(self, exp, state, num_samples=None):
    """{'d_train', 'd_heldout', 'd_generated', 'd_gap', 'd_overfit', 'rt_train',
    'rt_heldout'} (floats) plus 'protocol'.

    Raises ValueError naming the set when a D output is NaN or inf.
    """
    del num_samples
    start = time.time()
    if self._discriminate is None:
      self._discriminate = discriminate_fn(exp)
    variables = state.models['discriminator'].variables()
    batch_size = self._batch_size(exp)
    num = (self.num // self.pack) * self.pack
    scores = {
      'train': self._real(exp, variables, self.train, self.train_idx[:num], batch_size),
      'heldout': self._real(exp, variables, self.heldout, self.heldout_idx[:num], batch_size),
    }
    key = jax.random.PRNGKey(int(self.opts.seed))
    fakes = []
    for b, i in enumerate(range(0, num, batch_size)):
      x = exp.sample(state, jax.random.fold_in(key, b), i, batch_size, bool(self.opts.use_ema))
      y = exp.labels(i, batch_size)
      x = np.asarray(jax.device_get(x))
      y = np.zeros(batch_size, np.int32) if y is None else np.asarray(jax.device_get(y), np.int32)
      fakes.append(
        self._scores(exp, variables, [(x, y)])[: (min(num, i + batch_size) - i) // self.pack]
      )
    scores['generated'] = np.concatenate(fakes)
    for which, s in scores.items():
      bad = np.flatnonzero(~np.isfinite(s))
      if len(bad):
        raise ValueError(
          f'{len(bad)} of {len(s)} discriminator outputs on the {which} images are '
          f'non-finite (NaN/inf; first: {int(bad[0])}) at step {int(state.step)}.'
        )
    d = {k: float(v.mean()) for k, v in scores.items()}
    gap = d['train'] - d['heldout']
    spread = d['train'] - d['generated']
    values = dict(
      d_train=d['train'],
      d_heldout=d['heldout'],
      d_generated=d['generated'],
      d_gap=gap,
      d_overfit=gap / spread if spread > 0 else float('nan'),
      rt_train=float(np.mean(np.sign(scores['train']))),
      rt_heldout=float(np.mean(np.sign(scores['heldout']))),
    )
    protocol = dict(
      dataset=exp.dataset.name,
      train_split=exp.dataset.split,
      heldout_split=self.heldout_split,
      num_examples=int(num),
      pack=self.pack,
      seed=int(self.opts.seed),
      step=int(state.step),
      discriminator='evaluation mode (batch norm running averages), no augmentation',
      units='raw discriminator outputs (logits or critic values); rt in [-1, 1]',
      seconds=round(time.time() - start, 2),
    )
    protocol.update(exp.protocol)
    protocol['ema'] = bool(self.opts.use_ema and state.ema)
    return dict(values, protocol=protocol)
