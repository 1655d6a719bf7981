r"""Evaluation of generators during and after training: feature networks, cached
reference statistics, metrics, and the protocol every number carries.

  results = evaluate(config, exp, state)      # {'fid_classifier': 3.1, ..., 'protocol': {...}}
  hook = eval_hook(config, exp, workdir)      # the train loop calls hook(state) every
                                              # config.eval_every steps -> eval/* scalars
  evaluate_checkpoint(config, workdir)        # --mode eval: WORKDIR/eval_<step>.json

Configuration (`config.eval`, defaults in `gans.configs.eval_config`):
  features         'classifier' (offline: a small CNN the project trains on the run's
                   labelled dataset, gans/metrics/classifier.py) or 'inception' (the FID
                   InceptionV3; weights from `inception_weights` or
                   $GANS_INCEPTION_WEIGHTS, never downloaded). 2-D toy datasets always
                   use the raw points ('points').
  metrics          any of fid, is, kid, precision_recall, density_coverage, mode_score,
                   mode_count, mode_coverage (toy datasets); a tuple or 'fid,kid'.
  num_samples      generated samples per evaluation; num_reference real ones
                   (0: the whole split, at most 50,000; for toy datasets num_samples).
  reference_split  split of the reference (real) set; built-in datasets have only 'train'.
  classifier_path  a file from `python -m gans.metrics.classifier`; empty: train the
                   default recipe (experiments/classifier.py) on first use and cache it.
  cache_dir        reference statistics and classifiers (default $GANS_CACHE_DIR or
                   ~/.cache/gans).

Reported names. Inception metrics use the standard names (fid, is, is_std, kid, kid_std,
precision, recall, density, coverage, mode_score, modes, modes_kl). Any other feature
space appends its name, so nobody mistakes them for Inception numbers:
fid_classifier, is_classifier, is_classifier_std, kid_classifier, ..., fid_points.
mode_count: modes_<net> = number of classes that are the argmax of at least one
generated sample, modes_kl_<net> = KL(argmax histogram || uniform over classes)
(the Stacked MNIST statistic when the dataset is stacked_mnist: 1000 classes).
mode_coverage (toy datasets, VEEGAN/PacGAN): modes, high_quality, reverse_kl.
Conditional experiments whose feature network classifies the same K classes (the
offline classifier) also get class_accuracy_<net>: the fraction of generated samples
the network assigns to the class they were generated for (classes balanced, i mod K).

Protocol. Generated images are quantized to uint8 (as when saved to PNG) and real
images are read as uint8; both are then preprocessed by the feature network (the
classifier's to [-1, 1], Inception's to 299x299). `results['protocol']` records the
feature network (classifier file, hash and held-out accuracy, or Inception weights
file and hash), the numbers of real and fake samples, the dataset and reference split,
the latent seed, whether EMA weights were used, the step, and metric options.
"""

import collections
import dataclasses
import hashlib
import json
import os
import tempfile
import time
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np

from gans import configs
from gans import data
from gans import metrics as metrics_lib
from gans.data import images as image_lib
from gans.metrics import classifier as classifier_lib
from gans.metrics import inception
from gans.metrics import stacked_mnist
from gans.train import experiment as experiment_lib

# Bump when the content of cached reference files changes.
REFERENCE_FORMAT = 1
MAX_REFERENCE = 50_000


IMAGE_METRICS = ('fid', 'is', 'kid', 'precision_recall', 'density_coverage', 'mode_score',
                 'mode_count')
POINT_METRICS = ('fid', 'kid', 'precision_recall', 'density_coverage', 'mode_coverage')
NEEDS_LOGITS = ('is', 'mode_score', 'mode_count')

# How many reference statistics were computed (not read from the cache), by file name.
reference_computations = collections.Counter()


