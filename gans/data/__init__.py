"""Datasets: built-in offline ones and any TFDS image dataset, behind one interface.

`load(config, split)` returns a `Dataset` whose `get(indices)` gives model-ready
arrays: images as float32 NHWC in [-1, 1] (resized to `config.image_size`), 2D toy
points as float32 [n, 2], and int32 labels (zeros where a dataset has none).

Splits: TFDS datasets take any TFDS split string (passed to `tfds.data_source`).
Built-in datasets have the one split 'train' and its TFDS-style slices, e.g.
'train[:4000]', 'train[4000:4500]', 'train[4500:]', 'train[:80%]' (`split_bounds`;
the order sliced is `builtin.split_order`: mnist5k is permuted with a fixed seed
first, because it is stored sorted by class).
"""

import dataclasses
import difflib
import re
from typing import Any, Callable

import numpy as np

from gans import configs
from gans import errors
from gans.data import builtin
from gans.data import images as image_lib
from gans.data import unpaired
from gans.data.pipeline import Batches, batch_indices  # noqa: F401

BUILTIN = ('ring8', 'grid25', 'digits', 'mnist5k')
# TFDS image datasets known to work; any other TFDS name is tried as well.
TFDS_EXAMPLES = ('mnist', 'fashion_mnist', 'cifar10', 'cifar100', 'celeb_a', 'svhn_cropped')


@dataclasses.dataclass
class Dataset:
  name: str
  num_examples: int
  example_shape: tuple  # (H, W, C) for images, (2,) for toy points.
  num_classes: int  # 0 when the dataset has no labels.
  get: Callable[[np.ndarray], tuple]  # indices -> (x float32, y int32)
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)
  split: str = 'train'  # The split string given to `load`.

  @property
  def is_image(self):
    return len(self.example_shape) == 3


def _in_memory(name, x, y, num_classes, split='train', **extra):
  def get(indices):
    return x[indices], y[indices]

  return Dataset(name, len(x), tuple(x.shape[1:]), num_classes, get, extra, split)


SPLIT_FORMS = (
  "'train' (all examples), or a slice of it: 'train[a:b]' with example "
  "indices (e.g. 'train[:4000]', 'train[4000:4500]', 'train[4500:]'; "
  'negative counts from the end) or with percentages (e.g. '
  "'train[:80%]', 'train[80%:]', 'train[10%:20.5%]'), both bounds in "
  'the same unit'
)
_SPLIT_RE = re.compile(r'(?P<name>[\w-]+)(?:\[(?P<selector>[^\]]*)\])?')
_BOUND_RE = re.compile(r'(?P<value>-?\d+(?:\.\d+)?)(?P<pct>%?)')


def builtin_size(name):
  """Number of examples of the built-in dataset `name` (its 'train' split)."""
  if name in builtin.TOY_MIXTURES:
    return builtin.toy_mixture(name)[0].shape[0]
  if name == 'digits':
    return len(builtin.digits()[1])
  if name == 'mnist5k':
    return len(builtin.mnist5k()[1])
  raise errors.UserInputError(
    f'{name!r} is not a built-in dataset; built-in: {", ".join(BUILTIN)}.'
  )


def split_bounds(split, num_examples, dataset='the dataset'):
  """(start, stop) of a built-in dataset's split: examples [start, stop) of its order.

  The TFDS slicing syntax for the one split 'train' (tensorflow.org/datasets/splits):
  'train' is (0, num_examples); 'train[a:b]', 'train[a:]', 'train[:b]' with integer
  bounds (negative: counted from the end) or with percentage bounds ('train[:80%]',
  '-20%' and decimals such as '33.3%' allowed), rounded as TFDS's default
  rounding='closest' does: `int(round(p * num_examples / 100))` (Python's round,
  halves to even). As in TFDS, a bound beyond +-num_examples raises. Unlike TFDS
  (which then reads both bounds as percentages), mixed units ('train[10:50%]')
  raise, except a unit-less 0 ('train[0:5%]'); single indices ('train[5]'), shards,
  '+' concatenations and empty selections raise too.

  Args:
    split: str, the split string.
    num_examples: int > 0, the size of 'train'.
    dataset: str, the dataset's name, for error messages.

  Returns:
    (start, stop) ints with 0 <= start < stop <= num_examples.

  Raises:
    ValueError: a split name other than 'train' (naming `dataset`), a malformed
      slice (naming the split and the accepted forms), a bound out of range, or a
      slice that selects no example.
  """
  bounds = _parse_split(split, dataset)
  if bounds is None:
    return 0, num_examples

  def absolute(bound, default):
    if bound is None:
      return default
    if bound['pct']:
      value = int(round(float(bound['value']) * num_examples / 100.0))
    else:
      value = int(bound['value'])
    if abs(value) > num_examples:
      raise errors.UserInputError(
        f'Split {split!r} of dataset {dataset!r}: bound '
        f'{bound.group(0)!r} is beyond its {num_examples} examples.'
      )
    return value + num_examples if value < 0 else value

  start, stop = absolute(bounds[0], 0), absolute(bounds[1], num_examples)
  if start >= stop:
    raise errors.UserInputError(
      f'Split {split!r} of dataset {dataset!r} selects no example '
      f'(examples [{start}, {stop}) of {num_examples}).'
    )
  return start, stop


