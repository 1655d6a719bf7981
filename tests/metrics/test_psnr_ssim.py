"""PSNR and SSIM on pairs whose values are known by hand."""

import math

import numpy as np
import pytest

from gans.metrics import psnr_ssim


def _images(n=3, size=16, channels=1, seed=0):
  return np.random.default_rng(seed).integers(20, 200, (n, size, size, channels), dtype=np.uint8)


def test_psnr_of_identical_images_is_inf_or_the_cap():
  a = _images()
  assert np.all(np.isinf(psnr_ssim.psnr(a, a)))
  np.testing.assert_array_equal(psnr_ssim.psnr(a, a, max_db=100.0), [100.0] * 3)


@pytest.mark.parametrize('offset', [1, 5, 40])
def test_psnr_of_a_constant_offset(offset):
  a = _images(channels=3)
  b = a + np.uint8(offset)  # Values stay below 255: no wrap-around.
  expected = 20.0 * math.log10(255.0 / offset)  # MSE = offset^2.
  np.testing.assert_allclose(psnr_ssim.psnr(a, b), [expected] * 3, rtol=1e-12)
  # Floats in [-1, 1]: the same offset in those units, data_range 2.
  fa, fb = a / 127.5 - 1.0, b / 127.5 - 1.0
  np.testing.assert_allclose(psnr_ssim.psnr(fa, fb, data_range=2.0), [expected] * 3, rtol=1e-9)


def test_psnr_needs_data_range_for_floats_and_one_shape():
  a = _images().astype(np.float32)
  with pytest.raises(ValueError, match='data_range'):
    psnr_ssim.psnr(a, a)
  with pytest.raises(ValueError, match='one shape'):
    psnr_ssim.psnr(_images(), _images(size=12))


def test_ssim_of_identical_images_is_one():
  for channels in (1, 3):
    a = _images(channels=channels)
    np.testing.assert_allclose(psnr_ssim.ssim(a, a), 1.0, rtol=0, atol=1e-12)


def test_ssim_of_constant_images_is_the_luminance_term():
  # Zero variances: contrast and structure terms are C2 / C2 = 1, so SSIM is the
  # luminance comparison (2 a b + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2.
  a = np.full((1, 16, 16, 1), 100, np.uint8)
  b = np.full((1, 16, 16, 1), 120, np.uint8)
  c1 = (0.01 * 255) ** 2
  expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
  np.testing.assert_allclose(psnr_ssim.ssim(a, b), [expected], rtol=1e-10)
  assert abs(expected - 0.98361) < 1e-5


def test_ssim_falls_with_noise_and_matches_skimage_settings():
  from skimage.metrics import structural_similarity

  a = _images(n=1, size=24)
  rng = np.random.default_rng(1)
  values = []
  for sigma in (2, 10, 40):
    b = np.clip(a + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8)
    values.append(float(psnr_ssim.ssim(a, b)[0]))
    direct = structural_similarity(
      a[0, ..., 0],
      b[0, ..., 0],
      data_range=255,
      gaussian_weights=True,
      sigma=1.5,
      use_sample_covariance=False,
    )
    assert values[-1] == pytest.approx(direct, abs=1e-12)
  assert values[0] > values[1] > values[2]


def test_ssim_rejects_images_smaller_than_its_window():
  with pytest.raises(ValueError, match='11x11'):
    psnr_ssim.ssim(_images(size=8), _images(size=8))