def options(config):
  """config.eval merged over gans.configs.eval_config() (configs without `eval` work)."""
  values = configs.eval_config().to_dict()
  given = config.get('eval') if hasattr(config, 'get') else None
  for key, value in (given or {}).items():
    if key not in values:
      raise ValueError(f'Unknown config.eval field {key!r}; known: {", ".join(sorted(values))}.')
    values[key] = value
  values['metrics'] = tuple(parse_metrics(values['metrics']))
  return ml_collections.ConfigDict(values)


def parse_metrics(value):
  """'fid,kid' or ('fid', 'kid') or ('fid,kid',) -> ['fid', 'kid'] (validated names)."""
  items = [value] if isinstance(value, str) else list(value)
  names = [n.strip() for item in items for n in str(item).split(',') if n.strip()]
  known = sorted(set(IMAGE_METRICS) | set(POINT_METRICS))
  for n in names:
    if n not in known:
      raise ValueError(f'Unknown metric {n!r} in config.eval.metrics; known: {", ".join(known)}.')
  return names


def cache_dir(opts=None):
  return classifier_lib.default_cache_dir((opts or {}).get('cache_dir') or None)


# ------------------------------------------------------------------- feature networks


@dataclasses.dataclass
class FeatureNetwork:
  """A feature space: `apply(variables, uint8 images) -> {'features', 'logits'?}`.

  `input_shape` (H, W, C) the network requires, or None (any size); `cache_id` names
  the exact weights in reference-cache keys; `protocol` is recorded with every number.
  """
  name: str
  apply: Callable | None
  variables: Any
  input_shape: tuple | None
  protocol: dict
  cache_id: str
  has_logits: bool = True
  _compiled: Any = dataclasses.field(default=None, repr=False)

  def key(self, base, std=False):
    """Reported name: standard names for Inception, `<base>_<network>` otherwise."""
    name = base if self.name == 'inception' else f'{base}_{self.name}'
    return name + '_std' if std else name

  def check_input(self, shape):
    if self.input_shape is not None and tuple(shape) != tuple(self.input_shape):
      raise ValueError(f'The {self.name} feature network takes images of shape '
                       f'{tuple(self.input_shape)}, got {tuple(shape)}.')

  def features(self, batches):
    """Features of host uint8 batches, sharded over the local devices on the batch axis.

    Returns {'features': [N, D] float32, 'logits': [N, K] float32 (if any)} as NumPy.
    """
    if self.apply is None:  # Raw points.
      out = [np.asarray(b, np.float32) for b in batches]
      return {'features': np.concatenate(out) if out else np.zeros([0, 2], np.float32)}
    mesh = Mesh(np.array(jax.local_devices()), ('data',))
    if self._compiled is None:
      variables = jax.device_put(self.variables, NamedSharding(mesh, P()))
      self._compiled = (variables, jax.jit(self.apply))
    variables, fn = self._compiled
    sharding = NamedSharding(mesh, P('data'))
    shards = mesh.shape['data']
    outputs = collections.defaultdict(list)

    def collect(pending):
      result, n = pending
      for name, value in jax.device_get(result).items():
        outputs[name].append(np.asarray(value, np.float32)[:n])

    pending = None
    for batch in batches:
      x = np.asarray(batch)
      if x.dtype != np.uint8:
        raise TypeError(f'Feature networks take uint8 images; got {x.dtype}.')
      self.check_input(x.shape[1:])
      n = len(x)
      if n == 0:
        continue
      if -n % shards:  # Pad to a multiple of the devices; padded rows are dropped.
        x = np.concatenate([x, np.repeat(x[-1:], -n % shards, axis=0)])
      result = fn(variables, jax.device_put(x, sharding))
      if pending is not None:  # Collect batch i-1 while batch i runs.
        collect(pending)
      pending = (result, n)
    if pending is not None:
      collect(pending)
    return {k: np.concatenate(v) for k, v in outputs.items()}


def points_network():
  return FeatureNetwork('points', None, None, None, dict(feature_network='points'), 'points',
                        has_logits=False)


