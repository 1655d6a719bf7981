import numpy as np
import pytest
import tensorflow_datasets as tfds
import ml_collections

from gans import data
from gans.data import builtin
from gans.data import images as image_lib


def _config(**kw):
  c = ml_collections.ConfigDict(dict(dataset='mnist5k', image_size=32, data_dir=''))
  c.update(kw)
  return c


def test_ring_and_grid_match_reference_definitions():
  np.testing.assert_allclose(builtin.ring_means()[2], [0.0, 1.0], atol=1e-12)
  assert len(builtin.ring_means()) == 8
  grid = builtin.grid_means()
  assert grid.shape == (25, 2) and grid.min() == -4 and grid.max() == 4
  ds = data.load(_config(dataset='ring8'))
  x, y = ds.get(np.arange(1000))
  offsets = x - ds.extra['means'][y]
  assert ds.extra['sigma'] == 0.01
  np.testing.assert_allclose(offsets.std(axis=0), [0.01, 0.01], rtol=0.1)
  np.testing.assert_allclose(offsets.mean(axis=0), [0, 0], atol=2e-3)


@pytest.mark.parametrize(
  'name,n,shape', [('mnist5k', 5000, (32, 32, 1)), ('digits', 1797, (32, 32, 1))]
)
def test_offline_image_datasets(name, n, shape):
  ds = data.load(_config(dataset=name))
  assert ds.num_examples == n and ds.example_shape == shape and ds.num_classes == 10
  x, y = ds.get(np.arange(50))
  assert x.dtype == np.float32 and -1.0 <= x.min() and x.max() <= 1.0
  assert x.min() == -1.0 and x.max() > 0.9  # Background black, strokes white.
  assert set(np.unique(y)) <= set(range(10))


def test_mnist5k_labels_are_balanced():
  _, y = builtin.mnist5k()
  counts = np.bincount(y, minlength=10)
  assert counts.sum() == 5000 and counts.min() > 400


def test_batch_order_is_a_deterministic_permutation_per_epoch():
  n, b = 10, 4
  stream = np.concatenate([data.batch_indices(p, b, n, seed=3) for p in range(5)])
  np.testing.assert_array_equal(np.sort(stream[:10]), np.arange(10))
  np.testing.assert_array_equal(np.sort(stream[10:20]), np.arange(10))
  assert not np.array_equal(stream[:10], stream[10:20])
  np.testing.assert_array_equal(stream[:4], data.batch_indices(0, b, n, seed=3))
  assert not np.array_equal(
    stream[:10], np.concatenate([data.batch_indices(p, b, n, seed=4) for p in range(3)])[:10]
  )


def test_batches_resume_and_process_slices():
  ds = data.load(_config(dataset='ring8'))
  full = data.Batches(ds, 8, seed=0, group=2)
  items = [next(full) for _ in range(3)]
  full.close()
  assert [p for p, _ in items] == [2, 4, 6]
  resumed = data.Batches(ds, 8, seed=0, start=4, group=2)
  pos, batch = next(resumed)
  resumed.close()
  assert pos == 6
  np.testing.assert_array_equal(batch['x'], items[2][1]['x'])
  halves = []
  for p in range(2):
    it = data.Batches(ds, 8, seed=0, group=2, process_index=p, process_count=2)
    halves.append(next(it)[1]['x'])
    it.close()
  assert halves[0].shape == (2, 4, 2)
  np.testing.assert_array_equal(np.concatenate(halves, axis=1), items[0][1]['x'])


def test_unknown_dataset_lists_known_ones():
  with pytest.raises(ValueError, match='Built-in datasets: ring8, grid25, digits, mnist5k'):
    data.load(_config(dataset='no_such_dataset'))


def test_unprepared_tfds_dataset_says_how_to_prepare(tmp_path):
  with pytest.raises(FileNotFoundError, match='tfds build mnist --file_format=array_record'):
    data.load(_config(dataset='mnist', data_dir=str(tmp_path)))


def test_tfds_dataset_under_mock_data():
  with tfds.testing.mock_data(num_examples=12):
    ds = data.load(_config(dataset='cifar10', image_size=16))
    assert ds.num_examples == 12 and ds.example_shape == (16, 16, 3)
    x, y = ds.get(np.array([0, 5, 11]))
  assert x.shape == (3, 16, 16, 3) and x.dtype == np.float32
  assert -1.0 <= x.min() and x.max() <= 1.0 and y.dtype == np.int32


def test_uint8_round_trip_and_grid():
  img = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
  np.testing.assert_array_equal(image_lib.to_uint8(image_lib.to_model(img)), img)
  g = image_lib.grid(img)
  assert g.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
  np.testing.assert_array_equal(g[1:5, 1:5], img[0])
  np.testing.assert_array_equal(g[6:10, 1:5], img[3])
