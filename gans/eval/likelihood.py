"""The likelihood evaluator (type 'likelihood'): held-out -log p(x) in nats and bits/dim.

  config.evals.likelihood = configs.likelihood_eval(every=500, split='train[4500:]')

The family exposes `exp.likelihood(state, batch, key) -> {name: [B] nats}`: exact
negative log-likelihoods (PixelCNN: 'nll') or upper bounds of them (VAE: 'neg_elbo'
and the importance-weighted 'nll_iwae<K>', Burda et al. 2016). This evaluator averages
each over `split` of the run's dataset and reports `<name>` in nats per example and
`<name>_bits_per_dim` = nats / (D ln 2), D = H * W * C, the unit of the PixelCNN and
VAE papers on discrete 8-bit data (no dequantization offset: the models give
probabilities of the 256 discrete levels, or of binarized pixels for a Bernoulli
decoder, which the protocol then records).
"""

import math
import time

import jax
import ml_collections
import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans import parallel


def options(fragment=None, name='likelihood'):
  """An evaluator fragment merged over gans.configs.likelihood_eval(); checks names."""
  values = configs.likelihood_eval().to_dict()
  for key, value in (fragment or {}).items():
    if key not in values:
      raise errors.UserInputError(
        f'Unknown field {key!r} in config.evals.{name} (type likelihood); '
        f'known: {", ".join(sorted(values))}.'
      )
    values[key] = value
  return ml_collections.ConfigDict(values)


class LikelihoodEvaluator:
  """Averages the family's per-example -log p(x) over a held-out split."""

  def __init__(self, config, dataset, fragment=None, name='likelihood', exp=None):
    self.name = name
    self.config = config
    self.opts = options(fragment, name)
    self.every = int(self.opts.every)
    if exp is not None and exp.likelihood is None:
      raise errors.UserInputError(
        f'config.evals.{name}: family {config.get("family", "gan")!r} '
        f'has no likelihood; remove the evaluator or use type samples.'
      )
    train_split = config.get('train_split', 'train')
    if self.opts.split == train_split or data.splits_overlap(
      config.dataset, train_split, self.opts.split
    ):
      raise errors.UserInputError(
        f'config.evals.{name}.split={self.opts.split!r} overlaps the training split '
        f'{train_split!r}; a held-out log-likelihood needs examples not trained on.'
      )
    self.heldout = data.load(config, split=self.opts.split)
    n = self.heldout.num_examples
    self.num = min(int(self.opts.num_examples) or n, n)
    del dataset

  def __call__(self, exp, state, num_samples=None):
    """Returns {name: mean nats, name_bits_per_dim: ...} plus 'protocol'.

    Raises ValueError (counting the examples, naming the split and the first one) if
    an example's -log p(x) is NaN or inf, instead of averaging it into the result.
    """
    del num_samples
    start = time.time()
    # A multiple of the devices (each gets an equal shard); each process reads its slice.
    shards = exp.mesh.devices.size
    batch_size = -(-int(self.opts.batch_size or exp.config.batch_size) // shards) * shards
    local = batch_size // jax.process_count()
    mine = slice(jax.process_index() * local, (jax.process_index() + 1) * local)
    key = jax.random.PRNGKey(self.opts.seed)
    use_ema = bool(self.opts.use_ema)
    sums, nonfinite = {}, {}
    for b, i in enumerate(range(0, self.num, batch_size)):
      idx = np.arange(i, min(i + batch_size, self.num))
      n = len(idx)
      # Pad with the last example: one batch shape, one compilation.
      padded = np.concatenate([idx, np.repeat(idx[-1:], batch_size - n)])
      x, y = self.heldout.get(padded[mine])
      batch = parallel.to_global({'x': x, 'y': y}, exp.mesh, 0)
      out = exp.likelihood(state, batch, jax.random.fold_in(key, b), use_ema)
      out = jax.device_get(out)
      for k, v in out.items():
        v = np.asarray(v, np.float64)[:n]
        bad = np.flatnonzero(~np.isfinite(v))
        if len(bad) and k not in nonfinite:
          nonfinite[k] = [0, i + int(bad[0])]
        if len(bad):
          nonfinite[k][0] += len(bad)
        sums[k] = sums.get(k, 0.0) + float(np.sum(v))
    for k, (count, first) in nonfinite.items():
      raise ValueError(
        f'{count} of the {self.num} held-out examples of {self.heldout.name}/{self.opts.split} '
        f'have a non-finite {k} (NaN/inf; first: example {first}) at step {int(state.step)}.'
      )
    dims = int(np.prod(self.heldout.example_shape))
    values = {}
    for k, total in sums.items():
      values[k] = total / self.num
      values[f'{k}_bits_per_dim'] = total / self.num / (dims * math.log(2.0))
    protocol = dict(
      dataset=self.heldout.name,
      split=self.opts.split,
      num_examples=self.num,
      dims=dims,
      seed=int(self.opts.seed),
      step=int(state.step),
      units='nats per example; bits per dimension',
      seconds=round(time.time() - start, 2),
    )
    protocol.update(exp.protocol)
    protocol['ema'] = bool(use_ema and state.ema)
    return dict(values, protocol=protocol)
