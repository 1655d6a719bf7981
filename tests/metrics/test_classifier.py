"""The feature classifier of the offline metrics, and the Stacked MNIST mode count.

The classifier is trained once per test session with the default recipe into the
session's cache directory (the same one tests/test_evaluate.py and test_cli.py use),
so later tests load it instead of training again.
"""

import os

import jax
import numpy as np
import pytest

from gans.data import images as image_lib
from gans.metrics import classifier as classifier_lib
from gans.metrics import stacked_mnist

# Measured: 0.970 held-out (1,000 mnist5k digits) with the default recipe. A classifier
# that learned nothing scores 0.1; one epoch of training reaches about 0.92.
MIN_HELDOUT_ACCURACY = 0.95


@pytest.fixture(scope='session')
def cache_dir(tmp_path_factory):
  return str(tmp_path_factory.getbasetemp() / 'gans-cache')


@pytest.fixture(scope='session')
def clf(cache_dir):
  return classifier_lib.get_or_train(classifier_lib.recipe(), cache_dir)


@pytest.fixture(scope='session')
def mnist():
  x, y, num_classes = classifier_lib.load_dataset(classifier_lib.recipe())
  assert num_classes == 10
  return x, y


def test_default_recipe_reaches_heldout_accuracy(clf, mnist):
  x, y = mnist
  train, held = classifier_lib.holdout_split(y, 0.2, 0)
  assert len(held) == 1000 and not set(train) & set(held)
  np.testing.assert_array_equal(np.bincount(y[held]), [100] * 10)
  accuracy = classifier_lib.accuracy(clf, x[held], y[held])
  assert accuracy >= MIN_HELDOUT_ACCURACY
  assert accuracy == pytest.approx(clf.meta['heldout_accuracy'], abs=1e-9)
  assert clf.meta['num_heldout'] == 1000 and clf.meta['num_train'] == 4000
  # Features: the 128-d penultimate layer (after ReLU), logits over 10 classes.
  features, logits = clf.features(x[:7])
  assert features.shape == (7, 128) and logits.shape == (7, 10)
  assert features.min() >= 0


def test_uint8_images_are_preprocessed_like_the_data_pipeline(clf, mnist):
  x, _ = mnist
  u8 = image_lib.to_uint8(x[:50])
  np.testing.assert_array_equal(image_lib.to_model(u8), x[:50])  # Lossless round trip.
  f_float, l_float = clf.features(x[:50])
  f_u8, l_u8 = clf.features(u8)
  np.testing.assert_array_equal(f_float, f_u8)
  np.testing.assert_array_equal(l_float, l_u8)


def test_get_or_train_loads_the_cached_file(clf, cache_dir):
  path = classifier_lib.cache_path(classifier_lib.recipe(), cache_dir)
  assert os.path.isfile(path)
  mtime = os.path.getmtime(path)
  again = classifier_lib.get_or_train(classifier_lib.recipe(), cache_dir)
  assert os.path.getmtime(path) == mtime
  assert again.sha256 == clf.sha256 and again.meta == clf.meta
  x = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 1), dtype=np.uint8)
  np.testing.assert_array_equal(again.features(x)[1], clf.features(x)[1])
  # Another recipe is another file.
  other = classifier_lib.recipe(epochs=1)
  assert classifier_lib.cache_path(other, cache_dir) != path


def test_load_errors_name_the_file(tmp_path):
  with pytest.raises(FileNotFoundError, match='gans.metrics.classifier'):
    classifier_lib.load(str(tmp_path / 'missing.msgpack'))
  bad = tmp_path / 'bad.msgpack'
  bad.write_bytes(b'not msgpack at all')
  with pytest.raises(ValueError, match='bad.msgpack'):
    classifier_lib.load(str(bad))


def test_holdout_split_is_stratified_and_deterministic():
  labels = np.repeat(np.arange(4), [10, 20, 30, 40])
  train, held = classifier_lib.holdout_split(labels, 0.2, seed=3)
  np.testing.assert_array_equal(np.bincount(labels[held]), [2, 4, 6, 8])
  assert len(train) + len(held) == 100 and not set(train) & set(held)
  np.testing.assert_array_equal(held, classifier_lib.holdout_split(labels, 0.2, seed=3)[1])
  assert not np.array_equal(held, classifier_lib.holdout_split(labels, 0.2, seed=4)[1])


def test_recipe_rejects_unknown_fields():
  with pytest.raises(ValueError, match='epoch'):
    classifier_lib.recipe(epoch=3)


# ------------------------------------------------------------------------ Stacked MNIST


def test_stack_builds_three_channel_digits_with_their_mode():
  digits = np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
  labels = np.array([0, 1, 2, 3, 4])
  images, modes = stacked_mnist.stack(digits, labels, 50, seed=1)
  assert images.shape == (50, 2, 2, 3) and images.dtype == np.uint8
  # Each channel is the digit whose value is its label here.
  channels = images[:, 0, 0].astype(np.int64)
  np.testing.assert_array_equal(modes, 100 * channels[:, 0] + 10 * channels[:, 1] + channels[:, 2])


def test_real_stacked_digits_cover_nearly_all_modes(clf, mnist):
  x, y = mnist
  images, modes = stacked_mnist.stack(image_lib.to_uint8(x), y, 5000, seed=0)
  result = stacked_mnist.count_modes(images, clf)
  # 5000 uniform draws over 1000 modes hit 1000 (1 - e^-5) = 993 modes on average
  # (sd about 2.6); the empirical KL to uniform is about 0.1. A collapsed generator
  # covers 1 mode with KL log(1000) = 6.9.
  assert result['modes'] >= 980
  assert result['reverse_kl'] < 0.2
  assert result['counts'].sum() == 5000
  # Modes read from the three classified channels are the true ones for ~ acc^3.
  assert np.mean(stacked_mnist.classify(images, clf) == modes) > 0.9


def test_a_generator_of_one_image_covers_one_mode(clf, mnist):
  x, y = mnist
  images, _ = stacked_mnist.stack(image_lib.to_uint8(x), y, 1, seed=0)
  result = stacked_mnist.count_modes(np.repeat(images, 300, axis=0), clf)
  assert result['modes'] == 1
  assert result['reverse_kl'] == pytest.approx(np.log(1000))


def test_per_channel_joint_logits_argmax_is_the_stacked_mode(clf, mnist):
  x, y = mnist
  images, _ = stacked_mnist.stack(image_lib.to_uint8(x), y, 64, seed=2)
  out = jax.jit(stacked_mnist.per_channel(clf.apply))(clf.params, images)
  assert out['features'].shape == (64, 3 * 128) and out['logits'].shape == (64, 1000)
  np.testing.assert_array_equal(
    np.argmax(np.asarray(out['logits']), -1), stacked_mnist.classify(images, clf)
  )
  # The joint logits are log-probabilities: they sum to 1 over the 1000 modes.
  np.testing.assert_allclose(np.exp(np.asarray(out['logits'], np.float64)).sum(-1), 1, rtol=1e-4)
