"""LPIPS-VGG v0.1: invariants, a NumPy evaluation of its formula, errors, and agreement
with the `lpips` pip package.

Without PyTorch, random backbone and linear-layer weights are written with the
`torch.save` writer of test_vgg16.py and loaded through `lpips.load`. The `torch` group
loads the same random torchvision backbone into `lpips.LPIPS(net='vgg',
pnet_rand=True)` (which downloads nothing) with the package's own released
`weights/v0.1/vgg.pth`, and compares distances.
"""

import importlib.util
import os

import jax
import numpy as np
import pytest

from gans import errors
from gans.metrics import lpips, vgg16


def _sibling_module(name):
  """A test module of this directory (tests are not a package here)."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f'{name}.py')
  spec = importlib.util.spec_from_file_location(f'_gans_tests_metrics_{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


_vgg16_tests = _sibling_module('test_vgg16')
write_state_dict = _vgg16_tests.write_state_dict
random_state_dict = _vgg16_tests.random_state_dict
random_images = _vgg16_tests.random_images
relative_error = _vgg16_tests.relative_error
RELATIVE_TOLERANCE = _vgg16_tests.RELATIVE_TOLERANCE


def random_lin_state_dict(seed=0):
  """`lin<k>.model.1.weight` [1, C, 1, 1], non-negative as in the released file."""
  rng = np.random.default_rng(seed)
  return {
    f'lin{k}.model.1.weight': rng.random((1, vgg16.FEATURE_CHANNELS[layer], 1, 1), np.float32)
    for k, layer in enumerate(lpips.LAYERS)
  }


@pytest.fixture(scope='module')
def weight_files(tmp_path_factory):
  directory = tmp_path_factory.mktemp('lpips')
  backbone = random_state_dict(5, include_classifier=False)
  lin = random_lin_state_dict()
  paths = (
    write_state_dict(directory / 'vgg16_features.pth', backbone),
    write_state_dict(directory / 'lin.pth', lin),
  )
  return backbone, lin, paths


@pytest.fixture(scope='module')
def distance(weight_files):
  _, _, (vgg_path, lin_path) = weight_files
  with pytest.warns(UserWarning, match='397923af'):
    return lpips.load(vgg_path, lin_path)


def numpy_lpips(distance_fn, lin, images_a, images_b):
  """LPIPS from the network's feature maps, the rest in float64 NumPy."""
  variables = {'params': distance_fn.variables['params']['features']}
  total = 0.0
  maps = []
  for images in (images_a, images_b):
    x = images.astype(np.float64) / 127.5 - 1
    x = (x - np.array(lpips.SHIFT)) / np.array(lpips.SCALE)
    maps.append(jax.jit(vgg16.VGG16Features().apply)(variables, x.astype(np.float32)))
  for k, layer in enumerate(lpips.LAYERS):
    f0, f1 = (np.asarray(m[layer], np.float64) for m in maps)
    f0 = f0 / (np.sqrt(np.sum(f0**2, axis=-1, keepdims=True)) + 1e-10)
    f1 = f1 / (np.sqrt(np.sum(f1**2, axis=-1, keepdims=True)) + 1e-10)
    weighted = np.sum((f0 - f1) ** 2 * lin[f'lin{k}.model.1.weight'].reshape(-1), axis=-1)
    total = total + weighted.mean(axis=(1, 2))
  return total


def test_invariants_and_formula(weight_files, distance):
  _, lin, _ = weight_files
  rng = np.random.default_rng(0)
  a, b = random_images(rng, 2, 16), random_images(rng, 2, 16)
  d = distance(a, b)
  assert d.shape == (2,) and d.dtype == np.float32
  assert np.all(np.asarray(d) > 0)
  np.testing.assert_allclose(distance(b, a), d, rtol=1e-6)
  np.testing.assert_allclose(distance(a, a), np.zeros(2), rtol=0, atol=1e-12)  # 0 up to rounding
  assert relative_error(d, numpy_lpips(distance, lin, a, b)) < RELATIVE_TOLERANCE
  # A pair that differs more is farther apart: noise added to an image.
  noisy = np.clip(a.astype(int) + rng.integers(-60, 61, a.shape), 0, 255).astype(np.uint8)
  slightly = np.clip(a.astype(int) + rng.integers(-5, 6, a.shape), 0, 255).astype(np.uint8)
  assert np.all(np.asarray(distance(a, slightly)) < np.asarray(distance(a, noisy)))


