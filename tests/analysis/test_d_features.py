"""D features as a representation: pooling, the layers taken, the SVM probe, K-means, the command."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from gans import configs
from gans import errors
from gans.analysis import d_features
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_max_pool_grid():
  x = np.arange(2 * 8 * 8 * 3, dtype=np.float32).reshape(2, 8, 8, 3)
  want = x.reshape(2, 4, 2, 4, 2, 3).max((2, 4))
  np.testing.assert_array_equal(d_features.max_pool_grid(jnp.asarray(x)), want)
  y = np.random.default_rng(0).normal(size=(1, 6, 6, 1)).astype(np.float32)
  got = np.asarray(d_features.max_pool_grid(jnp.asarray(y)))
  bins = [(0, 2), (1, 3), (3, 5), (4, 6)]  # floor(6 i / 4) .. ceil(6 (i + 1) / 4).
  for i, (r0, r1) in enumerate(bins):
    for j, (c0, c1) in enumerate(bins):
      assert got[0, i, j, 0] == y[0, r0:r1, c0:c1, 0].max()
  assert d_features.max_pool_grid(jnp.ones((1, 2, 2, 5))).shape == (1, 2, 2, 5)


def test_representations_are_what_each_next_layer_takes(dcgan_run):
  config, workdir = dcgan_run
  exp, state = loop.restore_latest(config, workdir)
  d = exp.modules['discriminator']
  variables = state.models['discriminator'].variables()
  x = jnp.asarray(exp.dataset.get(np.arange(4))[0])
  reps = d_features.layer_representations(d, variables, x)
  w = config.discriminator.width
  assert [r.shape for r in reps] == [(4, 16, 16, w), (4, 8, 8, 2 * w), (4, 4, 4, 4 * w)]
  # The first: LeakyReLU(0.2) of the first convolution (no norm there), by hand.
  p = variables['params']
  conv = jax.lax.conv_general_dilated(
    x, p['down0']['kernel'], (2, 2), ((1, 1), (1, 1)), dimension_numbers=('NHWC', 'HWIO', 'NHWC')
  )
  np.testing.assert_allclose(reps[0], jax.nn.leaky_relu(conv + p['down0']['bias'], 0.2), atol=1e-5)
  # The last: the dense head applied to it gives D's logit.
  logit = d.apply(variables, x, None, train=False)
  head = reps[2].reshape(4, -1) @ p['logit']['kernel'] + p['logit']['bias']
  np.testing.assert_allclose(head[:, 0], logit, rtol=1e-5, atol=1e-5)
  feats = d_features.discriminator_features(d, variables, np.asarray(x), batch_size=3)
  assert feats.shape == (4, 16 * 7 * w)
  np.testing.assert_allclose(
    feats[:, : 16 * w],
    np.asarray(reps[0]).reshape(4, 4, 4, 4, 4, w).max((2, 4)).reshape(4, -1),
    rtol=1e-6,
  )


def test_svm_on_features_that_encode_the_label_scores_100_percent():
  rng = np.random.default_rng(0)
  labels = [rng.integers(0, 10, n) for n in (300, 100, 200)]
  onehot = [np.eye(10)[y] * 3 + rng.normal(scale=0.1, size=(len(y), 10)) for y in labels]
  noise = [rng.normal(size=(len(y), 10)) for y in labels]
  results = d_features.probe({'label': onehot, 'noise': noise}, labels, (20, 300), repeats=2)
  for n in (20, 300):
    assert results[n]['label']['accuracies'] == [1.0, 1.0]
    assert results[n]['noise']['mean'] < 0.3  # Chance is 0.1.


def test_labelled_subsets_are_stratified_and_differ_per_repeat():
  labels = np.repeat(np.arange(10), 30)
  a, b = d_features.labelled_subsets(labels, 50, 2)
  assert len(a) == 50 and np.all(np.bincount(labels[a]) == 5)
  assert not np.array_equal(a, b)
  (whole,) = d_features.labelled_subsets(labels, 1000, 1)
  np.testing.assert_array_equal(whole, np.arange(300))


def test_kmeans_features_equal_a_patch_by_patch_computation():
  rng = np.random.default_rng(1)
  images = np.clip(rng.normal(scale=0.5, size=(40, 16, 16, 2)), -1, 1).astype(np.float32)
  km = d_features.KMeansFeatures(centroids=8, num_patches=2000).fit(images)
  f = km.transform(images[:2])
  assert f.shape == (2, 32) and np.all(f >= 0) and f.max() > 0
  want = np.zeros((2, 4, 8))
  for n in range(2):
    for i in range(11):  # 16 - 6 + 1 patch rows and columns; quadrants split at 5.
      for j in range(11):
        p = (images[n, i : i + 6, j : j + 6].reshape(-1).astype(np.float64) + 1) * 127.5
        p = (p - p.mean()) / np.sqrt(p.var() + 10)
        z = np.linalg.norm((p - km.mean) @ km.whiten - km.centroids, axis=1)
        want[n, 2 * (i >= 5) + (j >= 5)] += np.maximum(0, z.mean() - z)
  np.testing.assert_allclose(f, want.reshape(2, 32), rtol=1e-3, atol=1e-3)


def test_command_probes_d_and_the_baselines(dcgan_run):
  config, workdir = dcgan_run
  numbers = d_features.write_figure(
    config,
    workdir,
    eval_dataset='digits',
    label_counts=(30,),
    repeats=1,
    centroids=8,
    cs=(1e-3, 1e-2),
  )
  out = os.path.join(workdir, 'analysis')
  saved = json.load(open(os.path.join(out, 'd_features.json')))
  assert saved == json.loads(json.dumps(numbers))
  assert saved['sizes'] == dict(pool=1438, validation=179, test=180)
  w = config.discriminator.width
  assert saved['feature_sizes'] == dict(
    discriminator=16 * 7 * w, random_discriminator=16 * 7 * w, pixels=1024, kmeans=32
  )
  for m, r in saved['results']['30'].items():
    assert 0.1 < r['mean'] <= 1.0, (m, r)  # Above chance (0.1) on 10 classes.
    assert r['C'][0] in (1e-3, 1e-2)
  assert Image.open(os.path.join(out, 'd_features.png')).size[0] > 100


def test_conditional_d_and_unknown_splits_are_refused(tmp_path):
  cgan = configs.load_config_file(os.path.join(ROOT, 'experiments', 'cgan.py') + ':runlocal')
  with pytest.raises(errors.UserInputError, match='class-conditional'):
    d_features.write_figure(cgan, str(tmp_path), eval_dataset='digits')
  with pytest.raises(errors.UserInputError, match='--splits POOL,VAL,TEST'):
    d_features.write_figure(cgan, str(tmp_path), eval_dataset='cifar10')
  assert not os.listdir(tmp_path)
