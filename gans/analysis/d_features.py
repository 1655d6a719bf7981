r"""The discriminator's features as a representation: a linear SVM on them (DCGAN Table 1, 2).

  python -m gans.analysis.d_features --config experiments/dcgan.py --workdir runs/dcgan \
      [--eval_dataset mnist5k|digits --labels 100,1000 --repeats 3 --centroids 400]

Radford et al. 2015, Sec. 5.1: "we use the discriminator's convolutional features from
all layers, maxpooling each layers representation to produce a 4 x 4 spatial grid.
These features are then flattened and concatenated ... and then a regularized linear
L2-SVM classifier is trained on top of them." Here a layer's representation is what the
next layer takes from it: the input of the next convolution, and for the last one the
input of the dense head (reshaped to the last convolution's grid); in the DCGAN D these
are the convolutions' outputs after batch norm and LeakyReLU. Each is max-pooled to a
4 x 4 grid (adaptive bins; smaller grids are kept) and all are concatenated (width 64
at 32 x 32: 16 (64 + 128 + 256) = 7,168 features).

Protocol. The labelled images come from `eval_dataset` (default the run's) in the three
splits of configs.HOLDOUT_SPLITS (mnist5k: a pool train[:4000], validation
train[4000:4500], test train[4500:]; digits 80/10/10%; another dataset needs --splits
POOL,VAL,TEST). For each number of labels n, `repeats` class-stratified subsets of n
pool images train scikit-learn's LinearSVC (squared hinge loss, i.e. the L2-SVM, L2
penalty; features standardised on the subset); C is chosen from C_GRID by validation
accuracy; the test accuracy of that C is reported (mean and standard deviation over the
repeats). Every method sees the same subsets and splits:
  discriminator         the run's D at the latest checkpoint;
  random_discriminator  the same architecture at initialisation (the run's step 0);
  pixels                the raw pixels in [-1, 1];
  kmeans                the 1-layer K-means feature learner of Coates & Ng 2011 (their
                        Fig. 1 pipeline): 6 x 6 patches normalised by brightness and
                        contrast, ZCA-whitened, `centroids` centroids (scikit-learn's
                        KMeans) learnt on patches of the run's training images (the data
                        D was trained on), triangle activation max(0, mean(z) - z_k) at
                        stride 1, sum-pooled over the four quadrants (4 K features).
Writes WORKDIR/analysis/d_features.json (accuracies, chosen C, feature sizes, protocol)
and d_features.png (test accuracy per method and number of labels, with the spread).
Paper numbers (CIFAR-10, D trained on ImageNet-1k, all 50k labels, 28,672 features):
DCGAN 82.8% +- 0.1%, 1-layer K-means 80.6%; SVHN with 1000 labels: 22.48% test error.
"""

import io
import warnings

from absl import app
from absl import flags
from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from sklearn import cluster
from sklearn import exceptions as sklearn_exceptions
from sklearn import model_selection
from sklearn import preprocessing
from sklearn import svm

from gans import configs
from gans import data
from gans import errors
from gans import files
from gans.analysis import common
from gans.nets import layers
from gans.train import loop

# LinearSVC's C. On mnist5k's D features larger C gave the validation accuracy of 1e-2
# (1000 labels: 0.944 for every C from 1e-2 to 10; the features are separable), at 2 to
# 3 times the time per decade (38 s a fit at C = 1); --cs tries others.
C_GRID = (1e-4, 1e-3, 1e-2)
METHODS = ('discriminator', 'random_discriminator', 'pixels', 'kmeans')
_CONV = (nn.Conv, layers.SNConv)
_DENSE = (nn.Dense, layers.SNDense)


