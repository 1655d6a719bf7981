"""Held-out slices of the built-in datasets ('train[:4000]', 'train[80%:]', ...)."""

import collections

import ml_collections
import numpy as np
import pytest

from gans import data
from gans.data import builtin
from gans.data import images as image_lib


def _config(name='mnist5k', size=16):
  return ml_collections.ConfigDict(dict(dataset=name, image_size=size, data_dir=''))


def _all(ds):
  return ds.get(np.arange(ds.num_examples))


def _rows(x):
  return collections.Counter(r.tobytes() for r in x.reshape(len(x), -1))


@pytest.fixture(scope='module')
def mnist():
  return {
    s: data.load(_config(), split=s)
    for s in (
      'train',
      'train[:4000]',
      'train[4000:4500]',
      'train[4500:]',
      'train[:80%]',
      'train[80%:]',
    )
  }


def test_train_is_unchanged(mnist):
  # The arrays `load` built before splits existed: all examples, stored order.
  raw, labels = builtin.mnist5k()
  x, y = _all(mnist['train'])
  np.testing.assert_array_equal(x, image_lib.to_model(image_lib.resize(raw, 16)))
  np.testing.assert_array_equal(y, labels)
  assert mnist['train'].name == 'mnist5k' and mnist['train'].split == 'train'
  assert data.load(_config()).split == 'train'  # The default split.


def test_slices_sizes_disjoint_and_union(mnist):
  parts = [mnist[s] for s in ('train[:4000]', 'train[4000:4500]', 'train[4500:]')]
  assert [p.num_examples for p in parts] == [4000, 500, 500]
  assert all(
    p.name == 'mnist5k' and p.example_shape == (16, 16, 1) and p.num_classes == 10 for p in parts
  )
  assert [p.split for p in parts] == ['train[:4000]', 'train[4000:4500]', 'train[4500:]']
  order = builtin.split_order('mnist5k', 5000)
  np.testing.assert_array_equal(np.sort(order), np.arange(5000))
  x_all, y_all = _all(mnist['train'])
  for part, (a, b) in zip(parts, [(0, 4000), (4000, 4500), (4500, 5000)]):
    x, y = _all(part)
    np.testing.assert_array_equal(x, x_all[order[a:b]])
    np.testing.assert_array_equal(y, y_all[order[a:b]])
  # As multisets of images, the three parts are exactly 'train'.
  xs = [_all(p)[0] for p in parts]
  assert _rows(np.concatenate(xs)) == _rows(x_all)
  assert not set(_rows(xs[0])) & set(_rows(xs[2]))


def test_mnist5k_is_class_sorted_so_slices_are_permuted(mnist):
  _, y = builtin.mnist5k()
  assert np.all(np.diff(y) >= 0)  # Stored as 500 zeros, 500 ones, ...
  for split, low in (('train[:4000]', 350), ('train[4000:4500]', 30), ('train[4500:]', 30)):
    counts = np.bincount(_all(mnist[split])[1], minlength=10)
    assert counts.min() >= low, (split, counts)
  np.testing.assert_array_equal(
    builtin.split_order('mnist5k', 5000), np.random.default_rng(0).permutation(5000)
  )


def test_percent_forms(mnist):
  assert mnist['train[:80%]'].num_examples == 4000
  assert mnist['train[80%:]'].num_examples == 1000
  np.testing.assert_array_equal(_all(mnist['train[:80%]'])[0], _all(mnist['train[:4000]'])[0])
  # digits (1,797) is sliced in stored order; 80% of it is round(1437.6) = 1438.
  digits = data.load(_config('digits'))
  head = data.load(_config('digits'), split='train[:80%]')
  tail = data.load(_config('digits'), split='train[80%:]')
  assert (head.num_examples, tail.num_examples) == (1438, 359)
  np.testing.assert_array_equal(np.concatenate([_all(head)[0], _all(tail)[0]]), _all(digits)[0])


