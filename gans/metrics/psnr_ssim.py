"""PSNR and SSIM of image pairs: the fidelity numbers of super-resolution and translation.

Both take two uint8 (or float, given `data_range`) image arrays [N, H, W, C] of the
same shape and return one value per image pair (float64 [N]); the evaluators average
them over a test set, as SR papers do (Ledig et al. 2017, Table 2: mean PSNR / SSIM
over Set5, Set14, BSD100).

PSNR (peak signal-to-noise ratio, dB) = 10 log10(data_range^2 / MSE), MSE over all
pixels and channels of the pair. Identical images have MSE 0 and PSNR +inf; `max_db`
caps each value when given (an average with one inf in it would be inf).

SSIM (Wang et al. 2004, "Image quality assessment: from error visibility to structural
similarity") by scikit-image's `skimage.metrics.structural_similarity`, with the
paper's settings: an 11x11 Gaussian window of sigma 1.5 (`gaussian_weights=True`),
population covariances (`use_sample_covariance=False`), K1 = 0.01, K2 = 0.03 and
L = data_range (255 for uint8). Color images: the mean over channels
(`channel_axis=-1`); gray ones ([..., 1]) are compared as 2-D images. No border is
cropped. Images smaller than the 11x11 window (the 8x8 inputs of x4 SR) raise.
"""

import numpy as np
from skimage.metrics import structural_similarity

SSIM_OPTIONS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def _check_pair(a, b, data_range):
  a, b = np.asarray(a), np.asarray(b)
  if a.shape != b.shape or a.ndim != 4:
    raise ValueError(f'Expected two [N, H, W, C] arrays of one shape; got {a.shape}, {b.shape}.')
  if data_range is None:
    if a.dtype != np.uint8 or b.dtype != np.uint8:
      raise ValueError(
        f'Give data_range for non-uint8 images (got {a.dtype}, {b.dtype}); uint8 images '
        'have data_range 255.'
      )
    data_range = 255.0
  return a.astype(np.float64), b.astype(np.float64), float(data_range)


def psnr(a, b, data_range=None, max_db=None):
  """Per-pair PSNR in dB.

  Args:
    a, b: [N, H, W, C] arrays of one shape: uint8, or floats with `data_range`.
    data_range: the span of pixel values (255 for uint8, 2 for [-1, 1]); None: uint8.
    max_db: cap on each value (identical images give +inf without it).

  Returns:
    float64 [N].

  Raises:
    ValueError: shapes differ or are not 4-D; floats without data_range.
  """
  a, b, data_range = _check_pair(a, b, data_range)
  mse = np.mean(np.square(a - b), axis=(1, 2, 3))
  with np.errstate(divide='ignore'):
    out = 10.0 * np.log10(data_range**2 / mse)
  return out if max_db is None else np.minimum(out, float(max_db))


def ssim(a, b, data_range=None):
  """Per-pair SSIM (Wang et al. 2004 settings; module docstring).

  Args:
    a, b: [N, H, W, C] arrays of one shape, H and W >= 11: uint8, or floats with
      `data_range`.
    data_range: the span of pixel values (255 for uint8); None: uint8.

  Returns:
    float64 [N], each in [-1, 1] (1 for identical images).

  Raises:
    ValueError: shapes differ, are not 4-D or smaller than the window; floats without
      data_range.
  """
  a, b, data_range = _check_pair(a, b, data_range)
  if min(a.shape[1:3]) < 11:
    raise ValueError(f'SSIM needs images of at least 11x11 (its window); got {a.shape[1:3]}.')
  gray = a.shape[-1] == 1
  out = np.empty(a.shape[0], np.float64)
  for i in range(a.shape[0]):
    out[i] = structural_similarity(
      a[i, ..., 0] if gray else a[i],
      b[i, ..., 0] if gray else b[i],
      data_range=data_range,
      channel_axis=None if gray else -1,
      **SSIM_OPTIONS,
    )
  return out