def splits_overlap(dataset, split_a, split_b):
  """Whether two splits of a built-in dataset share examples (False for TFDS names).

  Built-in slices index one fixed order (gans.data.builtin.split_order), so two splits
  overlap exactly when their [start, stop) ranges do; 'train' is the whole range.
  Raises UserInputError for a malformed split (see `split_bounds`).
  """
  if dataset not in BUILTIN:
    return False
  n = builtin_size(dataset)
  (a0, a1), (b0, b1) = split_bounds(split_a, n, dataset), split_bounds(split_b, n, dataset)
  return a0 < b1 and b0 < a1


def default_heldout_split(config):
  """Real images a run did not train on: the split of `config.dataset` to compare with.

  A built-in dataset with configs.HOLDOUT_SPLITS (pool, validation, test) trained on
  its pool gives the test split (mnist5k trained on 'train[:4000]': 'train[4500:]');
  a TFDS dataset gives 'test'. Raises UserInputError naming config.train_split when
  the run trains on all of a built-in dataset.
  """
  splits = configs.HOLDOUT_SPLITS.get(config.dataset)
  train = config.get('train_split', 'train')
  if splits is None and config.dataset not in BUILTIN:
    return 'test'
  if splits is not None and train == splits[0]:
    return splits[2]
  raise errors.UserInputError(
    f'config.train_split={train!r} of {config.dataset!r} leaves no default held-out '
    'images: pass --heldout_split (real images the run did not train on), or train '
    f'on {splits[0] if splits else "a slice"!r} with --config.train_split.'
  )


def _parse_split(split, dataset):
  """None for 'train', else the [start, stop] bound matches (None where omitted)."""
  match = _SPLIT_RE.fullmatch(split) if isinstance(split, str) else None
  if match and match['name'] != 'train':
    raise errors.UserInputError(
      f"Built-in dataset {dataset!r} has only the split 'train' (and "
      f'slices of it); got split={split!r}. Accepted: {SPLIT_FORMS}.'
    )
  if not match:
    raise errors.UserInputError(
      f'Malformed split {split!r} for dataset {dataset!r}. Accepted: {SPLIT_FORMS}.'
    )
  if match['selector'] is None:
    return None
  parts = match['selector'].split(':')
  bounds = [_BOUND_RE.fullmatch(p) if p else None for p in parts]
  # A bound of 0 is the same in both units ('train[0:5%]'); other mixtures raise.
  units = {b['pct'] for b in bounds if b and float(b['value']) != 0} or {
    b['pct'] for b in bounds if b
  }
  if (
    len(parts) != 2
    or any(p and not b for p, b in zip(parts, bounds))
    or not units
    or len(units) > 1
    or any(b and not b['pct'] and '.' in b['value'] for b in bounds)
  ):
    raise errors.UserInputError(
      f'Malformed split {split!r} for dataset {dataset!r}. Accepted: {SPLIT_FORMS}.'
    )
  return bounds


def _builtin_split_indices(name, split, num_examples):
  """None for 'train' (everything, stored order), else the sliced indices."""
  start, stop = split_bounds(split, num_examples, name)
  if split == 'train':
    return None
  return builtin.split_order(name, num_examples)[start:stop]


def load(config, split='train'):
  """Returns the `Dataset` named by `config.dataset` (built-in, TFDS, or two-domain).

  A two-domain name ('digits2mnist', 'cycle_gan/<config>'; gans.data.unpaired) gives
  domain A's `Dataset` with domain B's in `extra['domain_b']`.

  Args:
    config: a ConfigDict with `dataset`, `image_size` (images) and, for TFDS,
      `data_dir`.
    split: the split. TFDS: any TFDS split string. Built-in datasets: 'train' (all
      examples in their stored order, as always) or a slice of it, such as
      'train[:4000]', 'train[4000:4500]', 'train[4500:]' or 'train[:80%]'
      (`split_bounds`), taken from `builtin.split_order(name, n)` -- mnist5k's
      examples are permuted with `np.random.default_rng(0)` before slicing since they
      are stored sorted by class, so even 'train[:100%]' is a reordering of 'train'.

  Returns:
    A `Dataset` whose `name` is the dataset's name and `split` the split given.

  Raises:
    ValueError: an unknown dataset, or a malformed or unknown split of a built-in one.
  """
  name = config.dataset
  if unpaired.is_two_domain(name):  # Two domains: A, with B in extra['domain_b'].
    return unpaired.load(config, split)
  if name in BUILTIN:
    _parse_split(split, name)  # Malformed splits raise before the data is read.
  if name in builtin.TOY_MIXTURES:
    points, labels, means, sigma = builtin.toy_mixture(name)
    idx = _builtin_split_indices(name, split, len(points))
    if idx is not None:
      points, labels = points[idx], labels[idx]
    return _in_memory(name, points, labels, len(means), split, means=means, sigma=sigma)
  if name in ('digits', 'mnist5k'):
    raw, labels = builtin.digits() if name == 'digits' else builtin.mnist5k()
    idx = _builtin_split_indices(name, split, len(raw))
    if idx is not None:
      raw, labels = raw[idx], labels[idx]
    x = image_lib.to_model(image_lib.resize(raw, config.image_size))
    return _in_memory(name, x, labels, 10, split)
  return _load_tfds(name, config, split)


