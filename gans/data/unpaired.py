"""Two-domain (unpaired) datasets for the `cyclegan` family.

A two-domain dataset is a `gans.data.Dataset` of domain A whose `extra['domain_b']` is
the `Dataset` of domain B. `gans.data.Batches` then yields 'x', 'y' (domain A) and
'x_b', 'y_b' (domain B): each domain in its own deterministic order (its own
permutations of its own examples), both at the one data position a checkpoint stores
(one batch of each per step), so resume is exact and every other family is unchanged.
Labels are kept where a domain has them (evaluation only; CycleGAN never sees them).

Names (`config.dataset`):
  'digits2mnist'        the offline default: A = scikit-learn's 8x8 digits bilinearly
                        upscaled to image_size (the `digits` preprocessing), B =
                        `mnist5k` (28x28 MNIST, bilinear to image_size). Two real digit
                        datasets that differ in style (blurry blocky 16-level digits vs
                        sharp thin strokes). Split 'train': digits 'train[:80%]' and
                        mnist5k 'train[:4000]'; 'test': 'train[90%:]' and
                        'train[4500:]' (gans.configs.HOLDOUT_SPLITS).
  'cycle_gan/<config>'  TFDS `cycle_gan` (horse2zebra, monet2photo,
                        summer2winter_yosemite, apple2orange, ...): split 'train' reads
                        trainA / trainB, 'test' testA / testB; the images are resized to
                        image_size (centre-cropped to square first). TFDS's labels (0
                        for A, 1 for B) carry no class and are dropped (num_classes 0).

A split may carry a TFDS slice, applied to both domains ('train[:100]' -> trainA[:100],
trainB[:100]; for 'digits2mnist', relative to each domain's split: only percentages).
"""

import re

import ml_collections
import numpy as np

from gans import configs
from gans import errors

OFFLINE = {'digits2mnist': ('digits', 'mnist5k')}
TFDS_PREFIX = 'cycle_gan/'
_SPLIT_RE = re.compile(r'(?P<name>train|test)(?P<slice>\[[^\]]*\])?')


def is_two_domain(name):
  """Whether `config.dataset` names a two-domain dataset (module docstring)."""
  return isinstance(name, str) and (name in OFFLINE or name.startswith(TFDS_PREFIX))


def domain_splits(name, split):
  """[(dataset name, split) of domain A, of domain B] for two-domain `name`'s `split`.

  Args:
    name: str, a two-domain dataset name.
    split: str, 'train' or 'test', optionally with a slice.

  Returns:
    Two (dataset, split) pairs of str.

  Raises:
    UserInputError: a split other than 'train' / 'test' (with a slice), or a
      non-percentage slice of the offline dataset.
  """
  match = _SPLIT_RE.fullmatch(split) if isinstance(split, str) else None
  if not match:
    raise errors.UserInputError(
      f"Two-domain dataset {name!r} has the splits 'train' and 'test' (optionally sliced, "
      f"e.g. 'train[:50%]'); got split={split!r}."
    )
  part, selector = match['name'], match['slice'] or ''
  if name.startswith(TFDS_PREFIX):
    return [(name, f'{part}{d}{selector}') for d in ('A', 'B')]
  out = []
  for domain in OFFLINE[name]:
    base = configs.HOLDOUT_SPLITS[domain][0 if part == 'train' else 2]
    if selector:
      out.append((domain, _subslice(domain, base, selector, name, split)))
    else:
      out.append((domain, base))
  return out


_PCT_SLICE = re.compile(r'\[(?P<lo>\d*(?:\.\d+)?)%:(?P<hi>\d*(?:\.\d+)?)%\]')


def _subslice(domain, base, selector, name, split):
  """A percentage `selector` of built-in `domain`'s split `base`, as examples of 'train'.

  digits' 'train[:80%]' (examples [0, 1438)) sliced by '[:50%]' -> 'train[0:719]'.
  Raises UserInputError for a selector other than '[a%:b%]' (both bounds given in %,
  0 <= a < b <= 100).
  """
  from gans import data  # pylint: disable=g-import-not-at-top

  inner = _PCT_SLICE.fullmatch(selector.replace('[:', '[0%:').replace(':]', ':100%]'))
  lo = float(inner['lo'] or 0) if inner else 0.0
  hi = float(inner['hi'] or 100) if inner else 0.0
  if not inner or not 0 <= lo < hi <= 100:
    raise errors.UserInputError(
      f'Dataset {name!r}: split {split!r}: the offline two-domain dataset takes only '
      "percentage slices of its splits, e.g. 'train[:50%]' (the same part of each domain)."
    )
  start, stop = data.split_bounds(base, data.builtin_size(domain), domain)
  span = stop - start
  a, b = start + int(round(lo * span / 100)), start + int(round(hi * span / 100))
  if a >= b:
    raise errors.UserInputError(f'Dataset {name!r}: split {split!r} selects no {domain} example.')
  return f'train[{a}:{b}]'


def load(config, split='train'):
  """The two-domain `Dataset` of `config.dataset` (domain A, with extra['domain_b']).

  Args:
    config: ConfigDict with `dataset` (a two-domain name), `image_size` and, for TFDS,
      `data_dir`.
    split: 'train' or 'test' (optionally sliced).

  Returns:
    A `gans.data.Dataset` of domain A: float32 [H, W, C] images in [-1, 1]; its `name`
    is config.dataset, `split` the split given; `extra` has 'domain_b' (the B
    `Dataset`) and 'domains' (the two (dataset, split) pairs).

  Raises:
    UserInputError: a bad split; domains whose image shapes differ in size.
    MissingInputError: a TFDS dataset that is not prepared.
  """
  from gans import data  # pylint: disable=g-import-not-at-top

  name = config.dataset
  domains = domain_splits(name, split)
  loaded = []
  for dataset, domain_split in domains:
    c = ml_collections.ConfigDict(
      dict(dataset=dataset, image_size=config.image_size, data_dir=config.get('data_dir', ''))
    )
    if dataset.startswith(TFDS_PREFIX):
      try:
        ds = data._load_tfds(dataset, c, domain_split)  # pylint: disable=protected-access
      except ValueError as e:
        if isinstance(e, errors.UserInputError):
          raise
        # TFDS: an unknown config of cycle_gan ('BuilderConfig ... not found ... closely match').
        raise errors.UserInputError(f'config.dataset={name!r}: {errors.one_line(e)}') from e
      ds.num_classes = 0  # TFDS's cycle_gan label is the domain, not a class.
      ds.get = _without_labels(ds.get)
    else:
      ds = data.load(c, split=domain_split)
    loaded.append(ds)
  a, b = loaded
  if tuple(a.example_shape[:2]) != tuple(b.example_shape[:2]):
    raise errors.UserInputError(
      f'Dataset {name!r}: domain A has images {a.example_shape}, domain B {b.example_shape}.'
    )
  return data.Dataset(
    name,
    a.num_examples,
    a.example_shape,
    a.num_classes,
    a.get,
    dict(domain_b=b, domains=domains),
    split,
  )


def _without_labels(get):
  """`get` with its labels replaced by zeros (int32 [n])."""

  def wrapped(indices):
    x, y = get(indices)
    return x, np.zeros_like(y)

  return wrapped
