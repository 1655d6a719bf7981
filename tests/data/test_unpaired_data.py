"""Two-domain datasets (gans.data.unpaired): both domains in the batch, each in its own
deterministic order, both placed by the one checkpointed position; splits; TFDS
cycle_gan by name."""

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gans import data
from gans import errors
from gans.data import pipeline
from gans.data import unpaired


def _config(**kw):
  return ml_collections.ConfigDict(
    dict(dict(dataset='digits2mnist', image_size=32, data_dir=''), **kw)
  )


def test_offline_domains_are_digits_and_mnist5k_with_labels():
  ds = data.load(_config())
  b = ds.extra['domain_b']
  assert ds.extra['domains'] == [('digits', 'train[:80%]'), ('mnist5k', 'train[:4000]')]
  assert (ds.num_examples, b.num_examples) == (1438, 4000)
  assert ds.example_shape == b.example_shape == (32, 32, 1)
  assert ds.num_classes == b.num_classes == 10
  test = data.load(_config(), split='test')
  assert test.extra['domains'] == [('digits', 'train[90%:]'), ('mnist5k', 'train[4500:]')]
  # Domain A is the `digits` preprocessing: the same images as the built-in dataset.
  digits = data.load(_config(dataset='digits'), split='train[:80%]')
  np.testing.assert_array_equal(ds.get(np.arange(5))[0], digits.get(np.arange(5))[0])


def test_batches_carry_both_domains_in_their_own_orders_and_resume_exactly():
  ds = data.load(_config(), split='train[:10%]')  # 144 digits, 400 MNIST digits.
  b = ds.extra['domain_b']
  assert (ds.num_examples, b.num_examples) == (144, 400)
  it = data.Batches(ds, 16, seed=3)
  items = [next(it) for _ in range(12)]  # Over an epoch of A (9 batches), not of B.
  it.close()
  position, batch = items[0]
  assert position == 1 and set(batch) == {'x', 'y', 'x_b', 'y_b'}
  assert batch['x_b'].shape == (1, 16, 32, 32, 1) and batch['y_b'].dtype == np.int32
  for p, (_, batch) in enumerate(items):
    idx_a = pipeline.batch_indices(p, 16, 144, 3)
    idx_b = pipeline.batch_indices(p, 16, 400, 3, stream=1)
    np.testing.assert_array_equal(batch['x'][0], ds.get(idx_a)[0])
    np.testing.assert_array_equal(batch['x_b'][0], b.get(idx_b)[0])
    np.testing.assert_array_equal(batch['y_b'][0], b.get(idx_b)[1])
  # Domain B's order is its own, not A's permutation read on B.
  assert not np.array_equal(
    pipeline.batch_indices(0, 16, 400, 3, stream=1), pipeline.batch_indices(0, 16, 400, 3)
  )
  resumed = data.Batches(ds, 16, seed=3, start=7)
  for expected in items[7:]:
    got = next(resumed)
    assert got[0] == expected[0]
    for key in ('x', 'y', 'x_b', 'y_b'):
      np.testing.assert_array_equal(got[1][key], expected[1][key])
  resumed.close()


def test_every_process_reads_its_slice_of_both_domains():
  ds = data.load(_config(), split='train[:10%]')
  whole = data.Batches(ds, 8, seed=0)
  full = next(whole)[1]
  whole.close()
  parts = []
  for p in range(2):
    it = data.Batches(ds, 8, seed=0, process_index=p, process_count=2)
    parts.append(next(it)[1])
    it.close()
  for key in ('x', 'x_b'):
    np.testing.assert_array_equal(np.concatenate([q[key] for q in parts], axis=1), full[key])


@pytest.mark.parametrize(
  'split, message',
  [
    ('validation', "'train' and 'test'"),
    ('train[:100]', 'percentage'),
    ('train[5%:5%]', 'percentage'),
  ],
)
def test_bad_splits_are_refused(split, message):
  with pytest.raises(errors.UserInputError, match=message):
    data.load(_config(), split=split)


def test_names():
  assert unpaired.is_two_domain('digits2mnist') and unpaired.is_two_domain('cycle_gan/maps')
  assert not unpaired.is_two_domain('mnist5k')
  assert unpaired.domain_splits('cycle_gan/horse2zebra', 'test[:10]') == [
    ('cycle_gan/horse2zebra', 'testA[:10]'),
    ('cycle_gan/horse2zebra', 'testB[:10]'),
  ]


def test_tfds_cycle_gan_config_by_name_under_mock_data():
  with tfds.testing.mock_data(num_examples=6):
    ds = data.load(_config(dataset='cycle_gan/horse2zebra', image_size=16))
    b = ds.extra['domain_b']
    assert ds.extra['domains'] == [
      ('cycle_gan/horse2zebra', 'trainA'),
      ('cycle_gan/horse2zebra', 'trainB'),
    ]
    assert ds.example_shape == b.example_shape == (16, 16, 3)
    assert ds.num_classes == b.num_classes == 0  # TFDS's label is the domain.
    it = data.Batches(ds, 4, seed=0)
    _, batch = next(it)
    it.close()
  assert batch['x'].shape == batch['x_b'].shape == (1, 4, 16, 16, 3)
  assert -1.0 <= batch['x_b'].min() and batch['x_b'].max() <= 1.0
  assert not batch['y'].any() and not batch['y_b'].any()


def test_unknown_cycle_gan_config_is_a_user_error(tmp_path):
  with pytest.raises(errors.UserInputError, match='horse2zebr.*horse2zebra'):
    data.load(_config(dataset='cycle_gan/horse2zebr', data_dir=str(tmp_path)))