def _load_tfds(name, config, split):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  data_dir = config.get('data_dir') or None
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    known = list(BUILTIN) + tfds.list_builders(with_community_datasets=False)
    close = difflib.get_close_matches(name, known, n=1)
    raise errors.UserInputError(
      f'config.dataset={name!r} is not a dataset'
      + (f' (did you mean {close[0]!r}?)' if close else '')
      + f'. Built-in datasets: {", ".join(BUILTIN)}; or any TFDS image dataset, e.g. '
      f'{", ".join(TFDS_EXAMPLES)}.'
    ) from None
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
  except Exception as e:  # Not generated, or generated as tfrecord only.
    build = f'tfds build {name} --file_format=array_record' + (
      f' --data_dir={data_dir}' if data_dir else ''
    )
    raise errors.MissingInputError(
      f'TFDS dataset {name!r} (config.dataset) is not prepared for reading in '
      f'{builder.data_dir}: prepare it once with `{build}` (needs internet and TensorFlow: '
      f'pip install -e ".[tfds]"), or set config.data_dir to a directory where it is '
      f'prepared. TFDS said: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
    ) from e
  features = builder.info.features
  image_key = 'image' if 'image' in features else None
  if image_key is None:
    raise errors.UserInputError(
      f'TFDS dataset {name!r} has no "image" feature (features: {list(features)}).'
    )
  num_classes = features['label'].num_classes if 'label' in features else 0
  size = config.image_size
  channels = features[image_key].shape[-1]
  # binarized_mnist stores pixels as 0/1: scale them to the 0/255 of every other dataset.
  binary = name.split(':')[0] in BINARY_TFDS

  def get(indices):
    # Index one at a time: `__getitems__` is not available on every source.
    records = [source[int(i)] for i in indices]
    raw = np.stack(
      [
        image_lib.resize(tfds_pixels(r[image_key], name, i, binary)[None], size)[0]
        for i, r in zip(indices, records)
      ]
    )
    labels = np.array([r['label'] if num_classes else 0 for r in records], np.int32)
    return image_lib.to_model(raw), labels

  head = [np.asarray(source[i][image_key]) for i in range(min(16, len(source)))]
  check_binary_head(head, name, binary)
  return Dataset(name, len(source), (size, size, channels), num_classes, get, split=split)


# TFDS image datasets that store black/white pixels as 0/1 (scaled to 0/255 here).
BINARY_TFDS = ('binarized_mnist',)


def tfds_pixels(image, dataset, index, binary=False):
  """A TFDS example's image as uint8 [H, W, C] 0..255.

  uint8 passes (x 255 for the datasets of ``BINARY_TFDS``); bool becomes 0/255. Other
  dtypes raise ValueError naming the dataset and example: casting uint16 or float
  pixels to uint8 would wrap or truncate them silently.
  """
  x = np.asarray(image)
  if x.dtype == np.uint8:
    return x * np.uint8(255) if binary else x
  if x.dtype == np.bool_:
    return x.astype(np.uint8) * np.uint8(255)
  raise ValueError(
    f'TFDS dataset {dataset!r}: example {int(index)} has {x.dtype} pixels (values '
    f'{x.min()}..{x.max()}); this loader reads uint8 (0..255) or bool images.'
  )


def check_binary_head(images, dataset, binary=False):
  """Raises ValueError if the first uint8 images of a dataset only span 0..1.

  That is how black/white images stored as 0/1 look; read as 0..255 they are black.
  Datasets listed in ``BINARY_TFDS`` are scaled instead and pass.
  """
  images = [np.asarray(x) for x in images]
  if binary or not images or any(x.dtype != np.uint8 for x in images):
    return
  if max(int(x.max()) for x in images) == 1:
    raise ValueError(
      f'TFDS dataset {dataset!r}: the values of its first {len(images)} images span 0..1: '
      'black/white pixels stored as 0/1? They would read as black; add the dataset to '
      'gans.data.BINARY_TFDS to scale them to 0/255.'
    )