def max_pool_grid(x, grid=4):
  """Max-pools feature maps [B, H, W, C] to [B, min(grid, H), min(grid, W), C].

  Bin i of an axis of length L covers [floor(i L / g), ceil((i + 1) L / g)) (adaptive
  max pooling; equal bins when g divides L).
  """
  _, h, w, _ = x.shape
  gh, gw = min(grid, h), min(grid, w)
  bounds = lambda n, g: [(i * n // g, -(-(i + 1) * n // g)) for i in range(g)]
  rows = []
  for r0, r1 in bounds(h, gh):
    rows.append(jnp.stack([x[:, r0:r1, c0:c1].max((1, 2)) for c0, c1 in bounds(w, gw)], 1))
  return jnp.stack(rows, 1)


def layer_representations(module, variables, x):
  """The representation of each convolutional layer of a discriminator `module`.

  x: float32 [B, H, W, C] in [-1, 1]. Runs D (eval mode, no labels) recording the
  inputs and outputs of its convolutions and dense layers; layer i's representation is
  the input of the next convolution, the last one's the input of the first layer after
  it (a flat input is reshaped to the last convolution's output grid; a [B, C] one
  becomes [B, 1, 1, C]), or its own output when D ends with it. Returns a list of
  float32 [B, h, w, c], first layer first. Raises UserInputError for a D without
  convolutions.
  """
  records = []

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.method_name == '__call__' and isinstance(context.module, _CONV + _DENSE):
      records.append((isinstance(context.module, _CONV), args[0], out))
    return out

  with nn.intercept_methods(interceptor):
    module.apply(variables, x, None, train=False)
  convs = [i for i, r in enumerate(records) if r[0]]
  if not convs:
    raise errors.UserInputError(f'{type(module).__name__} has no convolutional layers.')
  reps = [records[i][1] for i in convs[1:]]
  last_out = records[convs[-1]][2]
  if convs[-1] + 1 < len(records):
    head_in = records[convs[-1] + 1][1]
    if head_in.ndim == 4:
      reps.append(head_in)
    elif head_in.shape[-1] == np.prod(last_out.shape[1:]):
      reps.append(head_in.reshape(last_out.shape))
    else:
      reps.append(head_in.reshape(head_in.shape[0], 1, 1, -1))
  else:
    reps.append(last_out)
  return reps


def discriminator_features(module, variables, images, grid=4, batch_size=250):
  """DCGAN's D features: every layer's representation max-pooled to grid x grid, flattened
  and concatenated -> float32 NumPy [N, F] for images float [N, H, W, C] in [-1, 1]."""
  fn = jax.jit(
    lambda v, x: jnp.concatenate(
      [max_pool_grid(r, grid).reshape(x.shape[0], -1) for r in layer_representations(module, v, x)],
      1,
    )
  )
  images = np.asarray(images, np.float32)
  out = []
  for i in range(0, len(images), batch_size):
    x = images[i : i + batch_size]
    pad = np.zeros((batch_size - len(x),) + x.shape[1:], np.float32)
    out.append(np.asarray(fn(variables, np.concatenate([x, pad])))[: len(x)])
  return np.concatenate(out)


def _patches(images, size):
  """All size x size patches at stride 1 of uint8-scaled images [B, H, W, C] ->
  [B, H - size + 1, W - size + 1, size * size * C] float32."""
  win = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
  b, ph, pw, c = win.shape[:4]
  return win.transpose(0, 1, 2, 4, 5, 3).reshape(b, ph, pw, size * size * c)


def _normalise(p):
  """Per-patch brightness and contrast normalisation (Coates & Ng, 0..255 pixel units)."""
  p = p - p.mean(-1, keepdims=True)
  return p / np.sqrt(p.var(-1, keepdims=True) + 10.0)


class KMeansFeatures:
  """The 1-layer K-means feature learner of Coates, Lee & Ng 2011 (module docstring).

  fit(images) learns the whitening and `centroids` centroids from `num_patches` random
  patches; transform(images) -> float32 [N, 4 K]. Images are float [N, H, W, C] in
  [-1, 1] (scaled to 0..255 first, the units of the paper's constants).
  """

  def __init__(self, centroids=400, patch=6, num_patches=50_000, seed=0):
    self.k, self.patch, self.num_patches, self.seed = centroids, patch, num_patches, seed

  def fit(self, images):
    """Learns the ZCA whitening and the centroids from float images [N, H, W, C] in
    [-1, 1] (`num_patches` random patches); returns self."""
    rng = np.random.default_rng(self.seed)
    x = (np.asarray(images, np.float32) + 1.0) * 127.5
    n, h, w, _ = x.shape
    s = self.patch
    idx = rng.integers(0, n, self.num_patches)
    r = rng.integers(0, h - s + 1, self.num_patches)
    c = rng.integers(0, w - s + 1, self.num_patches)
    p = np.stack([x[i, a : a + s, b : b + s].reshape(-1) for i, a, b in zip(idx, r, c)])
    p = _normalise(p).astype(np.float64)
    self.mean = p.mean(0)
    eigval, eigvec = np.linalg.eigh(np.cov(p - self.mean, rowvar=False))
    self.whiten = (eigvec / np.sqrt(eigval + 0.1)) @ eigvec.T  # ZCA, epsilon 0.1.
    km = cluster.KMeans(self.k, n_init=1, max_iter=100, random_state=self.seed)
    km.fit((p - self.mean) @ self.whiten)
    self.centroids = km.cluster_centers_.astype(np.float32)
    return self

  def transform(self, images, batch_size=64):
    """Features float32 [N, 4 K] of float images [N, H, W, C] in [-1, 1]: the triangle
    activations of every stride-1 patch, summed over each image quadrant."""
    x = (np.asarray(images, np.float32) + 1.0) * 127.5
    c2 = np.sum(self.centroids**2, 1)
    whiten, mean = self.whiten.astype(np.float32), self.mean.astype(np.float32)
    out = []
    for i in range(0, len(x), batch_size):
      p = _patches(x[i : i + batch_size], self.patch)
      b, ph, pw, d = p.shape
      p = (_normalise(p.reshape(-1, d)) - mean) @ whiten
      z = np.sqrt(np.maximum(np.sum(p**2, 1, keepdims=True) - 2 * p @ self.centroids.T + c2, 0))
      f = np.maximum(0.0, z.mean(1, keepdims=True) - z).reshape(b, ph, pw, self.k)
      hh, hw = ph // 2, pw // 2
      quads = [f[:, :hh, :hw], f[:, :hh, hw:], f[:, hh:, :hw], f[:, hh:, hw:]]
      out.append(np.concatenate([q.sum((1, 2)) for q in quads], 1))
    return np.concatenate(out).astype(np.float32)


def svm_probe(train, val, test, cs=C_GRID):
  """Linear L2-SVM (LinearSVC, squared hinge, L2 penalty) with C chosen on validation.

  Args:
    train, val, test: (features float [n, F], labels int [n]) each.
    cs: the C values tried.
  Returns:
    dict(test_accuracy, val_accuracy, C, converged): the test accuracy (fraction) of the
    C with the best validation accuracy (the smallest C on ties); features standardised
    with the training subset's mean and deviation.
  """
  scaler = preprocessing.StandardScaler().fit(train[0])
  xs = [scaler.transform(s[0]) for s in (train, val, test)]
  best = None
  converged = True
  for c in cs:
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter('always', sklearn_exceptions.ConvergenceWarning)
      model = svm.LinearSVC(C=c, loss='squared_hinge', dual='auto', max_iter=5000).fit(
        xs[0], train[1]
      )
    acc = float(np.mean(model.predict(xs[1]) == val[1]))
    if best is None or acc > best[0]:
      best = (acc, c, model)
      converged = not any(
        issubclass(w.category, sklearn_exceptions.ConvergenceWarning) for w in caught
      )
  acc, c, model = best
  return dict(
    test_accuracy=float(np.mean(model.predict(xs[2]) == test[1])),
    val_accuracy=acc,
    C=c,
    converged=converged,
  )


def labelled_subsets(labels, n, repeats, seed=0):
  """`repeats` class-stratified subsets of n indices of `labels` [N] (all N when n >= N).

  Subset r is drawn with random_state seed + r (scikit-learn's train_test_split).
  """
  labels = np.asarray(labels)
  if n >= len(labels):
    return [np.arange(len(labels))] * repeats
  out = []
  for r in range(repeats):
    idx, _ = model_selection.train_test_split(
      np.arange(len(labels)), train_size=n, stratify=labels, random_state=seed + r
    )
    out.append(np.sort(idx))
  return out


def probe(features, labels, label_counts, repeats=1, seed=0, cs=C_GRID):
  """SVM accuracies of several feature sets on the same labelled subsets.

  Args:
    features: {method: (pool [P, F], val [V, F], test [T, F])}.
    labels: (pool [P], val [V], test [T]) int labels.
    label_counts: numbers n of labelled pool images.
  Returns:
    {n: {method: dict(mean, std, accuracies, C)}}: test accuracy (fraction) over the
    `repeats` subsets (`labelled_subsets`).
  """
  results = {}
  for n in label_counts:
    logging.info('SVM probes with %d labels', n)
    subsets = labelled_subsets(labels[0], n, repeats, seed)
    results[n] = {}
    for method, (pool, val, test) in features.items():
      runs = [
        svm_probe((pool[s], labels[0][s]), (val, labels[1]), (test, labels[2]), cs) for s in subsets
      ]
      acc = [r['test_accuracy'] for r in runs]
      results[n][method] = dict(
        mean=float(np.mean(acc)),
        std=float(np.std(acc)),
        accuracies=acc,
        C=[r['C'] for r in runs],
        converged=all(r['converged'] for r in runs),
      )
  return results


def eval_splits(config, eval_dataset=None, splits=None):
  """(dataset name, (pool, val, test) split strings) of the labelled evaluation data.

  Raises UserInputError for a dataset without configs.HOLDOUT_SPLITS and no `splits`.
  """
  name = eval_dataset or config.dataset
  if splits:
    parts = tuple(s.strip() for s in splits.split(',')) if isinstance(splits, str) else splits
    if len(parts) != 3:
      raise errors.UserInputError(f'--splits={splits!r}: give POOL,VAL,TEST.')
    return name, parts
  if name not in configs.HOLDOUT_SPLITS:
    raise errors.UserInputError(
      f'Dataset {name!r} has no default pool/validation/test splits: pass --splits '
      "POOL,VAL,TEST (for cifar10: 'train[:45000],train[45000:],test')."
    )
  return name, configs.HOLDOUT_SPLITS[name]


def _bar_chart(results, path):
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  counts = list(results)
  methods = list(results[counts[0]])
  fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(counts), 3.2), dpi=100)
  width = 0.8 / len(methods)
  for j, m in enumerate(methods):
    xs = np.arange(len(counts)) + (j - (len(methods) - 1) / 2) * width
    means = [100 * results[n][m]['mean'] for n in counts]
    stds = [100 * results[n][m]['std'] for n in counts]
    ax.bar(xs, means, width, yerr=stds, label=m.replace('_', ' '), capsize=2)
  ax.set_xticks(np.arange(len(counts)), [f'{n} labels' for n in counts])
  ax.set_ylabel('test accuracy (%)')
  ax.set_ylim(0, 100)
  ax.legend(fontsize=7, loc='lower right')
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png')
  plt.close(fig)
  files.atomic_write_bytes(path, buffer.getvalue())


