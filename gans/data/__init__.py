"""Datasets: built-in offline ones and any TFDS image dataset, behind one interface.

`load(config)` returns a `Dataset` whose `get(indices)` gives model-ready arrays:
images as float32 NHWC in [-1, 1] (resized to `config.image_size`), 2D toy points as
float32 [n, 2], and int32 labels (zeros where a dataset has none).
"""

import dataclasses
from typing import Any, Callable

import numpy as np

from gans.data import builtin
from gans.data import images as image_lib
from gans.data.pipeline import Batches, batch_indices  # noqa: F401

BUILTIN = ('ring8', 'grid25', 'digits', 'mnist5k')
# TFDS image datasets known to work; any other TFDS name is tried as well.
TFDS_EXAMPLES = ('mnist', 'fashion_mnist', 'cifar10', 'cifar100', 'celeb_a', 'svhn_cropped')


@dataclasses.dataclass
class Dataset:
  name: str
  num_examples: int
  example_shape: tuple   # (H, W, C) for images, (2,) for toy points.
  num_classes: int       # 0 when the dataset has no labels.
  get: Callable[[np.ndarray], tuple]  # indices -> (x float32, y int32)
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def is_image(self):
    return len(self.example_shape) == 3


def _in_memory(name, x, y, num_classes, **extra):
  def get(indices):
    return x[indices], y[indices]
  return Dataset(name, len(x), tuple(x.shape[1:]), num_classes, get, extra)


def load(config, split='train'):
  """Returns the `Dataset` named by `config.dataset` (built-in or TFDS)."""
  name = config.dataset
  if name in builtin.TOY_MIXTURES:
    points, labels, means, sigma = builtin.toy_mixture(name)
    return _in_memory(name, points, labels, len(means), means=means, sigma=sigma)
  if name in ('digits', 'mnist5k'):
    raw, labels = builtin.digits() if name == 'digits' else builtin.mnist5k()
    x = image_lib.to_model(image_lib.resize(raw, config.image_size))
    return _in_memory(name, x, labels, 10)
  return _load_tfds(name, config, split)


def _load_tfds(name, config, split):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  data_dir = config.get('data_dir') or None
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise ValueError(
        f'Unknown dataset {name!r}. Built-in datasets: {", ".join(BUILTIN)}; or any '
        f'TFDS image dataset, e.g. {", ".join(TFDS_EXAMPLES)}.') from None
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
  except Exception as e:  # Not generated, or generated as tfrecord only.
    raise FileNotFoundError(
        f'TFDS dataset {name!r} is not prepared for reading in {builder.data_dir} '
        f'({type(e).__name__}: {e}). Prepare it once (needs internet and TensorFlow: '
        f'pip install -e ".[tfds]") in the array_record format:\n'
        f'  tfds build {name} --file_format=array_record'
        + (f' --data_dir={data_dir}' if data_dir else '') +
        '\nor set config.data_dir to a directory where it is prepared.') from e
  features = builder.info.features
  image_key = 'image' if 'image' in features else None
  if image_key is None:
    raise ValueError(f'TFDS dataset {name!r} has no "image" feature '
                     f'(features: {list(features)}).')
  num_classes = features['label'].num_classes if 'label' in features else 0
  size = config.image_size
  channels = features[image_key].shape[-1]

  def get(indices):
    # Index one at a time: `__getitems__` is not available on every source.
    records = [source[int(i)] for i in indices]
    raw = np.stack([image_lib.resize(np.asarray(r[image_key])[None], size)[0]
                    for r in records])
    labels = np.array([r['label'] if num_classes else 0 for r in records], np.int32)
    return image_lib.to_model(raw), labels

  return Dataset(name, len(source), (size, size, channels), num_classes, get)
