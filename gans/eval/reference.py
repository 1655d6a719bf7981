"""Reference (real-data) statistics of the sample evaluators, cached on disk.

The cache key holds the dataset (name, size, example shape and a hash of its first
examples), the split, the number of reference samples and the exact feature weights.
"""

import collections
import dataclasses
import hashlib
import json
import os
import time

from absl import logging
import numpy as np
import scipy.special

from gans import data
from gans import errors
from gans import files
from gans import metrics as metrics_lib
from gans.data import images as image_lib
from gans.eval import features as features_lib
from gans.metrics import checks
from gans.metrics import stacked_mnist

# Bump when the content of cached reference files changes.
REFERENCE_FORMAT = 1
MAX_REFERENCE = 50_000

# How many reference statistics were computed (not read from the cache), by file name.
reference_computations = collections.Counter()


@dataclasses.dataclass
class Reference:
  """Features of the real set: samples (KID, precision/recall...), moments (FID), p(y)."""

  features: np.ndarray  # [M, D] float32
  mu: np.ndarray  # [D] float64
  sigma: np.ndarray  # [D, D] float64
  mean_probs: np.ndarray | None  # [K] float64: mean softmax over the real set
  protocol: dict


def softmax(logits):
  """Class probabilities [N, K] float64 of logits [N, K] (scipy.special.softmax)."""
  return scipy.special.softmax(np.asarray(logits, np.float64), axis=1)


def moments(features):
  stats = metrics_lib.FeatureStats().update(features)
  return stats.mean(), stats.cov()


def reference_dataset(opts, config, dataset=None):
  """The dataset of `opts.reference_split` (the run's training data for 'train')."""
  split = opts.reference_split
  if split == config.get('train_split', 'train') and dataset is not None:
    return dataset
  name = dataset.name if dataset is not None else config.dataset
  if name == stacked_mnist.NAME:
    if split != 'train':
      raise errors.UserInputError(
        f"Dataset {name!r} has only the 'train' split; got reference_split={split!r}."
      )
    return dataset if dataset is not None else data.load(config)
  return data.load(config, split=split)


def reference_indices(opts, dataset):
  """Indices of the reference examples: all, or a fixed random subset of num_reference."""
  n = opts.num_reference
  if n <= 0:
    n = opts.num_samples if not dataset.is_image else MAX_REFERENCE
  n = min(n, dataset.num_examples)
  if n == dataset.num_examples:
    return np.arange(n)
  return np.sort(np.random.default_rng(1234).permutation(dataset.num_examples)[:n])


def _image_batches(dataset, indices, batch_size):
  for i in range(0, len(indices), batch_size):
    x, _ = dataset.get(indices[i : i + batch_size])
    yield image_lib.to_uint8(x) if dataset.is_image else x


def _check_cached(path, arrays):
  """Raises ValueError naming the cache file if an array is missing or non-finite."""
  missing = [k for k in ('features', 'mu', 'sigma') if k not in arrays]
  if missing:
    raise ValueError(
      f'Reference statistics file {path} has no {", ".join(missing)} array; delete it to '
      'recompute it.'
    )
  try:
    checks.check_finite_rows(arrays['features'], f'the reference statistics file {path}')
    for key in ('mu', 'sigma', 'mean_probs'):
      if key in arrays:
        checks.check_finite_entries(arrays[key], f'{path}: {key!r}')
  except ValueError as e:
    raise ValueError(f'{e}; delete the file to recompute it.') from None


def reference_statistics(opts, config, net, dataset=None):
  """Features of the reference set through `net`, cached in a file on first use.

  Raises ValueError naming the cache file if it lacks an array or holds NaN/inf, and
  naming the dataset if its features come out non-finite.
  """
  dataset = reference_dataset(opts, config, dataset)
  indices = reference_indices(opts, dataset)
  protocol = dict(
    dataset=dataset.name,
    reference_split=opts.reference_split,
    num_real=int(len(indices)),
    real_example_shape=list(dataset.example_shape),
  )
  feature_batch = opts.batch_size or 500
  if net.apply is None:  # Raw points: nothing worth caching.
    feats = net.features(_image_batches(dataset, indices, feature_batch))['features']
    return Reference(feats, *moments(feats), None, protocol)
  head = next(_image_batches(dataset, indices[:8], 8))
  key = dict(
    format=REFERENCE_FORMAT,
    dataset=dataset.name,
    split=opts.reference_split,
    num_examples=dataset.num_examples,
    shape=list(dataset.example_shape),
    num_reference=int(len(indices)),
    network=net.cache_id,
    head=hashlib.sha256(np.ascontiguousarray(head).tobytes()).hexdigest()[:16],
  )
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
  filename = (
    f'{dataset.name}_{opts.reference_split}_{"x".join(map(str, dataset.example_shape))}'
    f'_{net.name}_{len(indices)}_{digest}.npz'
  )
  path = os.path.join(features_lib.cache_dir(opts), 'references', filename)
  protocol['reference_cache'] = path
  if os.path.exists(path):
    with np.load(path) as f:
      arrays = {k: f[k] for k in ('features', 'mu', 'sigma', 'mean_probs') if k in f.files}
    _check_cached(path, arrays)
    return Reference(
      arrays['features'], arrays['mu'], arrays['sigma'], arrays.get('mean_probs'), protocol
    )
  logging.info(
    'Computing the reference statistics of %s/%s (%d examples, %s features) once; they '
    'are cached in %s',
    dataset.name,
    opts.reference_split,
    len(indices),
    net.name,
    path,
  )
  start = time.time()
  out = net.features(_image_batches(dataset, indices, feature_batch))
  features_lib.check_features(
    out, f'the reference set {dataset.name}/{opts.reference_split} ({net.name} features)'
  )
  mu, sigma = moments(out['features'])
  arrays = dict(features=out['features'], mu=mu, sigma=sigma, key=json.dumps(key))
  if 'logits' in out:
    arrays['mean_probs'] = softmax(out['logits']).mean(0)
  with files.atomic_open(path, 'wb') as f:
    np.savez(f, **arrays)
  reference_computations[filename] += 1
  logging.info(
    'Reference statistics of %s/%s (%d examples, %s features) in %.1f s, cached in %s',
    dataset.name,
    opts.reference_split,
    len(indices),
    net.name,
    time.time() - start,
    path,
  )
  return Reference(out['features'], mu, sigma, arrays.get('mean_probs'), protocol)
