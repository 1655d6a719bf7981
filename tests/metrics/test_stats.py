"""FeatureStats and accumulate_features.

The 8-device check runs this file as a script in a subprocess, because the number of
host devices (XLA_FLAGS=--xla_force_host_platform_device_count=8) is fixed once JAX is
imported, and other test modules import JAX first in the pytest process.
"""

import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.metrics import FeatureStats, accumulate_features

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def rel_err(got, expected):
  return np.linalg.norm(np.asarray(got) - expected) / np.linalg.norm(expected)


# ---------------------------------------------------------------------------------------
# FeatureStats on host arrays.


def offset_features(seed=0, n=257, d=12):
  # A large common offset makes float32 accumulation drift; float64 must not.
  rng = np.random.default_rng(seed)
  return (100.0 + rng.normal(size=(n, d)) @ rng.normal(size=(d, d))).astype(np.float32)


def stats_in_batches(x, batch_size):
  stats = FeatureStats()
  for start in range(0, len(x), batch_size):
    stats.update(x[start : start + batch_size])
  return stats


def test_matches_numpy_mean_and_cov():
  x = offset_features()
  x64 = x.astype(np.float64)
  stats = stats_in_batches(x, 50)
  assert stats.count == len(x)
  assert rel_err(stats.mean(), x64.mean(0)) < 1e-12
  assert rel_err(stats.cov(), np.cov(x64, rowvar=False)) < 1e-9


@pytest.mark.parametrize('batch_size', [1, 3, 64, 1000])
def test_independent_of_batch_size(batch_size):
  x = offset_features()
  whole = FeatureStats().update(x)
  split = stats_in_batches(x, batch_size)
  assert split.count == whole.count
  assert rel_err(split.mean(), whole.mean()) < 1e-12
  assert rel_err(split.cov(), whole.cov()) < 1e-9


def test_merge_and_jax_input():
  x = offset_features(1)
  parts = [FeatureStats().update(jnp.asarray(x[:100])), FeatureStats().update(x[100:])]
  merged = FeatureStats().merge(parts[0]).merge(parts[1])
  whole = FeatureStats().update(x)
  assert merged.count == whole.count
  assert rel_err(merged.cov(), whole.cov()) < 1e-9
  assert rel_err(merged.mean(), whole.mean()) < 1e-12
  with pytest.raises(ValueError, match='dimension'):
    merged.merge(FeatureStats().update(np.zeros((2, 3))))


def test_save_load_roundtrip(tmp_path):
  stats = stats_in_batches(offset_features(2), 10)
  path = tmp_path / 'reference_stats.npz'
  stats.save(path)
  loaded = FeatureStats.load(path)
  assert loaded.count == stats.count
  np.testing.assert_array_equal(loaded.mean(), stats.mean())
  np.testing.assert_array_equal(loaded.cov(), stats.cov())
  # A name without the .npz suffix is kept as given.
  stats.save(tmp_path / 'ref')
  assert FeatureStats.load(tmp_path / 'ref').count == stats.count


def test_keep_samples_and_errors():
  x = offset_features(3, n=10)
  stats = FeatureStats(keep_samples=True)
  stats.update(x[:4]).update(x[4:])
  np.testing.assert_array_equal(stats.samples(), x)
  with pytest.raises(ValueError, match='not kept'):
    FeatureStats().update(x).samples()
  with pytest.raises(ValueError, match='at least 2'):
    FeatureStats().update(x[:1]).cov()
  with pytest.raises(ValueError, match=r'\(4, 5\)'):
    FeatureStats().update(x).update(np.zeros((4, 5)))


# ---------------------------------------------------------------------------------------
# accumulate_features: a small fixed conv net stands in for Inception.


