r"""Classification Accuracy Score (type 'cas'): a classifier trained only on samples.

  config.evals.cas = configs.cas_eval(every=0, seeds=(0, 1, 2))

Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional Generative
Models" (NeurIPS): train a classifier only on samples of a class-conditional model,
each labelled by the class it was generated for, and report its accuracy on the real
held-out (test) images. A model that drops modes, makes one class look like another
or gives its samples the wrong class scores low even where FID and IS look good. The
paper trains the classifier on as many samples as the real training set has, from
scratch, with the hyperparameters of real-data training. Its Table 1 (ResNet-50, ImageNet
at 256x256): BigGAN-deep CAS 42.65% top-1 against 73.09% for the same network trained on
the real ImageNet training set (the "real" baseline), a ratio of 0.58. Its CIFAR-10
protocol (ResNet-56 on 50,000 samples, tested on the 10,000 real test images) is in
docs/synthetic_data.md, with its Naive Augmentation Score (real plus generated
training data), which `python -m gans.tools.synthetic_data` measures.

Here the classifier is the project's offline digit classifier recipe
(gans.metrics.classifier: three strided convolutions, a 128-unit layer; Adam 2e-3,
cosine decay, batch 64), with two changes for training sets of any size:
  - no hold-out of its own: every given image is trained on, and accuracy is measured
    on `heldout_split`, real images the run never trained on (default
    data.default_heldout_split: mnist5k trained on 'train[:4000]' -> 'train[4500:]');
  - a fixed budget of `steps` optimizer steps (rounded up to whole epochs) whatever the
    number of training images, so that 100 and 10,000 images get the same compute
    (a fixed 8 epochs would be 8 steps on 100 images).
At each evaluation, for each seed s of `seeds`:
  cas            held-out accuracy of the classifier trained on `num_samples` samples
                 (latents from PRNGKey(s); sample i has class i mod K, so the classes
                 are balanced; EMA weights where kept and `use_ema`), quantized to
                 uint8 as when saved, with classifier seed s;
  real_accuracy  the same recipe on `num_real` real training images (a class-
                 stratified subset drawn with seed s, or the whole training split),
                 computed once per evaluator (it does not change during training);
and reported: their means over seeds, `cas_ratio` = cas / real_accuracy,
`cas_worst_class` (the lowest per-class held-out accuracy of the CAS classifiers,
averaged over seeds: 0 when a class is never predicted right), and with two or more
seeds `cas_stderr` and `real_accuracy_stderr` (sample standard deviation over seeds /
sqrt(seeds)). Accuracies are fractions in [0, 1]. The protocol holds every per-seed
and per-class number.

Only class-conditional runs (config.conditional with config.num_classes = K, a
labelled image dataset with the same K) can be scored; any other raises
UserInputError naming config.conditional. `python -m gans.tools.synthetic_data`
builds the full table (real only, generated only, real plus generated at several
ratios, low-data subsets) from the functions here.
"""

import math
import time

import ml_collections
import numpy as np

from gans import configs
from gans import data
from gans import errors
from gans.data import images as image_lib
from gans.metrics import classifier as classifier_lib
from gans.train import experiment as experiment_lib

PAPER = 'Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional Generative Models"'
CLASSIFIER_BATCH = 64  # The recipe's batch size (gans.metrics.classifier.recipe).


def options(fragment=None, name='cas'):
  """An evaluator fragment merged over gans.configs.cas_eval(); checks names and values.

  `seeds` may be an int, a sequence of ints or a 'a,b,c' string; it comes back as a
  tuple of distinct ints. Raises UserInputError naming `config.evals.<name>.<field>`.
  """
  values = configs.cas_eval().to_dict()
  for key, value in (fragment or {}).items():
    if key not in values:
      raise errors.UserInputError(
        f'Unknown field {key!r} in config.evals.{name} (type cas); '
        f'known: {", ".join(sorted(values))}.'
      )
    values[key] = value
  values['seeds'] = parse_seeds(values['seeds'], f'config.evals.{name}.seeds')
  for key, low in (('num_samples', 0), ('num_real', 0), ('num_heldout', 0), ('batch_size', 0)):
    if int(values[key]) < low:
      raise errors.UserInputError(
        f'config.evals.{name}.{key}={values[key]!r}: give a count >= {low} (0: the default).'
      )
  if int(values['steps']) < 1:
    raise errors.UserInputError(
      f'config.evals.{name}.steps={values["steps"]!r}: give at least 1 classifier step.'
    )
  return ml_collections.ConfigDict(values)