def _inception_apply(variables, images):
  out = inception.extract(variables, images)
  # The Inception Score takes the logits without the fc bias (torch-fidelity, stylegan2-ada).
  return {'features': out['pool3'], 'logits': out['logits_unbiased']}


def inception_network(weights_path=None):
  """The FID InceptionV3 (pool3 features, bias-free logits) from pytorch-fid's weights.

  `weights_path` empty or None: $GANS_INCEPTION_WEIGHTS. Missing files raise
  FileNotFoundError saying where to get the weights.
  """
  extractor = inception.load(weights_path or None)
  protocol = dict(feature_network='inception', inception_weights=extractor.weights_path,
                  inception_sha256=extractor.sha256,
                  official_weights=bool(extractor.is_official_weights))
  cache_id = f'inception-{(extractor.sha256 or _file_id(extractor.weights_path))[:16]}'
  return FeatureNetwork('inception', _inception_apply, extractor.variables, None, protocol,
                        cache_id)


def _file_id(path):
  st = os.stat(path)
  return hashlib.sha256(f'{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}'.encode()).hexdigest()


def classifier_network(clf, stacked=False):
  """Features of a trained `gans.metrics.classifier.Classifier`.

  stacked=True: images with 3 stacked digit channels (Stacked MNIST); the 1-channel
  classifier is applied per channel (features concatenated, 1000 joint class logits).
  """
  protocol = dict(feature_network='classifier', **clf.protocol())
  apply, shape = clf.apply, clf.image_shape
  if stacked:
    apply = stacked_mnist.per_channel(clf.apply)
    shape = shape[:2] + (3,)
    protocol['stacked_channels'] = 3
  return FeatureNetwork('classifier', apply, clf.params, shape, protocol,
                        f'classifier-{clf.sha256[:16]}' + ('-stacked' if stacked else ''))


def load_classifier(opts, dataset_name, image_size, data_dir=''):
  """config.eval.classifier_path, else the cached default recipe (trained on first use)."""
  if opts.classifier_path:
    return classifier_lib.load(opts.classifier_path)
  recipe = classifier_lib.recipe(dataset=dataset_name, image_size=image_size, data_dir=data_dir)
  return classifier_lib.get_or_train(recipe, cache_dir(opts))


def feature_network(config, dataset=None):
  """The feature network `config.eval.features` names, for `dataset` (default the config's)."""
  opts = options(config)
  name = dataset.name if dataset is not None else config.dataset
  if dataset is not None and not dataset.is_image:
    return points_network()
  if opts.features == 'inception':
    return inception_network(opts.inception_weights or None)
  if opts.features == 'classifier':
    stacked = name == stacked_mnist.NAME
    clf = load_classifier(opts, stacked_mnist.DIGITS if stacked else name, config.image_size,
                          config.get('data_dir', ''))
    return classifier_network(clf, stacked=stacked)
  raise ValueError(f"config.eval.features={opts.features!r}: use 'classifier' or 'inception'.")


# ---------------------------------------------------------------- reference statistics


@dataclasses.dataclass
class Reference:
  """Features of the real set: samples (KID, precision/recall...), moments (FID), p(y)."""
  features: np.ndarray          # [M, D] float32
  mu: np.ndarray                # [D] float64
  sigma: np.ndarray             # [D, D] float64
  mean_probs: np.ndarray | None  # [K] float64: mean softmax over the real set
  protocol: dict