def write_figure(
  config,
  workdir,
  eval_dataset=None,
  splits=None,
  label_counts=(100, 1000),
  repeats=3,
  centroids=400,
  seed=0,
  methods=METHODS,
  cs=C_GRID,
):
  """Restores the latest checkpoint of `workdir`, probes D's features and the baselines
  (module docstring) and writes analysis/d_features.json and .png; returns the numbers.

  Raises MissingInputError without a checkpoint; UserInputError for a run without a
  single unconditional image discriminator, an evaluation dataset of another image
  shape, or unknown splits or methods.
  """
  for m in methods:
    if m not in METHODS:
      raise errors.UserInputError(f'Unknown method {m!r}; known: {", ".join(METHODS)}.')
  name, split_names = eval_splits(config, eval_dataset, splits)
  if configs.class_count(config):
    raise errors.UserInputError(
      "A class-conditional run's D takes the label as input; the probe needs an unconditional D."
    )
  if int(config.get('pack', 1)) > 1:
    raise errors.UserInputError('A packed D (config.pack > 1) sees several images at once.')
  exp, state = loop.restore_latest(config, workdir)
  d = exp.modules.get('discriminator')
  if d is None or 'discriminator' not in state.models:
    raise errors.UserInputError(f'Family {config.get("family", "gan")!r} has no discriminator.')
  eval_config = config.copy_and_resolve_references()
  eval_config.dataset = name
  sets = [data.load(eval_config, split=s) for s in split_names]
  if tuple(sets[0].example_shape) != tuple(exp.dataset.example_shape):
    raise errors.UserInputError(
      f'{name} images are {tuple(sets[0].example_shape)}; the D takes '
      f'{tuple(exp.dataset.example_shape)}.'
    )
  xs, ys = zip(*[s.get(np.arange(s.num_examples)) for s in sets])
  feats = {}
  if 'discriminator' in methods:
    v = state.models['discriminator'].variables()
    feats['discriminator'] = [discriminator_features(d, v, x) for x in xs]
  if 'random_discriminator' in methods:
    v0 = exp.init().models['discriminator'].variables()
    feats['random_discriminator'] = [discriminator_features(d, v0, x) for x in xs]
  if 'pixels' in methods:
    feats['pixels'] = [x.reshape(len(x), -1) for x in xs]
  if 'kmeans' in methods:
    train = exp.dataset.get(np.arange(exp.dataset.num_examples))[0]
    km = KMeansFeatures(centroids, seed=seed).fit(train)
    feats['kmeans'] = [km.transform(x) for x in xs]
  logging.info('Features: %s', {m: f[0].shape[1] for m, f in feats.items()})
  results = probe(feats, ys, label_counts, repeats, seed, tuple(cs))
  numbers = dict(
    step=int(state.step),
    eval_dataset=name,
    splits=dict(zip(('pool', 'validation', 'test'), split_names)),
    sizes=dict(zip(('pool', 'validation', 'test'), (len(x) for x in xs))),
    feature_sizes={m: int(f[0].shape[1]) for m, f in feats.items()},
    results={str(n): r for n, r in results.items()},
    protocol=dict(
      svm='sklearn LinearSVC, squared hinge (L2-SVM), L2 penalty, standardised features',
      C_grid=list(cs),
      repeats=repeats,
      subsets='class-stratified, random_state seed + repeat',
      pooling='each conv layer max-pooled to 4x4, concatenated',
      kmeans=dict(centroids=centroids, patch=6, stride=1, pooling='4 quadrants, sum'),
      train_split=exp.dataset.split,
    ),
  )
  out = common.output_dir(workdir)
  _bar_chart(results, f'{out}/d_features.png')
  common.write_json(f'{out}/d_features.json', numbers)
  for n, r in results.items():
    logging.info(
      '%d labels: %s',
      n,
      ', '.join(f'{m} {100 * v["mean"]:.1f}% +- {100 * v["std"]:.1f}' for m, v in r.items()),
    )
  return numbers