def parse_seeds(value, where='seeds'):
  """(int, ...) of distinct seeds from an int, a sequence of ints or an 'a,b' string."""
  given = value
  if isinstance(value, str):
    value = [v for v in value.split(',') if v.strip()]
  elif isinstance(value, (int, np.integer)):
    value = [value]
  try:
    seeds = tuple(int(v) for v in value)
  except (TypeError, ValueError):
    raise errors.UserInputError(f'{where}={given!r}: give integers, e.g. (0, 1, 2).') from None
  if not seeds or len(set(seeds)) != len(seeds):
    raise errors.UserInputError(f'{where}={given!r}: give one or more distinct seeds.')
  return seeds


def stratified_indices(labels, n, seed):
  """Indices of a class-stratified draw of `n` examples, a pure function of its inputs.

  Classes take turns (in an order drawn with `seed`), each giving its next example of a
  per-class permutation drawn with `seed`, until `n` are drawn: every class gets
  floor(n / K) or one more, and a class with too few examples gives all it has and
  leaves the rest to the others.

  Args:
    labels: int [N], the class of each example.
    n: int in [1, N], how many to draw.
    seed: int.

  Returns:
    int64 [n], sorted.

  Raises:
    UserInputError: n outside [1, N].
  """
  labels = np.asarray(labels)
  if not 1 <= n <= len(labels):
    raise errors.UserInputError(
      f'Cannot draw {n} examples from {len(labels)}: give a count in [1, {len(labels)}].'
    )
  rng = np.random.default_rng([int(seed), 13])
  classes = rng.permutation(np.unique(labels))
  members = [rng.permutation(np.flatnonzero(labels == k)) for k in classes]
  order = [m[j] for j in range(max(len(m) for m in members)) for m in members if j < len(m)]
  return np.sort(np.asarray(order[:n], np.int64))


def quantize(images):
  """Float images in [-1, 1] -> float32 on the uint8 grid (as if saved and read back)."""
  return image_lib.to_model(image_lib.to_uint8(images))


def recipe_for(config, num_train, steps, seed):
  """The classifier recipe for `num_train` images and `steps` optimizer steps.

  gans.metrics.classifier.recipe for the run's dataset and image size, with seed
  `seed`, no internal hold-out, and ceil(steps / steps per epoch) epochs (an epoch is
  max(num_train // 64, 1) steps of batch 64).
  """
  per_epoch = max(int(num_train) // CLASSIFIER_BATCH, 1)
  return classifier_lib.recipe(
    dataset=config.dataset,
    image_size=int(config.get('image_size', 32)),
    data_dir=config.get('data_dir', ''),
    seed=int(seed),
    epochs=-(-int(steps) // per_epoch),
    batch_size=CLASSIFIER_BATCH,
    holdout_fraction=0.0,
  )


def train_and_score(config, images, labels, num_classes, heldout, steps, seed):
  """Trains the classifier recipe on (images, labels); scores it on held-out reals.

  Args:
    config: the run's config (dataset, image_size: recorded in the recipe).
    images: float32 [N, H, W, C] in [-1, 1], the training images.
    labels: int [N] in [0, K).
    num_classes: K.
    heldout: (images float32 [M, H, W, C] in [-1, 1], labels int [M]), real images.
    steps: int, optimizer steps (rounded up to whole epochs, see `recipe_for`).
    seed: int, the classifier's initialisation and batch order.

  Returns:
    dict(accuracy: float, fraction of the M held-out images classified right;
    per_class: [K] floats, the same per true class (NaN for a class with no held-out
    image); steps: int, the steps taken; num_train: N; seconds: float).

  Raises:
    ValueError: non-finite training images.
  """
  start = time.time()
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int32)
  bad = int(np.count_nonzero(~np.isfinite(images).reshape(len(images), -1).all(-1)))
  if bad:
    raise ValueError(f'{bad} of the {len(images)} training images have NaN/inf pixels.')
  r = recipe_for(config, len(images), steps, seed)
  clf = classifier_lib.train(r, dataset=(images, labels, int(num_classes)))
  x, y = heldout
  y = np.asarray(y)
  _, logits = clf.features(np.asarray(x, np.float32))
  right = np.argmax(logits, -1) == y
  per_class = [
    float(np.mean(right[y == k])) if np.any(y == k) else float('nan') for k in range(num_classes)
  ]
  return dict(
    accuracy=float(np.mean(right)),
    per_class=per_class,
    steps=int(clf.meta['steps']),
    num_train=len(images),
    seconds=round(time.time() - start, 2),
  )


def mean_and_stderr(values):
  """(mean, standard error = sample std / sqrt(n)) of a list; stderr NaN for one value."""
  values = np.asarray(values, np.float64)
  if len(values) < 2:
    return float(values.mean()), float('nan')
  return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def generated(exp, state, num, seed, batch_size=None, use_ema=True):
  """(images float32 [num, H, W, C] quantized to the uint8 grid, labels int32 [num]).

  Sample i has class i mod K (`exp.labels(0, num)`); latents from PRNGKey(seed).
  Raises ValueError when a sample has NaN/inf pixels.
  """
  x = experiment_lib.generate(exp, state, num, seed=seed, batch_size=batch_size, use_ema=use_ema)
  x = np.asarray(x, np.float32)
  bad = np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(-1))
  if len(bad):
    raise ValueError(
      f'{len(bad)} of {num} generated images have NaN/inf pixels (first: sample '
      f'{int(bad[0])}) at step {int(state.step)}.'
    )
  return quantize(x), np.asarray(exp.labels(0, num), np.int32)