@pytest.mark.parametrize(
  'split,n,expected',
  [
    ('train', 5000, (0, 5000)),
    ('train[:4000]', 5000, (0, 4000)),
    ('train[4000:4500]', 5000, (4000, 4500)),
    ('train[4500:]', 5000, (4500, 5000)),
    ('train[-500:]', 5000, (4500, 5000)),
    ('train[:-1]', 5000, (0, 4999)),
    ('train[:80%]', 5000, (0, 4000)),
    ('train[-20%:]', 5000, (4000, 5000)),
    ('train[0:5%]', 5000, (0, 250)),
    ('train[10%:20.5%]', 1797, (180, 368)),  # round(179.7), round(368.385).
    ('train[:50%]', 7, (0, 4)),  # round(3.5) = 4 (half to even).
    ('train[:50%]', 5, (0, 2)),  # round(2.5) = 2 (half to even).
    ('train[12.5%:]', 100_000, (12_500, 100_000)),
  ],
)
def test_split_bounds(split, n, expected):
  assert data.split_bounds(split, n) == expected


def test_split_bounds_match_tfds():
  splits = pytest.importorskip('tensorflow_datasets.core.splits')
  for n in (1, 3, 7, 101, 1797, 5000):
    info = {
      'train': splits.SplitInfo(
        name='train', shard_lengths=[n], num_bytes=0, filename_template=None
      )
    }
    for spec in (
      'train[:80%]',
      'train[80%:]',
      'train[33.3%:66.7%]',
      'train[-20%:]',
      'train[25%:75%]',
      'train[:50%]',
      'train[12.5%:]',
      'train[:1]',
      'train[-1:]',
    ):
      absolute = splits.ReadInstruction.from_spec(spec).to_absolute(info)[0]
      theirs = (absolute.from_ or 0, n if absolute.to is None else absolute.to)
      if theirs[0] >= theirs[1]:  # TFDS reads an empty split; here it raises.
        with pytest.raises(ValueError, match='selects no example'):
          data.split_bounds(spec, n)
      else:
        assert data.split_bounds(spec, n) == theirs, (spec, n)


@pytest.mark.parametrize(
  'split',
  [
    'train[:4000',
    'train[]',
    'train[:]',
    'train[1:2:3]',
    'train[5]',
    'train[1.5:]',
    'train[10:50%]',
    'train[a:]',
    'train+test',
    'train[:10]+train[20:]',
    ' train',
    'train[:5%%]',
  ],
)
def test_malformed_splits_raise(split):
  with pytest.raises(
    ValueError,
    match=r"Malformed split .* for dataset 'mnist5k'\. Accepted: "
    r"'train'.*'train\[:4000\]'.*'train\[:80%\]'",
  ):
    data.load(_config(), split=split)


@pytest.mark.parametrize('name', ['mnist5k', 'digits', 'ring8'])
@pytest.mark.parametrize('split', ['test', 'validation', 'all', 'test[:10]'])
def test_other_split_names_raise_naming_the_dataset(name, split):
  with pytest.raises(ValueError, match=f"Built-in dataset '{name}' has only the split 'train'"):
    data.load(_config(name), split=split)


@pytest.mark.parametrize(
  'split,match',
  [
    ('train[:6000]', 'beyond its 5000 examples'),
    ('train[-5001:]', 'beyond its 5000 examples'),
    ('train[4000:4000]', 'selects no example'),
    ('train[80%:20%]', 'selects no example'),
    ('train[:0.001%]', 'selects no example'),
  ],
)
def test_out_of_range_and_empty_slices_raise(split, match):
  with pytest.raises(ValueError, match=match):
    data.split_bounds(split, 5000, 'mnist5k')
  if split == 'train[:6000]':  # Through `load` as well (reads the data first).
    with pytest.raises(ValueError, match=f"{match}|dataset 'mnist5k'"):
      data.load(_config(), split=split)


def test_non_string_split_raises():
  with pytest.raises(ValueError, match='Malformed split 3'):
    data.load(_config(), split=3)


def test_toy_mixtures_slice_in_stored_order():
  full = data.load(_config('grid25'))
  head = data.load(_config('grid25'), split='train[:90%]')
  tail = data.load(_config('grid25'), split='train[90000:]')
  assert (head.num_examples, tail.num_examples) == (90_000, 10_000)
  assert head.split == 'train[:90%]' and head.name == 'grid25'
  assert head.extra['sigma'] == full.extra['sigma']
  np.testing.assert_array_equal(_all(tail)[0], full.get(np.arange(90_000, 100_000))[0])
  np.testing.assert_array_equal(_all(head)[1], full.get(np.arange(90_000))[1])