def define_flags():
  """The command's flags and main (defined only when run as a command)."""
  config, workdir = common.define_common_flags()
  eval_dataset = flags.DEFINE_string('eval_dataset', None, "Labelled data (default the run's).")
  splits = flags.DEFINE_string('splits', None, 'POOL,VAL,TEST splits of the labelled data.')
  labels = flags.DEFINE_list('labels', ['100', '1000'], 'Numbers of labelled pool images.')
  repeats = flags.DEFINE_integer('repeats', 3, 'Labelled subsets drawn per number of labels.')
  centroids = flags.DEFINE_integer('centroids', 400, 'K of the K-means baseline.')
  seed = flags.DEFINE_integer('seed', 0, 'Seed of the subsets and of K-means.')
  methods = flags.DEFINE_list('methods', list(METHODS), 'Feature sets probed.')
  cs = flags.DEFINE_list('cs', [str(c) for c in C_GRID], "LinearSVC's C values tried.")

  def main(argv):
    del argv

    def body():
      try:
        counts = tuple(int(n) for n in labels.value)
      except ValueError as e:
        raise errors.UserInputError(f'--labels={",".join(labels.value)}: give integers.') from e
      try:
        c_values = tuple(float(c) for c in cs.value)
      except ValueError as e:
        raise errors.UserInputError(f'--cs={",".join(cs.value)}: give numbers.') from e
      write_figure(
        config=config.value,
        workdir=workdir.value,
        eval_dataset=eval_dataset.value,
        splits=splits.value,
        label_counts=counts,
        repeats=repeats.value,
        centroids=centroids.value,
        seed=seed.value,
        methods=tuple(methods.value),
        cs=c_values,
      )

    common.run_command(body)

  return main


if __name__ == '__main__':
  app.run(define_flags())