def check_conditional(config, dataset, where):
  """K of a class-conditional image run; UserInputError (naming `where`) otherwise.

  `dataset` (the run's gans.data.Dataset) must hold images of K classes; None checks
  the config only.
  """
  k = configs.class_count(config)
  if not k:
    raise errors.UserInputError(
      f'{where}: the Classification Accuracy Score needs a class-conditional run '
      f'(config.conditional=True with config.num_classes=K): it trains a classifier on '
      f'samples labelled by the class they were generated for; this '
      f'{config.get("family", "gan")!r} run has config.conditional='
      f'{bool(config.get("conditional", False))}.'
    )
  if dataset is not None and (not dataset.is_image or dataset.num_classes != k):
    raise errors.UserInputError(
      f'{where}: needs a labelled image dataset with config.num_classes={k} classes; '
      f'{dataset.name!r} has examples of shape {dataset.example_shape} and '
      f'{dataset.num_classes} classes.'
    )
  return k


def heldout_split(config, split, where):
  """The held-out split to score on (`split`, or data.default_heldout_split), checked
  not to overlap the run's training split; UserInputError naming `where` otherwise."""
  train_split = config.get('train_split', 'train')
  if not split:
    try:
      split = data.default_heldout_split(config)
    except errors.UserInputError as e:
      raise errors.UserInputError(f'{where}: {e}') from None
  if split == train_split or data.splits_overlap(config.dataset, train_split, split):
    raise errors.UserInputError(
      f'{where}={split!r} overlaps the training split {train_split!r}; the accuracy must '
      'be measured on real images the generator never saw.'
    )
  return split


def all_labels(dataset, chunk=2000):
  """Labels int32 [N] of every example of `dataset` (read in chunks)."""
  n = dataset.num_examples
  return np.concatenate(
    [
      np.asarray(dataset.get(np.arange(i, min(n, i + chunk)))[1], np.int32)
      for i in range(0, n, chunk)
    ]
  )


