"""Hard inputs to the pure metrics: non-finite rows, weights and statistics; FID's sign.

One NaN among 100 generated feature rows once gave nearest_neighbor_accuracy 0.495
(instead of 0.0), ordinary-looking precision/recall/density/coverage, recall 0.89
instead of 0.71 for an inf row, and "Eigenvalues did not converge" from the Frechet
distance. Every metric now refuses such input, counting the rows and naming the input.
"""

import jax
import numpy as np
import pytest

from gans import metrics
from gans.metrics import classifier as classifier_lib
from gans.metrics import fid
from gans.metrics import inception
from gans.metrics import parzen

RNG = np.random.default_rng(0)
REAL = RNG.normal(size=(100, 16))
SEPARATE = RNG.normal(size=(100, 16)) + 10.0  # Far from REAL: accuracy 1.0 when clean.


def _with(x, rows, value):
  x = x.copy()
  x[rows, 0] = value
  return x


def test_the_issue_case_nearest_neighbor_accuracy_fails_instead_of_0_495():
  assert metrics.nearest_neighbor_accuracy(REAL, SEPARATE)['accuracy'] == 1.0
  with pytest.raises(
    ValueError, match=r"^1 of 100 feature rows of 'fake' are non-finite \(NaN/inf; first: row 42\)$"
  ):
    metrics.nearest_neighbor_accuracy(REAL, _with(SEPARATE, [42], np.nan))


TWO_SET_METRICS = [
  ('precision_recall', lambda a, b: metrics.precision_recall(a, b), ('real', 'fake')),
  ('density_coverage', lambda a, b: metrics.density_coverage(a, b), ('real', 'fake')),
  ('nearest_neighbor', lambda a, b: metrics.nearest_neighbor_accuracy(a, b), ('real', 'fake')),
  ('frechet_distance', metrics.frechet_distance, ('a', 'b')),
  ('kid', lambda a, b: metrics.kernel_inception_distance(a, b, num_subsets=2), ('a', 'b')),
  ('kernel_mmd', metrics.kernel_mmd, ('a', 'b')),
  ('wasserstein', metrics.wasserstein_distance, ('a', 'b')),
  ('parzen', lambda a, b: parzen.parzen_log_likelihood(a, b, 1.0), ('samples', 'points')),
]


