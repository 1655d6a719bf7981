r"""The sample evaluator (type 'samples'): metrics of generated samples against real ones.

  config.evals.samples = configs.sample_eval(every=250, num_samples=2000)

Options (defaults in `gans.configs.sample_eval`):
  features         'classifier' (offline: a small CNN the project trains on the run's
                   labelled dataset, gans/metrics/classifier.py), 'inception' (the FID
                   InceptionV3; weights from `inception_weights` or
                   $GANS_INCEPTION_WEIGHTS, never downloaded) or 'vgg16' (fc2 features
                   at 224x224, the space of the improved precision/recall of
                   Kynkaanniemi et al. 2019 with precision_recall_k=3; weights file
                   `vgg_weights`; no logits, so fid, kid, precision_recall and
                   density_coverage only). 2-D toy datasets always use the raw points
                   ('points').
  metrics          any of fid, is, kid, precision_recall, density_coverage, mode_score,
                   mode_count, mode_coverage (toy datasets); a tuple or 'fid,kid'.
  num_samples      generated samples per evaluation; num_reference real ones
                   (0: the whole split, at most 50,000; for toy datasets num_samples).
  reference_split  split of the reference (real) set (TFDS-style, also for built-ins).
  classifier_path  a file from `python -m gans.metrics.classifier`; empty: train the
                   default recipe (experiments/classifier.py) on first use and cache it.
  cache_dir        reference statistics and classifiers (default $GANS_CACHE_DIR or
                   ~/.cache/gans).

Reported names. Inception metrics use the standard names (fid, is, is_std, kid, kid_std,
precision, recall, density, coverage, mode_score, modes, modes_kl). Any other feature
space appends its name, so nobody mistakes them for Inception numbers:
fid_classifier, is_classifier, is_classifier_std, kid_classifier, ..., fid_points,
precision_vgg16, recall_vgg16.
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

import time

from absl import logging
import ml_collections
import numpy as np

from gans import configs
from gans import errors
from gans import metrics as metrics_lib
from gans.data import images as image_lib
from gans.eval import features as features_lib
from gans.eval import reference as reference_lib
from gans.metrics import checks
from gans.metrics import inception
from gans.metrics import pth
from gans.train import experiment as experiment_lib

IMAGE_METRICS = (
  'fid',
  'is',
  'kid',
  'precision_recall',
  'density_coverage',
  'mode_score',
  'mode_count',
)
POINT_METRICS = ('fid', 'kid', 'precision_recall', 'density_coverage', 'mode_coverage')


def options(fragment=None, name='samples'):
  """An evaluator fragment merged over gans.configs.sample_eval(); checks field names."""
  values = configs.sample_eval().to_dict()
  for key, value in (fragment or {}).items():
    if key not in values:
      raise errors.UserInputError(
        f'Unknown field {key!r} in config.evals.{name} (type samples); '
        f'known: {", ".join(sorted(values))}.'
      )
    values[key] = value
  values['metrics'] = tuple(parse_metrics(values['metrics'], name))
  return ml_collections.ConfigDict(values)


def parse_metrics(value, name='samples'):
  """'fid,kid' or ('fid', 'kid') or ('fid,kid',) -> ['fid', 'kid'] (validated names)."""
  items = [value] if isinstance(value, str) else list(value)
  names = [n.strip() for item in items for n in str(item).split(',') if n.strip()]
  known = sorted(set(IMAGE_METRICS) | set(POINT_METRICS))
  for n in names:
    if n not in known:
      raise errors.UserInputError(
        f'Unknown metric {n!r} in config.evals.{name}.metrics; known: {", ".join(known)}.'
      )
  return names


def compute_metrics(
  names, net, real, fake, opts, dataset_extra=None, fake_source='the generated samples'
):
  """Metrics `names` between a Reference and fake features; returns (values, protocol).

  `fake`: {'features': [N, D], 'logits': [N, K] (optional)}; `dataset_extra`: the
  dataset's `extra` (means, sigma) for mode_coverage. Options used are returned in the
  protocol dict. Raises ValueError for an unavailable metric or a NaN/inf feature row
  of `fake` (counted, naming `fake_source`).
  """
  values, protocol = {}, {}
  features_lib.check_features(fake, fake_source)
  f = np.asarray(fake['features'])
  logits = fake.get('logits')
  for name in names:
    allowed = IMAGE_METRICS if net.has_logits else POINT_METRICS
    if name not in allowed:
      raise errors.UserInputError(
        f'Metric {name!r} is not available in the {net.name!r} feature space '
        f'(available: {", ".join(allowed)}).'
      )
  for name in names:
    if name == 'fid':
      values[net.key('fid')] = metrics_lib.frechet_distance_from_stats(
        real.mu, real.sigma, *reference_lib.moments(f)
      )
    elif name == 'is':
      mean, std = metrics_lib.inception_score(logits, splits=opts.is_splits)
      values[net.key('is')], values[net.key('is', std=True)] = mean, std
      protocol['is_splits'] = opts.is_splits
    elif name == 'kid':
      mean, std = metrics_lib.kernel_inception_distance(
        real.features, f, num_subsets=opts.kid_subsets, subset_size=opts.kid_subset_size
      )
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
      values[net.key('mode_score')] = metrics_lib.mode_score(
        reference_lib.softmax(logits), real.mean_probs[None]
      )
    elif name == 'mode_count':
      counts = np.bincount(np.argmax(logits, axis=1), minlength=logits.shape[1])
      values[net.key('modes')] = float(np.count_nonzero(counts))
      values[net.key('modes_kl')] = metrics_lib.kl_to_uniform(counts)
      protocol['mode_count_classes'] = int(logits.shape[1])
    elif name == 'mode_coverage':
      extra = dataset_extra or {}
      if 'means' not in extra:
        raise ValueError('mode_coverage needs a toy dataset with known modes (ring8, grid25).')
      mc = metrics_lib.mode_coverage(f, extra['means'], extra['sigma'])
      values.update(
        modes=float(mc['modes']), high_quality=mc['high_quality'], reverse_kl=mc['reverse_kl']
      )
      protocol['mode_coverage'] = dict(num_modes=len(extra['means']), threshold_sigmas=3.0)
  return {k: float(v) for k, v in values.items()}, protocol


class GeneratedValues:
  """Watches generated batches on their way to the features: non-finite rows, range.

  `watch(batches)` passes the batches through (NaN/inf set to 0), counting the samples
  with a NaN or inf and the range of the finite values; `check(what, images)` then raises or
  warns (see its docstring). Generated images are expected in [-1, 1] (the model
  space); `image_lib.to_uint8` would silently turn NaN into 0 and clip [0, 255]
  values to white.
  """

  def __init__(self):
    self.count = 0
    self.nonfinite = 0
    self.first_nonfinite = None
    self.low, self.high = np.inf, -np.inf

  def watch(self, batches):
    for batch in batches:
      x = np.asarray(batch)
      bad = checks.nonfinite_rows(x)
      if len(bad) and self.first_nonfinite is None:
        self.first_nonfinite = self.count + int(bad[0])
      self.nonfinite += len(bad)
      finite = x[np.isfinite(x)] if len(bad) else x
      if finite.size:
        self.low, self.high = min(self.low, finite.min()), max(self.high, finite.max())
      self.count += len(x)
      # check() fails on them; zeros spare the features NaN (and the uint8 cast a warning).
      yield np.where(np.isfinite(x), x, 0) if len(bad) else batch

  def check(self, what, images=True):
    """Raises ValueError for non-finite samples, or images that look [0, 255].

    `what` names them (e.g. 'generated samples at step 7'). Images whose values span
    more than 0..2 and none below 0 look like [0, 255] images where [-1, 1] is
    expected: ValueError. Images with no value below 0 and none above 1 look like
    [0, 1] images (mid-gray would be 0): a logged warning, since a generator in
    [-1, 1] may, rarely, draw only bright pixels.
    """
    if self.nonfinite:
      raise ValueError(
        f'{self.nonfinite} of the {self.count} {what} are non-finite (NaN/inf; first: '
        f'sample {self.first_nonfinite}): the generator produced NaN or inf.'
      )
    if not images or not self.count:
      return
    span = f'values span {self.low:.4g}..{self.high:.4g}'
    if self.low >= 0 and self.high > 2:
      raise ValueError(
        f'{what}: {span} where images in [-1, 1] are expected: [0, 255] images? '
        '(they would be clipped to white before the features.)'
      )
    if self.low >= 0 and self.high <= 1:
      logging.warning(
        '%s: %s, none below 0, where images in [-1, 1] are expected: [0, 1] images? '
        '(0 is mid-gray in [-1, 1].)',
        what,
        span,
      )


class SampleEvaluator:
  """Evaluates generators of one experiment: the network and reference are built once."""

  def __init__(self, config, dataset, fragment=None, name='samples'):
    self.name = name
    self.config = config
    self.opts = options(fragment, name)
    self.every = int(self.opts.every)
    self.dataset = dataset
    allowed = IMAGE_METRICS if self.dataset.is_image else POINT_METRICS
    for name in self.opts.metrics:
      if name not in allowed:
        raise errors.UserInputError(
          f'Metric {name!r} in config.evals.{self.name}.metrics does not apply to dataset '
          f'{self.dataset.name!r} ({"images" if self.dataset.is_image else "2-D points"}); '
          f'available: {", ".join(allowed)}.'
        )
    if self.opts.features == 'vgg16' and self.dataset.is_image:
      if not self.opts.vgg_weights:
        raise errors.UserInputError(
          f"config.evals.{self.name}.features='vgg16' needs config.evals.{self.name}.vgg_weights "
          "(torchvision's vgg16-397923af.pth; never downloaded)."
        )
      needs_logits = [m for m in self.opts.metrics if m not in POINT_METRICS]
      if needs_logits:
        raise errors.UserInputError(
          f'config.evals.{self.name}.metrics: {", ".join(needs_logits)} need class logits, '
          "which features='vgg16' lacks; use fid, kid, precision_recall, density_coverage."
        )
    try:
      self.net = features_lib.feature_network(self.opts, config, self.dataset)
    except FileNotFoundError as e:  # A weights or classifier file the config names.
      raise errors.MissingInputError(f'config.evals.{self.name}: {e}') from e
    except (inception.InceptionWeightsError, pth.PthError) as e:
      raise errors.UserInputError(f'config.evals.{self.name}: {e}') from e
    self.reference = reference_lib.reference_statistics(self.opts, config, self.net, self.dataset)

  def __call__(self, exp, state, num_samples=None):
    """Generates `num_samples` (default the evaluator's num_samples) and computes the metrics.

    Returns a flat dict of floats plus 'protocol' (a dict).
    """
    opts = self.opts
    num = int(num_samples or opts.num_samples)
    start = time.time()
    gen_batch = opts.batch_size or exp.config.batch_size
    batches = experiment_lib.generated_batches(
      exp, state, num, seed=opts.seed, batch_size=gen_batch, use_ema=opts.use_ema
    )
    generated = GeneratedValues()
    batches = generated.watch(batches)
    if self.dataset.is_image:
      batches = (image_lib.to_uint8(b) for b in batches)
    fake = self.net.features(batches)
    what = f'generated samples at step {int(state.step)}'
    generated.check(what, images=self.dataset.is_image)
    values, metric_protocol = compute_metrics(
      opts.metrics,
      self.net,
      self.reference,
      fake,
      opts,
      self.dataset.extra,
      fake_source=f'the {what} ({self.net.name} features)',
    )
    logits = fake.get('logits')
    if exp.num_classes and logits is not None and logits.shape[1] == exp.num_classes:
      # Conditional generators: how often the feature network's class is the one asked
      # for (generated sample i has label i mod K; experiment.generated_batches).
      asked = np.arange(len(logits)) % exp.num_classes
      values[self.net.key('class_accuracy')] = float(np.mean(logits.argmax(1) == asked))
    protocol = dict(
      self.net.protocol,
      **self.reference.protocol,
      num_fake=num,
      fake_seed=opts.seed,
      ema=bool(opts.use_ema and state.ema),
      truncation=float(exp.config.get('truncation', 0.0)),
      class_balanced=bool(exp.num_classes),
      step=int(state.step),
      **metric_protocol,
    )
    if self.dataset.is_image:
      protocol['images'] = 'quantized to uint8 before feature extraction'
    protocol['seconds'] = round(time.time() - start, 2)
    return dict(values, protocol=protocol)


def evaluate_images(
  real_images, fake_images, net, metric_names, opts=None, names=('real images', 'fake images')
):
  """Metrics between two uint8 image sets [N, H, W, C] (real first) in `net`'s space.

  No caching: both sets go through the network. `names` say where the two sets came
  from in error messages (e.g. their paths). Returns (values, protocol). Raises
  ValueError for a NaN/inf feature row (counted, naming the set).
  """
  opts = options(opts or {})
  metric_names = parse_metrics(metric_names)
  batch = opts.batch_size or 500
  split = lambda x: (x[i : i + batch] for i in range(0, len(x), batch))
  real = net.features(split(real_images))
  features_lib.check_features(real, names[0])
  mu, sigma = reference_lib.moments(real['features'])
  mean_probs = reference_lib.softmax(real['logits']).mean(0) if 'logits' in real else None
  reference = reference_lib.Reference(real['features'], mu, sigma, mean_probs, {})
  fake = net.features(split(fake_images))
  values, protocol = compute_metrics(metric_names, net, reference, fake, opts, fake_source=names[1])
  return values, dict(
    net.protocol, num_real=len(real_images), num_fake=len(fake_images), **protocol
  )
