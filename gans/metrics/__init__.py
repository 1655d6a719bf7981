"""Evaluation metrics: pure functions on feature arrays, plus streaming statistics.

Feature extraction (the FID InceptionV3 port) lives in ``gans.metrics.inception``.
"""

from gans.metrics.fid import frechet_distance, frechet_distance_from_stats
from gans.metrics.kernel import kernel_inception_distance, kernel_mmd
from gans.metrics.neighbors import density_coverage, nearest_neighbor_accuracy, precision_recall
from gans.metrics.parzen import parzen_log_likelihood, select_parzen_sigma
from gans.metrics.scores import inception_score, kl_to_uniform, mode_score
from gans.metrics.stats import FeatureStats, accumulate_features, data_mesh
from gans.metrics.toy import mode_coverage
from gans.metrics.wasserstein import wasserstein_distance

__all__ = [
  'FeatureStats',
  'accumulate_features',
  'data_mesh',
  'density_coverage',
  'frechet_distance',
  'frechet_distance_from_stats',
  'inception_score',
  'kernel_inception_distance',
  'kernel_mmd',
  'kl_to_uniform',
  'mode_coverage',
  'mode_score',
  'nearest_neighbor_accuracy',
  'parzen_log_likelihood',
  'precision_recall',
  'select_parzen_sigma',
  'wasserstein_distance',
]