def test_grayscale_and_input_errors(distance):
  rng = np.random.default_rng(1)
  a, b = random_images(rng, 2, 16, channels=1), random_images(rng, 2, 16, channels=1)
  np.testing.assert_array_equal(
    distance(a, b), distance(np.repeat(a, 3, axis=-1), np.repeat(b, 3, axis=-1))
  )
  with pytest.raises(
    errors.UserInputError, match=r'same shape.*\(2, 16, 16, 1\).*\(1, 16, 16, 1\)'
  ):
    distance(a, b[:1])
  with pytest.raises(errors.UserInputError, match='images_b.*uint8.*float32'):
    distance(a, b.astype(np.float32))
  with pytest.raises(errors.UserInputError, match=r'images_a.*NHWC.*\(16, 16, 1\)'):
    distance(a[0], b[0])
  with pytest.raises(errors.UserInputError, match='at least 16x16'):
    distance(a[:, :8, :8], b[:, :8, :8])


def test_weight_errors_name_the_file_and_key(weight_files, tmp_path):
  _, lin, (vgg_path, lin_path) = weight_files
  missing = {k: v for k, v in lin.items() if k != 'lin3.model.1.weight'}
  path = write_state_dict(tmp_path / 'lin_missing.pth', missing)
  with pytest.raises(
    lpips.LPIPSWeightsError, match=r"lin_missing\.pth: missing key 'lin3\.model\.1\.weight'"
  ):
    lpips.load(vgg_path, path, check_hash=False)
  wrong = {**lin, 'lin1.model.1.weight': np.ones((1, 64, 1, 1), np.float32)}
  path = write_state_dict(tmp_path / 'lin_wrong.pth', wrong)
  with pytest.raises(
    lpips.LPIPSWeightsError,
    match=r"lin_wrong\.pth: 'lin1\.model\.1\.weight' has shape \(1, 64, 1, 1\), "
    r'expected \(1, 128, 1, 1\)',
  ):
    lpips.load(vgg_path, path, check_hash=False)
  # The backbone file and the linear-layer file swapped.
  with pytest.raises(vgg16.VGG16WeightsError, match=r"lin\.pth: missing key 'features\.0\.weight'"):
    lpips.load(lin_path, vgg_path, check_hash=False)
  with pytest.raises(errors.MissingInputError, match=r'nowhere\.pth.*lpips/weights/v0\.1/vgg\.pth'):
    lpips.load(vgg_path, tmp_path / 'nowhere.pth', check_hash=False)
  assert issubclass(lpips.LPIPSWeightsError, errors.UserInputError)
  back = lpips.lin_state_dict_from_variables(
    {'params': lpips.lin_variables_from_state_dict(lin, source='x')}
  )
  for key, value in lin.items():
    np.testing.assert_array_equal(back[key], value)


# --------------------------------------------------------------------- with PyTorch


@pytest.fixture(scope='module')
def torch_lpips(tmp_path_factory):
  torch = pytest.importorskip('torch')
  pytest.importorskip('torchvision')
  lpips_package = pytest.importorskip('lpips')
  torch.set_num_threads(os.cpu_count() or 1)
  backbone = _vgg16_tests.build_torchvision_vgg16(seed=1)
  path = str(tmp_path_factory.mktemp('lpips_torch') / 'vgg16_random.pth')
  torch.save(backbone.state_dict(), path)
  # pnet_rand=True builds torchvision's vgg16 with weights=None (nothing downloaded);
  # pretrained=True loads the package's released weights/v0.1/vgg.pth lin layers.
  model = lpips_package.LPIPS(
    net='vgg', version='0.1', pretrained=True, pnet_rand=True, verbose=False
  )
  features = backbone.features.state_dict()
  with torch.no_grad():
    for name, parameter in model.net.named_parameters():  # slice<k>.<index>.weight|bias
      _, index, kind = name.split('.')
      parameter.copy_(features[f'{index}.{kind}'])
  lin_path = os.path.join(os.path.dirname(lpips_package.__file__), 'weights', 'v0.1', 'vgg.pth')
  return model.eval(), path, lin_path


@pytest.mark.torch
@pytest.mark.parametrize('size,channels', [(32, 3), (50, 3), (64, 1)])
def test_distances_match_lpips_package(torch_lpips, size, channels):
  import torch

  model, vgg_path, lin_path = torch_lpips
  distance_fn = lpips.load(vgg_path, lin_path, check_hash=False)
  rng = np.random.default_rng(size)
  a, b = random_images(rng, 3, size, channels), random_images(rng, 3, size, channels)

  def to_torch(images):  # lpips.im2tensor: uint8 / 127.5 - 1, NCHW
    x = torch.from_numpy(images.astype(np.float32) / np.float32(127.5) - 1).permute(0, 3, 1, 2)
    return x.repeat(1, 3, 1, 1) if channels == 1 else x

  with torch.no_grad():
    reference = model(to_torch(a), to_torch(b)).reshape(-1).numpy()
  ours = np.asarray(distance_fn(a, b))
  error = relative_error(ours, reference)
  print(f'{size}x{size}x{channels}: LPIPS {ours} vs {reference}, relative error {error:.2e}')
  assert np.ptp(reference) > 0.01 * np.max(reference)  # distances depend on the pair
  assert error < RELATIVE_TOLERANCE