def _softmax(logits):
  logits = np.asarray(logits, np.float64)
  e = np.exp(logits - logits.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


def _moments(features):
  stats = metrics_lib.FeatureStats().update(features)
  return stats.mean(), stats.cov()


def reference_dataset(config, dataset=None):
  """The dataset of `config.eval.reference_split` (the training data for 'train')."""
  split = options(config).reference_split
  if split == 'train' and dataset is not None:
    return dataset
  name = dataset.name if dataset is not None else config.dataset
  if name in data.BUILTIN or name == stacked_mnist.NAME:
    if split != 'train':
      raise ValueError(f"Built-in dataset {name!r} has only the 'train' split; got "
                       f'config.eval.reference_split={split!r}.')
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
    x, _ = dataset.get(indices[i:i + batch_size])
    yield image_lib.to_uint8(x) if dataset.is_image else x


def reference_statistics(config, net, dataset=None):
  """Features of the reference set through `net`, cached in a file on first use.

  The cache key holds the dataset (name, size, example shape and a hash of its first
  examples), the split, the number of reference samples and the exact feature weights.
  """
  opts = options(config)
  dataset = reference_dataset(config, dataset)
  indices = reference_indices(opts, dataset)
  protocol = dict(dataset=dataset.name, reference_split=opts.reference_split,
                  num_real=int(len(indices)), real_example_shape=list(dataset.example_shape))
  feature_batch = opts.batch_size or 500
  if net.apply is None:  # Raw points: nothing worth caching.
    feats = net.features(_image_batches(dataset, indices, feature_batch))['features']
    return Reference(feats, *_moments(feats), None, protocol)
  head = next(_image_batches(dataset, indices[:8], 8))
  key = dict(format=REFERENCE_FORMAT, dataset=dataset.name, split=opts.reference_split,
             num_examples=dataset.num_examples, shape=list(dataset.example_shape),
             num_reference=int(len(indices)), network=net.cache_id,
             head=hashlib.sha256(np.ascontiguousarray(head).tobytes()).hexdigest()[:16])
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
  filename = (f'{dataset.name}_{opts.reference_split}_{"x".join(map(str, dataset.example_shape))}'
              f'_{net.name}_{len(indices)}_{digest}.npz')
  path = os.path.join(cache_dir(opts), 'references', filename)
  protocol['reference_cache'] = path
  if os.path.exists(path):
    with np.load(path) as f:
      mean_probs = f['mean_probs'] if 'mean_probs' in f else None
      return Reference(f['features'], f['mu'], f['sigma'], mean_probs, protocol)
  start = time.time()
  out = net.features(_image_batches(dataset, indices, feature_batch))
  mu, sigma = _moments(out['features'])
  arrays = dict(features=out['features'], mu=mu, sigma=sigma, key=json.dumps(key))
  if 'logits' in out:
    arrays['mean_probs'] = _softmax(out['logits']).mean(0)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
  with os.fdopen(fd, 'wb') as f:
    np.savez(f, **arrays)
  os.replace(tmp, path)
  reference_computations[filename] += 1
  logging.info('Reference statistics of %s/%s (%d examples, %s features) in %.1f s, cached '
               'in %s', dataset.name, opts.reference_split, len(indices), net.name,
               time.time() - start, path)
  return Reference(out['features'], mu, sigma, arrays.get('mean_probs'), protocol)


# ----------------------------------------------------------------------------- metrics


def compute_metrics(names, net, real, fake, opts, dataset_extra=None):
  """Metrics `names` between a Reference and fake features; returns (values, protocol).

  `fake`: {'features': [N, D], 'logits': [N, K] (optional)}; `dataset_extra`: the
  dataset's `extra` (means, sigma) for mode_coverage. Options used are returned in the
  protocol dict.
  """
  values, protocol = {}, {}
  f = np.asarray(fake['features'])
  logits = fake.get('logits')
  for name in names:
    allowed = IMAGE_METRICS if net.has_logits else POINT_METRICS
    if name not in allowed:
      raise ValueError(f'Metric {name!r} is not available in the {net.name!r} feature space '
                       f'(available: {", ".join(allowed)}).')
  for name in names:
    if name == 'fid':
      values[net.key('fid')] = metrics_lib.frechet_distance_from_stats(
          real.mu, real.sigma, *_moments(f))
    elif name == 'is':
      mean, std = metrics_lib.inception_score(logits, splits=opts.is_splits)
      values[net.key('is')], values[net.key('is', std=True)] = mean, std
      protocol['is_splits'] = opts.is_splits
    elif name == 'kid':
      mean, std = metrics_lib.kernel_inception_distance(
          real.features, f, num_subsets=opts.kid_subsets, subset_size=opts.kid_subset_size)
      values[net.key('kid')], values[net.key('kid', std=True)] = mean, std
      protocol['kid_subsets'] = opts.kid_subsets
      protocol['kid_subset_size'] = min(opts.kid_subset_size, len(real.features), len(f))
    elif name == 'precision_recall':
      pr = metrics_lib.precision_recall(real.features, f, k=opts.precision_recall_k)
      values[net.key('precision')], values[net.key('recall')] = pr['precision'], pr['recall']
      protocol['precision_recall_k'] = opts.precision_recall_k
    elif name == 'density_coverage':
      dc = metrics_lib.density_coverage(real.features, f, k=opts.density_coverage_k)
      values[net.key('density')], values[net.key('coverage')] = dc['density'], dc['coverage']
      protocol['density_coverage_k'] = opts.density_coverage_k
    elif name == 'mode_score':
      values[net.key('mode_score')] = metrics_lib.mode_score(_softmax(logits),
                                                             real.mean_probs[None])
    elif name == 'mode_count':
      counts = np.bincount(np.argmax(logits, axis=1), minlength=logits.shape[1])
      values[net.key('modes')] = float(np.count_nonzero(counts))
      values[net.key('modes_kl')] = mode_kl(counts)
      protocol['mode_count_classes'] = int(logits.shape[1])
    elif name == 'mode_coverage':
      extra = dataset_extra or {}
      if 'means' not in extra:
        raise ValueError('mode_coverage needs a toy dataset with known modes (ring8, grid25).')
      mc = metrics_lib.mode_coverage(f, extra['means'], extra['sigma'])
      values.update(modes=float(mc['modes']), high_quality=mc['high_quality'],
                    reverse_kl=mc['reverse_kl'])
      protocol['mode_coverage'] = dict(num_modes=len(extra['means']), threshold_sigmas=3.0)
  return {k: float(v) for k, v in values.items()}, protocol


def mode_kl(counts):
  """KL(counts / sum || uniform over len(counts)) = sum p log(K p), 0 log 0 = 0."""
  counts = np.asarray(counts, np.float64)
  if counts.sum() == 0:
    return float('inf')
  p = counts[counts > 0] / counts.sum()
  return float(np.sum(p * np.log(len(counts) * p)))


# -------------------------------------------------------------------------- generation


class Evaluator:
  """Evaluates generators of one experiment: the network and reference are built once."""

  def __init__(self, config, dataset=None):
    self.config = config
    self.opts = options(config)
    self.dataset = dataset if dataset is not None else data.load(config)
    allowed = IMAGE_METRICS if self.dataset.is_image else POINT_METRICS
    for name in self.opts.metrics:
      if name not in allowed:
        raise ValueError(
            f'Metric {name!r} in config.eval.metrics does not apply to dataset '
            f'{self.dataset.name!r} ({"images" if self.dataset.is_image else "2-D points"}); '
            f'available: {", ".join(allowed)}.')
    self.net = feature_network(config, self.dataset)
    self.reference = reference_statistics(config, self.net, self.dataset)

  def __call__(self, exp, state, num_samples=None):
    """Generates `num_samples` (default config.eval.num_samples) and computes the metrics.

    Returns a flat dict of floats plus 'protocol' (a dict).
    """
    opts = self.opts
    num = int(num_samples or opts.num_samples)
    start = time.time()
    gen_batch = opts.batch_size or exp.config.batch_size
    batches = experiment_lib.generated_batches(exp, state, num, seed=opts.seed,
                                               batch_size=gen_batch, use_ema=opts.use_ema)
    if self.dataset.is_image:
      batches = (image_lib.to_uint8(b) for b in batches)
    fake = self.net.features(batches)
    values, metric_protocol = compute_metrics(opts.metrics, self.net, self.reference, fake,
                                              opts, self.dataset.extra)
    logits = fake.get('logits')
    if exp.num_classes and logits is not None and logits.shape[1] == exp.num_classes:
      # Conditional generators: how often the feature network's class is the one asked
      # for (generated sample i has label i mod K; experiment.generated_batches).
      asked = np.arange(len(logits)) % exp.num_classes
      values[self.net.key('class_accuracy')] = float(np.mean(logits.argmax(1) == asked))
    protocol = dict(self.net.protocol, **self.reference.protocol, num_fake=num,
                    fake_seed=opts.seed, ema=bool(opts.use_ema and state.ema_params),
                    truncation=float(exp.config.get('truncation', 0.0)),
                    class_balanced=bool(exp.num_classes), step=int(state.step),
                    **metric_protocol)
    if self.dataset.is_image:
      protocol['images'] = 'quantized to uint8 before feature extraction'
    protocol['seconds'] = round(time.time() - start, 2)
    return dict(values, protocol=protocol)


def evaluate(config, exp, state, num_samples=None):
  """Metrics of config.eval for the generator in `state` (see the module docstring)."""
  return Evaluator(config, exp.dataset)(exp, state, num_samples)


def eval_hook(config, exp, workdir=None):
  """A function `hook(state) -> {name: float}` for the train loop.

  Builds the feature network and the reference statistics now (so a missing weights
  file fails at the start of the run). Each call also appends the values with their
  protocol to WORKDIR/eval.jsonl (process 0).
  """
  evaluator = Evaluator(config, exp.dataset)

  def hook(state):
    results = evaluator(exp, state)
    protocol = results.pop('protocol')
    logging.info('eval at step %d (%d samples, %s, %.1f s): %s', protocol['step'],
                 protocol['num_fake'], protocol['feature_network'], protocol['seconds'],
                 ' '.join(f'{k} {v:.4g}' for k, v in results.items()))
    if workdir and jax.process_index() == 0:
      os.makedirs(workdir, exist_ok=True)
      with open(os.path.join(workdir, 'eval.jsonl'), 'a') as f:
        f.write(json.dumps(dict(step=protocol['step'], metrics=results,
                                protocol=protocol)) + '\n')
    return results

  hook.evaluator = evaluator
  return hook


def evaluate_checkpoint(config, workdir, num_samples=None):
  """--mode eval: evaluates the latest checkpoint, writes WORKDIR/eval_<step>.json."""
  from gans.train import loop  # pylint: disable=g-import-not-at-top
  exp, state = loop.restore_latest(config, workdir)
  results = evaluate(config, exp, state, num_samples)
  step = results['protocol']['step']
  text = json.dumps(results, indent=2, sort_keys=True)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, f'eval_{step}.json'), 'w') as f:
      f.write(text + '\n')
  print(text)
  return results


def evaluate_images(real_images, fake_images, net, metric_names, opts=None):
  """Metrics between two uint8 image sets [N, H, W, C] (real first) in `net`'s space.

  No caching: both sets go through the network. Returns (values, protocol).
  """
  opts = options(ml_collections.ConfigDict({'eval': opts or {}}))
  names = parse_metrics(metric_names)
  batch = opts.batch_size or 500
  split = lambda x: (x[i:i + batch] for i in range(0, len(x), batch))
  real = net.features(split(real_images))
  mu, sigma = _moments(real['features'])
  mean_probs = _softmax(real['logits']).mean(0) if 'logits' in real else None
  reference = Reference(real['features'], mu, sigma, mean_probs, {})
  fake = net.features(split(fake_images))
  values, protocol = compute_metrics(names, net, reference, fake, opts)
  return values, dict(net.protocol, num_real=len(real_images), num_fake=len(fake_images),
                      **protocol)