def make_feature_fn():
  rng = np.random.default_rng(0)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 3, 6)) / 3, jnp.float32)
  dense = jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)

  def feature_fn(images):
    h = jax.lax.conv_general_dilated(
      images, kernel, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')
    )
    pool = jnp.mean(jax.nn.relu(h), axis=(1, 2))
    return {'pool': pool, 'logits': pool @ dense}

  return feature_fn


def make_images(n=29):
  return np.random.default_rng(1).uniform(-1, 1, size=(n, 8, 8, 3)).astype(np.float32)


def batches_of(x, size):
  return [x[i : i + size] for i in range(0, len(x), size)]


def single_device_mesh():
  return jax.make_mesh(
    (1,), ('data',), axis_types=(jax.sharding.AxisType.Auto,), devices=jax.devices()[:1]
  )


def direct_stats(images):
  out = jax.jit(make_feature_fn())(images)
  return {name: FeatureStats().update(np.asarray(v)) for name, v in out.items()}, out


def assert_stats_close(got, expected, tol=1e-6):
  assert set(got) == set(expected)
  for name in expected:
    assert got[name].count == expected[name].count, name
    assert rel_err(got[name].mean(), expected[name].mean()) < tol, name
    assert rel_err(got[name].cov(), expected[name].cov()) < tol, name


@pytest.mark.parametrize('batch_size', [1, 8, 29])
def test_accumulate_features_independent_of_batch_size(batch_size):
  images = make_images()
  expected, direct = direct_stats(images)
  stats = accumulate_features(
    make_feature_fn(), batches_of(images, batch_size), mesh=single_device_mesh(), keep=('logits',)
  )
  assert_stats_close(stats, expected)
  np.testing.assert_allclose(
    stats['logits'].samples(), np.asarray(direct['logits']), rtol=1e-5, atol=1e-6
  )
  with pytest.raises(ValueError, match='not kept'):
    stats['pool'].samples()


def test_accumulate_features_default_mesh_and_unknown_keep():
  images = make_images(10)
  expected, _ = direct_stats(images)
  # The default mesh covers however many devices this process has.
  assert_stats_close(accumulate_features(make_feature_fn(), batches_of(images, 3)), expected)
  with pytest.raises(KeyError, match='nope'):
    accumulate_features(make_feature_fn(), [images], keep=('nope',))


def run_child(out_dir):
  """Computes statistics on 8 host devices (batches of 5 and 13 need padding)."""
  assert jax.device_count() == 8, jax.devices()
  images = make_images()
  stats = accumulate_features(
    make_feature_fn(), batches_of(images, 5) + [make_images(13)], keep=('logits',)
  )
  for name, s in stats.items():
    s.save(os.path.join(out_dir, f'{name}.npz'))
  np.save(os.path.join(out_dir, 'logits_samples.npy'), stats['logits'].samples())


def test_accumulate_features_same_on_one_and_eight_devices(tmp_path):
  env = dict(os.environ)
  flags = [
    f for f in env.get('XLA_FLAGS', '').split() if 'force_host_platform_device_count' not in f
  ]
  env['XLA_FLAGS'] = ' '.join(flags + ['--xla_force_host_platform_device_count=8'])
  env['JAX_PLATFORMS'] = 'cpu'
  env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT), env.get('PYTHONPATH', '')]).rstrip(
    os.pathsep
  )
  proc = subprocess.run(
    [sys.executable, __file__, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr

  batches = batches_of(make_images(), 5) + [make_images(13)]
  one = accumulate_features(make_feature_fn(), batches, mesh=single_device_mesh(), keep=('logits',))
  eight = {name: FeatureStats.load(tmp_path / f'{name}.npz') for name in ('pool', 'logits')}
  assert eight['pool'].count == 29 + 13  # padded rows were dropped
  assert_stats_close(eight, one)
  np.testing.assert_allclose(
    np.load(tmp_path / 'logits_samples.npy'), one['logits'].samples(), rtol=1e-5, atol=1e-6
  )


if __name__ == '__main__':
  run_child(sys.argv[1])