class CASEvaluator:
  """Classification Accuracy Score of the run's samples (module docstring)."""

  def __init__(self, config, dataset, fragment=None, name='cas', exp=None):
    """Checks the fragment and the run, and reads the held-out images.

    Args:
      config: the run's config.
      dataset: the run's training split (a gans.data.Dataset): the real baseline's pool.
      fragment: fields over gans.configs.cas_eval().
      name: the evaluator's name in config.evals.
      exp: unused (the sampler is taken from the Experiment at each call).

    Raises:
      UserInputError: an unknown field or bad value, an unconditional run or an
        unlabelled dataset, a held-out split that overlaps the training split (or none
        by default: a run on all of a built-in dataset).
    """
    del exp
    self.name = name
    self.config = config
    self.opts = options(fragment, name)
    self.every = int(self.opts.every)
    self.num_classes = check_conditional(config, dataset, f'config.evals.{name}')
    self.heldout_split = heldout_split(
      config, self.opts.heldout_split, f'config.evals.{name}.heldout_split'
    )
    held = data.load(config, split=self.heldout_split)
    m = min(int(self.opts.num_heldout) or held.num_examples, held.num_examples)
    x, y = held.get(np.arange(m))
    self.heldout = (np.asarray(x, np.float32), np.asarray(y, np.int32))
    self.train = dataset
    self.seeds = tuple(self.opts.seeds)
    self.steps = int(self.opts.steps)
    self._real = {}  # (num_real, steps, seeds) -> per-seed scores: computed once.
    self._train_labels = None

  def counts(self, num_samples=None):
    """(generated images, real images of the baseline) per classifier."""
    pool = self.train.num_examples
    gen = int(num_samples or self.opts.num_samples or pool)
    return gen, min(int(self.opts.num_real) or gen, pool)

  def real_scores(self, num_real):
    """Per-seed scores of the recipe on `num_real` real training images (cached)."""
    key = (num_real, self.steps, self.seeds)
    if key not in self._real:
      pool = self.train.num_examples
      if self._train_labels is None and num_real < pool:
        self._train_labels = all_labels(self.train)
      scores = []
      for seed in self.seeds:
        idx = (
          np.arange(pool)
          if num_real >= pool
          else stratified_indices(self._train_labels, num_real, seed)
        )
        x, y = self.train.get(idx)
        scores.append(
          train_and_score(self.config, x, y, self.num_classes, self.heldout, self.steps, seed)
        )
      self._real[key] = scores
    return self._real[key]

  def _batch_size(self, exp):
    size = int(self.opts.batch_size or exp.config.batch_size)
    mesh = getattr(exp, 'mesh', None)
    unit = mesh.devices.size if mesh is not None else 1
    return -(-size // unit) * unit

  def __call__(self, exp, state, num_samples=None):
    """{'cas', 'real_accuracy', 'cas_ratio', 'cas_worst_class'[, 'cas_stderr',
    'real_accuracy_stderr']} (fractions) plus 'protocol'.

    `num_samples` (--mode eval --num_samples) overrides the fragment's count of
    generated images. Raises ValueError when a sample has NaN/inf pixels.
    """
    start = time.time()
    num_gen, num_real = self.counts(num_samples)
    use_ema = bool(self.opts.use_ema)
    fake = []
    for seed in self.seeds:
      x, y = generated(exp, state, num_gen, seed, self._batch_size(exp), use_ema)
      fake.append(
        train_and_score(self.config, x, y, self.num_classes, self.heldout, self.steps, seed)
      )
    real = self.real_scores(num_real)
    cas, cas_se = mean_and_stderr([s['accuracy'] for s in fake])
    real_acc, real_se = mean_and_stderr([s['accuracy'] for s in real])
    per_class = np.nanmean([s['per_class'] for s in fake], axis=0)
    values = dict(
      cas=cas,
      real_accuracy=real_acc,
      cas_ratio=cas / real_acc if real_acc > 0 else float('nan'),
      cas_worst_class=float(np.nanmin(per_class)),
    )
    if len(self.seeds) > 1:
      values.update(cas_stderr=cas_se, real_accuracy_stderr=real_se)
    protocol = dict(
      paper=PAPER,
      dataset=self.train.name,
      train_split=self.train.split,
      heldout_split=self.heldout_split,
      num_heldout=int(len(self.heldout[1])),
      num_generated=num_gen,
      num_real=num_real,
      generated_labels='sample i has class i mod K (balanced); quantized to uint8',
      real_subset='whole training split'
      if num_real >= self.train.num_examples
      else 'class-stratified draw with each seed',
      seeds=list(self.seeds),
      classifier=dict(
        recipe='gans.metrics.classifier (no internal hold-out)',
        steps=self.steps,
        steps_taken_cas=[s['steps'] for s in fake],
        steps_taken_real=[s['steps'] for s in real],
        batch_size=CLASSIFIER_BATCH,
      ),
      cas_per_seed=[s['accuracy'] for s in fake],
      real_accuracy_per_seed=[s['accuracy'] for s in real],
      cas_per_class=[float(v) for v in per_class],
      real_accuracy_per_class=[float(v) for v in np.nanmean([s['per_class'] for s in real], 0)],
      units='fractions of the held-out real images classified right',
      step=int(state.step),
      seconds=round(time.time() - start, 2),
    )
    protocol.update(getattr(exp, 'protocol', {}) or {})
    protocol['ema'] = bool(use_ema and getattr(state, 'ema', None))
    return dict(values, protocol=protocol)
