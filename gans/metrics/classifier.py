"""A small digit classifier: the offline feature space for FID-, IS- and mode-style numbers.

Where the FID Inception weights are not available (no internet, or domains such as
MNIST where ImageNet features mean little), a small CNN trained by this project on the
run's own labelled dataset provides features (the 128-d penultimate layer, after its
ReLU) and class logits. Metrics on these features are *not* Inception metrics: the
evaluator reports them with a ``_classifier`` suffix (``fid_classifier``,
``is_classifier``, ...). Xu et al. 2018 ("An empirical study on evaluation metrics of
GANs") compute every metric in such alternative feature spaces.

Network (``DigitClassifier``): three 4x4 stride-2 convolutions (16, 32, 64 channels,
ReLU; strided convolutions instead of max pooling, whose gradient is slow on XLA's CPU
backend), a 128-unit dense layer with ReLU (the features) and a linear layer to the
class logits. About 160k parameters at 32x32.

Training (``train``): the images exactly as the GAN sees them (``gans.data.load``: resized
with the data pipeline's resize, float32 in [-1, 1]); a fixed stratified hold-out of 20%
of each class (``holdout_split``) measures accuracy; Adam with a cosine-decayed learning
rate, fixed seed, deterministic batches. On the default recipe (mnist5k, 32x32) it
reaches about 97% held-out accuracy in about 10 seconds of CPU.

Recipe and command: ``experiments/classifier.py``::

    python -m gans.metrics.classifier --config experiments/classifier.py \\
        --workdir runs/classifier

writes ``runs/classifier/classifier.msgpack`` and ``classifier.json`` (accuracy, time).
Evaluation trains the same recipe on first use and caches it (``get_or_train``).

File format: one ``flax.serialization`` msgpack file holding
``{'format': 'gans-classifier-v1', 'meta': <JSON string>, 'params': <pytree>}``; the
meta records the recipe (so the network can be rebuilt), held-out accuracy, sizes and
training time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from typing import Any, Sequence

from absl import logging
import flax.linen as nn
from flax import serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gans import files

FORMAT = 'gans-classifier-v1'
# Bump when the network or the training procedure changes: cached files keyed by the
# recipe are then retrained instead of reused.
RECIPE_VERSION = 1


def recipe(
  dataset: str = 'mnist5k', image_size: int = 32, **overrides
) -> ml_collections.ConfigDict:
  """The default training recipe of the feature classifier for ``dataset``."""
  c = ml_collections.ConfigDict()
  c.version = RECIPE_VERSION
  c.dataset = dataset
  c.image_size = image_size
  c.data_dir = ''  # TFDS data_dir (TFDS datasets only).
  c.seed = 0
  c.widths = (16, 32, 64)  # Channels of the 4x4 stride-2 convolutions.
  c.feature_dim = 128  # Penultimate layer: the feature space of the metrics.
  c.epochs = 8
  c.batch_size = 64
  c.learning_rate = 2e-3  # Adam, cosine-decayed to 0 over training.
  c.holdout_fraction = 0.2  # Per class, held out for the reported accuracy.
  for key, value in overrides.items():
    if key not in c:
      raise ValueError(f'Unknown classifier recipe field {key!r}; known: {sorted(c)}')
    c[key] = value
  return c


def recipe_key(r) -> str:
  """A short stable hash of a recipe (names its cached file)."""
  text = json.dumps(_recipe_dict(r), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


def _recipe_dict(r) -> dict:
  d = r.to_dict() if hasattr(r, 'to_dict') else dict(r)
  return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


class DigitClassifier(nn.Module):
  """Strided CNN: ``x`` float [B, H, W, C] in [-1, 1] -> (features [B, D], logits [B, K])."""

  num_classes: int = 10
  widths: Sequence[int] = (16, 32, 64)
  feature_dim: int = 128

  @nn.compact
  def __call__(self, x):
    for i, width in enumerate(self.widths):
      x = nn.relu(nn.Conv(width, (4, 4), strides=2, name=f'conv{i}')(x))
    x = x.reshape(x.shape[0], -1)
    features = nn.relu(nn.Dense(self.feature_dim, name='features')(x))
    return features, nn.Dense(self.num_classes, name='logits')(features)


# uint8 -> [-1, 1] as NumPy computes it in ``gans.data.images.to_model``. A table lookup
# reproduces it bit for bit inside jit, where XLA may turn the division into a multiply.
_TO_MODEL = np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def to_model(images):
  """uint8 [0, 255] -> float32 [-1, 1] exactly as ``gans.data.images.to_model``; floats pass."""
  images = jnp.asarray(images)
  if images.dtype == jnp.uint8:
    return jnp.asarray(_TO_MODEL)[images.astype(jnp.int32)]
  return images.astype(jnp.float32)


@dataclasses.dataclass
class Classifier:
  """A trained feature classifier: its params, how it was made, and how well it does."""

  params: Any
  meta: dict
  path: str | None = None
  sha256: str | None = None

  @property
  def module(self) -> DigitClassifier:
    r = self.meta['recipe']
    return DigitClassifier(self.meta['num_classes'], tuple(r['widths']), r['feature_dim'])

  @property
  def image_shape(self) -> tuple:
    return tuple(self.meta['image_shape'])

  @property
  def accuracy(self) -> float:
    return float(self.meta['heldout_accuracy'])

  def apply(self, params, images):
    """Pure: ``images`` uint8 (or float in [-1, 1]) NHWC -> dict(features, logits)."""
    features, logits = self.module.apply({'params': params}, to_model(images))
    return {'features': features, 'logits': logits}

  def features(self, images, batch_size: int = 500):
    """(features [N, D], logits [N, K]) as NumPy float32 for uint8 or [-1, 1] images.

    Raises ValueError for images of another shape, or float images outside [-1, 1]
    (e.g. [0, 255] values, which would all read as white).
    """
    images = np.asarray(images)
    if images.dtype.kind == 'f' and images.size:
      low, high = float(np.min(images)), float(np.max(images))
      if not (-1.01 <= low and high <= 1.01):
        raise ValueError(
          f'Float images for the classifier must be in [-1, 1]; got values {low:.4g}..'
          f'{high:.4g} (pass uint8 images for 0..255 values).'
        )
    if images.ndim == 3:
      images = images[..., None]
    if tuple(images.shape[1:]) != self.image_shape:
      raise ValueError(
        f'The classifier takes images of shape {self.image_shape}, got {images.shape[1:]}.'
      )
    fn = _jitted_apply(self.module)
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
      f, l = jax.device_get(fn(self.params, images[i : i + batch_size]))
      feats.append(f)
      logits.append(l)
    if not feats:
      k = self.meta['num_classes']
      return np.zeros([0, self.meta['recipe']['feature_dim']], np.float32), np.zeros(
        [0, k], np.float32
      )
    return np.concatenate(feats), np.concatenate(logits)

  def protocol(self) -> dict:
    """What a reported number computed on these features must say about them."""
    return dict(
      classifier_path=self.path,
      classifier_sha256=self.sha256,
      classifier_dataset=self.meta['recipe']['dataset'],
      classifier_heldout_accuracy=self.accuracy,
      classifier_num_heldout=self.meta['num_heldout'],
    )


@functools.lru_cache(maxsize=None)
def _jitted_apply(module):
  return jax.jit(lambda params, x: module.apply({'params': params}, to_model(x)))


def holdout_split(labels, fraction: float, seed: int):
  """Stratified split: per class, ``round(fraction * count)`` examples held out.

  Returns (train_indices, heldout_indices), both sorted int64 arrays; a pure function
  of (labels, fraction, seed).
  """
  labels = np.asarray(labels)
  rng = np.random.default_rng([seed, 7])
  held = []
  for k in np.unique(labels):
    members = np.flatnonzero(labels == k)
    held.append(rng.permutation(members)[: int(round(fraction * len(members)))])
  held = np.sort(np.concatenate(held)).astype(np.int64)
  train = np.setdiff1d(np.arange(len(labels)), held).astype(np.int64)
  return train, held


def init_params(module, image_shape, seed: int):
  """LeCun-normal weights (std 1/sqrt(fan_in)) and zero biases, drawn with NumPy.

  Same numbers on every platform, and no compilation: XLA's CPU backend takes tens of
  seconds to compile ``module.init`` of this small network (its random initializers),
  longer than the training itself.
  """
  shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), jnp.zeros((1,) + tuple(image_shape)))[
    'params'
  ]
  rng = np.random.default_rng([seed, 5])

  def draw(path, leaf):
    if path[-1].key == 'bias':
      return np.zeros(leaf.shape, np.float32)
    fan_in = int(np.prod(leaf.shape[:-1]))
    return (rng.standard_normal(leaf.shape) * np.sqrt(1.0 / fan_in)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(draw, shapes)


def load_dataset(r):
  """(images float32 [N, H, W, C] in [-1, 1], labels int32 [N], num_classes) of a recipe.

  Uses ``gans.data.load`` so the preprocessing is the one the GAN trains on.
  """
  from gans import data  # pylint: disable=g-import-not-at-top

  config = ml_collections.ConfigDict(
    dict(dataset=r.dataset, image_size=r.image_size, data_dir=r.data_dir)
  )
  ds = data.load(config)
  if not ds.is_image or ds.num_classes <= 1:
    raise ValueError(
      f'Dataset {r.dataset!r} has no image labels to train a feature '
      f"classifier on; use features='inception' or give a classifier file."
    )
  x, y = ds.get(np.arange(ds.num_examples))
  return np.asarray(x, np.float32), np.asarray(y, np.int32), ds.num_classes


def accuracy(classifier: Classifier, images, labels, batch_size: int = 500) -> float:
  """Fraction of ``images`` whose argmax logit equals ``labels``."""
  _, logits = classifier.features(images, batch_size)
  return float(np.mean(np.argmax(logits, -1) == np.asarray(labels)))


@functools.lru_cache(maxsize=None)
def _train_functions(module, learning_rate: float, total: int):
  """Jitted (optimizer init, training step) of one architecture and schedule.

  Cached so that repeated trainings (CAS trains one classifier per condition and
  seed) trace and compile their step once rather than once per call.
  """
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, total))

  @jax.jit
  def step(params, opt_state, xb, yb):
    def loss_fn(p):
      logits = module.apply({'params': p}, xb)[1]
      return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return jax.jit(tx.init), step


def train(r=None, dataset=None) -> Classifier:
  """Trains the classifier of recipe ``r`` (default ``recipe()``); returns it with its meta.

  ``dataset``: optional (images float [-1, 1], labels, num_classes) instead of loading
  ``r.dataset`` (tests). Deterministic given the recipe. Logs held-out accuracy.
  """
  r = recipe() if r is None else r
  start = time.time()
  x, y, num_classes = load_dataset(r) if dataset is None else dataset
  train_idx, held_idx = holdout_split(y, r.holdout_fraction, r.seed)
  module = DigitClassifier(num_classes, tuple(r.widths), r.feature_dim)
  params = init_params(module, x.shape[1:], r.seed)
  steps_per_epoch = max(len(train_idx) // r.batch_size, 1)
  total = r.epochs * steps_per_epoch
  init_fn, step = _train_functions(module, float(r.learning_rate), int(total))
  opt_state = init_fn(params)

  rng = np.random.default_rng([r.seed, 11])
  loss = None
  for _ in range(r.epochs):
    perm = rng.permutation(train_idx)
    for i in range(steps_per_epoch):
      idx = perm[i * r.batch_size : (i + 1) * r.batch_size]
      params, opt_state, loss = step(params, opt_state, x[idx], y[idx])
  params = jax.device_get(params)
  meta = dict(
    format=FORMAT,
    recipe=_recipe_dict(r),
    num_classes=int(num_classes),
    image_shape=list(x.shape[1:]),
    num_train=int(len(train_idx)),
    num_heldout=int(len(held_idx)),
    steps=int(total),
    final_loss=float(loss) if loss is not None else None,
  )
  clf = Classifier(params, meta)
  meta['train_accuracy'] = accuracy(clf, x[train_idx], y[train_idx])
  meta['heldout_accuracy'] = (
    accuracy(clf, x[held_idx], y[held_idx]) if len(held_idx) else float('nan')
  )
  meta['train_seconds'] = round(time.time() - start, 2)
  logging.info(
    'Feature classifier on %s (%dx%d): held-out accuracy %.4f on %d images, '
    'train accuracy %.4f, %d steps in %.1f s.',
    r.dataset,
    r.image_size,
    r.image_size,
    meta['heldout_accuracy'],
    len(held_idx),
    meta['train_accuracy'],
    total,
    meta['train_seconds'],
  )
  return clf


def save(classifier: Classifier, path: str) -> str:
  """Writes the classifier to ``path`` (msgpack) atomically; returns its sha256."""
  payload = serialization.msgpack_serialize(
    {
      'format': FORMAT,
      'meta': json.dumps(classifier.meta, sort_keys=True),
      'params': jax.tree.map(np.asarray, classifier.params),
    }
  )
  files.atomic_write_bytes(path, payload)
  classifier.path = os.path.abspath(path)
  classifier.sha256 = hashlib.sha256(payload).hexdigest()
  return classifier.sha256


def load(path: str) -> Classifier:
  """Reads a classifier written by ``save``.

  Raises FileNotFoundError (saying how to make one), or ValueError naming the file for
  another format or a parameter with NaN/inf values (naming the parameter, e.g.
  'params/conv0/kernel').
  """
  path = os.path.expanduser(os.fspath(path))
  if not os.path.isfile(path):
    raise FileNotFoundError(
      f'Classifier file {path!r} does not exist. Train one with `python -m '
      f'gans.metrics.classifier --config experiments/classifier.py --workdir DIR` '
      f'(writes DIR/classifier.msgpack), or leave config.evals.samples.classifier_path empty '
      f'to train and cache the default one on first use.'
    )
  with open(path, 'rb') as f:
    payload = f.read()
  try:
    content = serialization.msgpack_restore(payload)
    if content.get('format') != FORMAT:
      raise ValueError(f'format {content.get("format")!r}')
    meta = json.loads(content['meta'])
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'{path} is not a gans feature classifier file ({FORMAT}): {e}') from e
  for keypath, leaf in jax.tree_util.tree_flatten_with_path(content['params'])[0]:
    leaf = np.asarray(leaf)
    bad = int(np.count_nonzero(~np.isfinite(leaf))) if leaf.dtype.kind in 'fc' else 0
    if bad:
      name = '/'.join(['params'] + [str(getattr(k, 'key', k)) for k in keypath])
      raise ValueError(
        f'{path}: {bad} of the {leaf.size} values of {name!r} are non-finite (NaN/inf)'
      )
  return Classifier(
    content['params'], meta, os.path.abspath(path), hashlib.sha256(payload).hexdigest()
  )


def default_cache_dir(cache_dir: str | None = None) -> str:
  """``cache_dir``, else ``$GANS_CACHE_DIR``, else ``~/.cache/gans``."""
  return os.path.expanduser(cache_dir or os.environ.get('GANS_CACHE_DIR') or '~/.cache/gans')


def cache_path(r, cache_dir: str | None = None) -> str:
  return os.path.join(
    default_cache_dir(cache_dir),
    'classifiers',
    f'{r.dataset}_{r.image_size}px_{recipe_key(r)}.msgpack',
  )


def get_or_train(r=None, cache_dir: str | None = None) -> Classifier:
  """Loads the cached classifier of recipe ``r``, training and caching it on first use."""
  r = recipe() if r is None else r
  path = cache_path(r, cache_dir)
  if os.path.exists(path):
    return load(path)
  logging.info(
    'No cached feature classifier at %s: training it now, once (recipe %s, %s at %dx%d; '
    '10 to 15 s on 2 CPU cores).',
    path,
    recipe_key(r),
    r.dataset,
    r.image_size,
    r.image_size,
  )
  clf = train(r)
  save(clf, path)
  return clf


# ---------------------------------------------------------------------------- command


def main(argv):
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top

  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  config, workdir = flags.FLAGS.config, flags.FLAGS.workdir
  clf = train(config)
  path = os.path.join(workdir, 'classifier.msgpack')
  save(clf, path)
  report = dict(path=clf.path, sha256=clf.sha256, **clf.meta)
  with open(os.path.join(workdir, 'classifier.json'), 'w') as f:
    json.dump(report, f, indent=2, sort_keys=True)
  print(
    json.dumps(
      {
        k: report[k]
        for k in ('path', 'heldout_accuracy', 'num_heldout', 'train_accuracy', 'train_seconds')
      },
      indent=2,
    )
  )


if __name__ == '__main__':
  from absl import app
  from absl import flags
  from ml_collections import config_flags

  config_flags.DEFINE_config_file('config', None, 'Recipe file, e.g. experiments/classifier.py')
  flags.DEFINE_string('workdir', None, 'Directory for classifier.msgpack and classifier.json.')
  flags.mark_flags_as_required(['config', 'workdir'])
  logging.set_verbosity(logging.INFO)
  app.run(main)