@pytest.mark.parametrize('value', [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize('name,metric,names', TWO_SET_METRICS, ids=[m[0] for m in TWO_SET_METRICS])
def test_every_feature_metric_counts_and_names_non_finite_rows(name, metric, names, value):
  del name
  metric(REAL, SEPARATE)  # Clean inputs pass.
  with pytest.raises(
    ValueError, match=rf'^3 of 100 rows of {names[1]} |^3 of 100 feature rows of .{names[1]}.'
  ):
    metric(REAL, _with(SEPARATE, [5, 6, 90], value))
  with pytest.raises(
    ValueError, match=rf'1 of 100 (feature )?rows of .?{names[0]}.? .*first: row 0\)'
  ):
    metric(_with(REAL, [0], value), SEPARATE)


def test_scores_and_mode_counts_refuse_non_finite_rows():
  logits = RNG.normal(size=(100, 10))
  metrics.inception_score(logits)
  with pytest.raises(ValueError, match=r"^2 of 100 logit rows of 'logits' are non-finite"):
    metrics.inception_score(_with(logits, [3, 4], np.nan))
  probs = np.full((10, 4), 0.25)
  with pytest.raises(ValueError, match=r"1 of 10 probability rows of 'fake_probs'"):
    metrics.mode_score(_with(probs, [1], np.inf), probs)
  with pytest.raises(ValueError, match=r"1 of 10 probability rows of 'real_probs'"):
    metrics.mode_score(probs, _with(probs, [1], np.nan))
  means = np.array([[0.0, 0.0], [1.0, 1.0]])
  with pytest.raises(ValueError, match=r"1 of 3 samples of 'samples' are non-finite"):
    metrics.mode_coverage(np.array([[0.0, 0.0], [np.nan, 0.0], [1.0, 1.0]]), means, 0.1)


def test_frechet_distance_from_stats_names_the_non_finite_statistic():
  mu, sigma = REAL.mean(0), np.cov(REAL, rowvar=False)
  bad_sigma = sigma.copy()
  bad_sigma[2, 3] = bad_sigma[3, 2] = np.nan
  with pytest.raises(ValueError, match=r'^sigma2 has 2 non-finite entries \(NaN/inf\) of 256'):
    metrics.frechet_distance_from_stats(mu, sigma, mu, bad_sigma)
  with pytest.raises(ValueError, match=r'^mu1 has 1 non-finite entries'):
    metrics.frechet_distance_from_stats(_with(mu[None], [0], np.inf)[0], sigma, mu, sigma)


def test_feature_stats_refuse_non_finite_batches_and_files(tmp_path):
  stats = metrics.FeatureStats()
  stats.update(REAL[:50])
  with pytest.raises(ValueError, match=r'^1 of 50 feature rows of the batch are non-finite'):
    stats.update(_with(REAL[50:], [7], np.nan))
  assert stats.count == 50  # The bad batch left the statistics as they were.
  path = tmp_path / 'stats.npz'
  stats.save(path)
  np.testing.assert_array_equal(metrics.FeatureStats.load(path).sum, stats.sum)
  stats.sum_outer[1, 1] = np.inf
  stats.save(path)
  with pytest.raises(ValueError, match=rf"^{path}: 'sum_outer' has 1 non-finite entries"):
    metrics.FeatureStats.load(path)
  np.savez(path, count=np.int64(3), sum=np.zeros(4))
  with pytest.raises(ValueError, match=rf'^{path}: not FeatureStats \(no sum_outer array\)'):
    metrics.FeatureStats.load(path)
  np.savez(path, count=np.int64(3), sum=np.zeros(4), sum_outer=np.zeros((3, 3)))
  with pytest.raises(ValueError, match=r'sum \(4,\), sum_outer \(3, 3\)'):
    metrics.FeatureStats.load(path)


def test_accumulated_features_name_the_output():
  def feature_fn(x):
    return {'pool': x.reshape(x.shape[0], -1) / x.reshape(x.shape[0], -1).sum(1, keepdims=True)}

  images = np.ones((8, 2, 2, 1), np.float32)
  images[3] = 0.0  # 0 / 0 = NaN in that row.
  with pytest.raises(ValueError, match=r"1 of 8 feature rows of the 'pool' outputs of feature_fn"):
    metrics.accumulate_features(feature_fn, [images])


def test_inception_weights_with_a_nan_are_refused_naming_file_and_key():
  shapes = inception._abstract_variables()
  state = inception.state_dict_from_variables(
    jax.tree.map(lambda leaf: np.ones(leaf.shape, np.float32), shapes)
  )
  state['Conv2d_1a_3x3.bn.running_var'][5] = np.nan
  state['Conv2d_1a_3x3.bn.running_var'][6] = -np.inf
  with pytest.raises(
    inception.InceptionWeightsError,
    match=r"^w\.pth: 2 of the 32 values of 'Conv2d_1a_3x3\.bn\.running_var' are non-finite",
  ):
    inception.variables_from_state_dict(state, source='w.pth')


def test_classifier_files_with_a_nan_are_refused_naming_the_parameter(tmp_path):
  module = classifier_lib.DigitClassifier()
  params = classifier_lib.init_params(module, (8, 8, 1), seed=0)
  meta = dict(recipe=classifier_lib._recipe_dict(classifier_lib.recipe(image_size=8)))
  meta.update(num_classes=10, image_shape=[8, 8, 1], heldout_accuracy=0.5, num_heldout=1)
  params['logits']['bias'][3] = np.nan
  path = str(tmp_path / 'c.msgpack')
  classifier_lib.save(classifier_lib.Classifier(params, meta), path)
  with pytest.raises(
    ValueError, match=r"c\.msgpack: 1 of the 10 values of 'params/logits/bias' are non-finite"
  ):
    classifier_lib.load(path)


def test_classifier_refuses_float_images_outside_minus_one_one():
  module = classifier_lib.DigitClassifier()
  params = classifier_lib.init_params(module, (8, 8, 1), seed=0)
  meta = dict(recipe=classifier_lib._recipe_dict(classifier_lib.recipe(image_size=8)))
  meta.update(num_classes=10, image_shape=[8, 8, 1], heldout_accuracy=0.5, num_heldout=1)
  clf = classifier_lib.Classifier(params, meta)
  images = RNG.integers(0, 256, (4, 8, 8, 1)).astype(np.uint8)
  from_uint8 = clf.features(images)[0]
  np.testing.assert_allclose(clf.features(images / 127.5 - 1.0)[0], from_uint8, atol=1e-5)
  with pytest.raises(ValueError, match=r'must be in \[-1, 1\]; got values \d+\.\.255'):
    clf.features(images.astype(np.float32))
  with pytest.raises(ValueError, match=r'got values nan'):
    clf.features(np.full((1, 8, 8, 1), np.nan, np.float32))


# ------------------------------------------------------------- FID is a squared distance


def test_frechet_distance_of_a_set_with_itself_is_never_negative():
  # Before: negative in about a third of random cases, down to -7.6e-10.
  values = []
  for seed in range(60):
    rng = np.random.default_rng(seed)
    n, d = rng.integers(3, 120), rng.integers(1, 40)
    x = rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-2, 2) + rng.normal(size=d)
    values.append(metrics.frechet_distance(x, x))
  assert min(values) >= 0.0
  assert max(values) < 1e-6
  assert values.count(0.0) > 5  # The negative round-off ones, clamped.


def test_only_round_off_is_clamped_a_real_negative_raises():
  x = RNG.normal(size=(50, 6))
  mu, sigma = x.mean(0), np.cov(x, rowvar=False)
  scale = 2 * np.trace(sigma)
  # A negative error inside the round-off band comes back as 0 ...
  value = fid.frechet_distance_from_stats(mu, sigma, mu, sigma * (1 - 1e-12))
  assert value >= 0.0
  # ... but a matrix that is not a covariance gives a negative value beyond it: raise.
  not_psd = -np.eye(6)
  with pytest.raises(
    ValueError, match=r'came out -12, below 0 beyond round-off .*positive semi-def'
  ):
    metrics.frechet_distance_from_stats(np.zeros(6), not_psd, np.zeros(6), not_psd)
  assert fid.ROUNDOFF * scale < 1e-6
