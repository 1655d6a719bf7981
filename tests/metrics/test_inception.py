"""The FID InceptionV3 port against pytorch-fid, and its weight mapping.

The first group needs no PyTorch (resize formula, pooling, key mapping, error
messages). The `torch` group builds pytorch-fid's FID network with random weights,
saves it with `torch.save` in both formats, loads the files with our PyTorch-free
loader and compares features with pytorch-fid's own forward pass.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.metrics import inception, pth

# pool3 and logits must agree with pytorch-fid to this relative error:
# max |ours - reference| / max |reference| over the whole [N, D] output.
RELATIVE_TOLERANCE = 1e-4


def relative_error(ours, reference):
  ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
  return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


# ------------------------------------------------------------------ without PyTorch


def test_resize_upsampling_matches_half_pixel_formula():
  # align_corners=False, 2 -> 4: samples at -0.25 (clamped to 0), 0.25, 0.75, 1.25.
  x = jnp.asarray([[[[10.0], [20.0]]]])  # [1, 1, 2, 1]
  y = inception.resize_bilinear(x, (1, 4))
  np.testing.assert_allclose(np.asarray(y)[0, 0, :, 0], [10.0, 12.5, 17.5, 20.0], rtol=1e-6)


def test_resize_downsampling_does_not_antialias():
  # 4 -> 2 samples at 0.5 and 2.5: the mean of pixel pairs, not a wider filter
  # (jax.image.resize's default antialiasing would mix in the neighbours).
  x = jnp.asarray([[[[0.0], [4.0], [8.0], [100.0]]]])
  y = inception.resize_bilinear(x, (1, 2))
  np.testing.assert_allclose(np.asarray(y)[0, 0, :, 0], [2.0, 54.0], rtol=1e-6)
  antialiased = jax.image.resize(x, (1, 1, 2, 1), 'bilinear')
  assert not np.allclose(np.asarray(antialiased), np.asarray(y))


def test_resize_same_size_is_identity():
  x = jax.random.uniform(jax.random.key(0), (2, 5, 7, 3))
  np.testing.assert_array_equal(inception.resize_bilinear(x, (5, 7)), x)


def test_average_pool_excludes_padding():
  x = np.arange(20, dtype=np.float32).reshape(1, 4, 5, 1)
  pooled = np.asarray(inception._avg_pool_exclude_pad(jnp.asarray(x)))
  expected = np.zeros_like(x)
  for i in range(4):
    for j in range(5):
      expected[0, i, j, 0] = x[0, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2, 0].mean()
  np.testing.assert_allclose(pooled, expected, rtol=1e-6)


def test_max_pool_equals_reduce_window():
  x = jax.random.normal(jax.random.key(1), (2, 9, 8, 3))
  for stride, padding in ((2, 0), (1, 1)):
    pad = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    expected = jax.lax.reduce_window(
      x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, stride, stride, 1), pad
    )
    np.testing.assert_array_equal(inception._max_pool(x, stride, padding), expected)


@pytest.mark.parametrize(
  'kernel,strides,padding',
  [
    ((1, 1), (1, 1), 0),  # -> a matrix product
    ((3, 3), (1, 1), 0),  # unpadded -> padded at the end, cropped
    ((3, 3), (2, 2), 0),
    ((3, 3), (2, 2), 1),  # odd sizes with stride 2
    ((1, 7), (1, 1), (0, 3)),
  ],
)
def test_cpu_convolution_forms_equal_the_plain_convolution(kernel, strides, padding):
  x = jax.random.normal(jax.random.key(2), (2, 11, 10, 5))
  w = jax.random.normal(jax.random.key(3), kernel + (5, 4))
  ph, pw = (padding, padding) if isinstance(padding, int) else padding
  pads = ((ph, ph), (pw, pw))
  plain = jax.lax.conv_general_dilated(
    x, w, strides, pads, dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=inception.HIGHEST
  )
  for forms in (True, False):
    out = inception.conv2d(x, w, strides, pads, cpu_forms=forms)
    assert out.shape == plain.shape
    np.testing.assert_allclose(out, plain, rtol=1e-5, atol=1e-5)


def test_pool_branch_pools_after_its_1x1_convolution():
  """avg_pool_input: conv(pool(x)) computed as pool(conv(x)), equal up to rounding."""
  x = jax.random.normal(jax.random.key(4), (2, 7, 7, 6))
  reordered = inception.BasicConv2d(4, 1, avg_pool_input=True)
  variables = reordered.init(jax.random.key(5), x)
  plain = inception.BasicConv2d(4, 1).apply(variables, inception._avg_pool_exclude_pad(x))
  np.testing.assert_allclose(reordered.apply(variables, x), plain, rtol=1e-5, atol=1e-6)


def test_preprocess_range_size_and_grayscale():
  gray = np.array([[0, 255], [255, 0]], np.uint8)[None, :, :, None]
  x = np.asarray(inception.preprocess(gray))
  assert x.shape == (1, 299, 299, 3)
  assert x.min() == -1.0 and x.max() == 1.0
  np.testing.assert_array_equal(x[..., 0], x[..., 2])
  with pytest.raises(TypeError, match='uint8'):
    inception.preprocess(gray.astype(np.float32))


def random_variables(seed=0):
  """Random Flax variables of the right shapes (no network evaluation)."""
  shapes = inception._abstract_variables()
  leaves, treedef = jax.tree_util.tree_flatten(shapes)
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_unflatten(
    treedef, [rng.standard_normal(leaf.shape).astype(np.float32) for leaf in leaves]
  )


def test_state_dict_round_trip_and_layouts():
  variables = random_variables()
  state = inception.state_dict_from_variables(variables)
  # 94 BasicConv2d (conv weight; bn weight, bias, running mean, running var) + fc.
  assert len(state) == 5 * 94 + 2
  conv = state['Conv2d_1a_3x3.conv.weight']
  assert conv.shape == (32, 3, 3, 3)  # OIHW
  np.testing.assert_array_equal(
    conv.transpose(2, 3, 1, 0), variables['params']['Conv2d_1a_3x3']['conv']['kernel']
  )
  assert state['fc.weight'].shape == (1008, 2048)
  assert state['Mixed_7c.branch3x3dbl_3b.conv.weight'].shape == (384, 384, 3, 1)
  assert state['Mixed_6b.branch7x7_2.conv.weight'].shape == (128, 128, 1, 7)
  back = inception.variables_from_state_dict(
    {**state, 'Conv2d_1a_3x3.bn.num_batches_tracked': np.array(0)}
  )
  for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(variables)):
    np.testing.assert_array_equal(a, b)


def test_state_dict_errors_name_the_key():
  state = inception.state_dict_from_variables(random_variables())
  missing = dict(state)
  del missing['Mixed_6c.branch7x7_2.conv.weight']
  with pytest.raises(
    inception.InceptionWeightsError, match=r"missing key 'Mixed_6c\.branch7x7_2\.conv\.weight'"
  ):
    inception.variables_from_state_dict(missing, source='my.pth')
  extra = {**state, 'AuxLogits.fc.weight': np.zeros((1008, 768), np.float32)}
  with pytest.raises(
    inception.InceptionWeightsError, match=r"unexpected key 'AuxLogits\.fc\.weight'"
  ):
    inception.variables_from_state_dict(extra)
  bad = {**state, 'Mixed_7b.branch_pool.bn.running_var': np.ones(191, np.float32)}
  with pytest.raises(
    inception.InceptionWeightsError,
    match=r"my\.pth: 'Mixed_7b\.branch_pool\.bn\.running_var' has shape \(191,\), expected \(192,\)",
  ):
    inception.variables_from_state_dict(bad, source='my.pth')


def test_missing_weights_say_where_to_get_them(monkeypatch, tmp_path):
  monkeypatch.delenv(inception.WEIGHTS_ENV_VAR, raising=False)
  with pytest.raises(FileNotFoundError) as info:
    inception.load()
  assert inception.FID_WEIGHTS_URL in str(info.value)
  assert inception.WEIGHTS_ENV_VAR in str(info.value)
  absent = str(tmp_path / 'nowhere.pth')
  monkeypatch.setenv(inception.WEIGHTS_ENV_VAR, absent)
  with pytest.raises(FileNotFoundError, match='nowhere.pth') as info:
    inception.load()
  assert inception.FID_WEIGHTS_URL in str(info.value)


# --------------------------------------------------------------------- with PyTorch


def random_images(rng, n, size, channels=3):
  """uint8 test images that differ in structure: a sinusoidal grating of random
  frequency, direction and colours plus noise of random strength."""
  yy, xx = np.mgrid[0:size, 0:size] / size
  images = []
  for _ in range(n):
    angle, phase = rng.uniform(0, 2 * np.pi, 2)
    frequency = rng.uniform(0.5, 4.0)
    grating = 0.5 + 0.5 * np.sin(
      2 * np.pi * frequency * (np.cos(angle) * xx + np.sin(angle) * yy) + phase
    )
    low, high = rng.random((2, 1, 1, channels))
    image = low + (high - low) * grating[:, :, None]
    image = image + rng.uniform(0.0, 0.3) * rng.standard_normal(image.shape)
    images.append(np.round(255 * np.clip(image, 0, 1)).astype(np.uint8))
  return np.stack(images)


def build_pytorch_fid_network(seed=0):
  """pytorch-fid's FID InceptionV3 with random weights, as `fid_inception_v3` builds
  it (torchvision Inception3 + FID blocks) but without downloading weights.

  Conv weights are N(0, 1/fan_in); BN affine parameters random (weight U(0.5, 1.5),
  bias N(0, 0.2)); BN running statistics are set from one calibration batch of
  test-like images (train-mode forward with cumulative averaging) and then
  perturbed (mean + 0.05 std N(0, 1), variance x U(0.9, 1.1)), so activations stay
  O(1) in eval mode (pool3 values up to ~30); fc weight N(0, 1/2048), bias N(0, 1).
  """
  import torch

  from gans.metrics import torch_reference

  torch.manual_seed(seed)
  net = torch_reference.fid_inception_network()
  with torch.no_grad():
    for module in net.modules():
      if isinstance(module, torch.nn.Conv2d):
        fan_in = module.weight[0].numel()
        module.weight.normal_(0.0, fan_in**-0.5)
      elif isinstance(module, torch.nn.BatchNorm2d):
        module.weight.uniform_(0.5, 1.5)
        module.bias.normal_(0.0, 0.2)
        module.momentum = None  # running stats := average over batches seen
        module.reset_running_stats()
    net.fc.weight.normal_(0.0, 2048**-0.5)
    net.fc.bias.normal_(0.0, 1.0)
    net.train()
    rng = np.random.default_rng(seed)
    calibration = torch.cat(
      [pytorch_fid_input(random_images(rng, 2, size)) for size in (32, 64, 299)]
    )
    pytorch_fid_blocks(net)(calibration)
    for module in net.modules():
      if isinstance(module, torch.nn.BatchNorm2d):
        std = module.running_var.sqrt()
        module.running_mean.add_(0.05 * std * torch.randn_like(std))
        module.running_var.mul_(torch.empty_like(std).uniform_(0.9, 1.1))
  return net.eval()


def pytorch_fid_blocks(net):
  """The module sequence of pytorch-fid's `InceptionV3` up to pool3 (block 3)."""
  import torch.nn as tnn

  return tnn.Sequential(
    net.Conv2d_1a_3x3,
    net.Conv2d_2a_3x3,
    net.Conv2d_2b_3x3,
    tnn.MaxPool2d(kernel_size=3, stride=2),
    net.Conv2d_3b_1x1,
    net.Conv2d_4a_3x3,
    tnn.MaxPool2d(kernel_size=3, stride=2),
    net.Mixed_5b,
    net.Mixed_5c,
    net.Mixed_5d,
    net.Mixed_6a,
    net.Mixed_6b,
    net.Mixed_6c,
    net.Mixed_6d,
    net.Mixed_6e,
    net.Mixed_7a,
    net.Mixed_7b,
    net.Mixed_7c,
    tnn.AdaptiveAvgPool2d(output_size=(1, 1)),
  )


def pytorch_fid_input(images_uint8):
  """uint8 NHWC -> `ToTensor()` scaling -> pytorch-fid's resize and normalization."""
  import torch
  import torch.nn.functional as F

  x = torch.from_numpy(np.asarray(images_uint8)).permute(0, 3, 1, 2).float().div(255)
  if x.shape[1] == 1:
    x = x.repeat(1, 3, 1, 1)
  x = F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False)
  return 2 * x - 1


def pytorch_fid_features(net, images_uint8):
  """Reference: pytorch-fid's `InceptionV3(resize_input=True, normalize_input=True)`
  forward on `ToTensor()`-scaled images (uint8 / 255), plus torchvision's fc.

  Returns (pool3 [N, 2048], logits [N, 1008], logits without bias) as NumPy.
  """
  import torch

  with torch.no_grad():
    pool3 = pytorch_fid_blocks(net)(pytorch_fid_input(images_uint8)).flatten(1)
    logits = net.fc(pool3)
    unbiased = pool3 @ net.fc.weight.T
  return pool3.numpy(), logits.numpy(), unbiased.numpy()


@pytest.fixture(scope='module')
def torch_network(tmp_path_factory):
  torch = pytest.importorskip('torch')
  pytest.importorskip('torchvision')
  pytest.importorskip('pytorch_fid')
  torch.set_num_threads(os.cpu_count() or 1)
  net = build_pytorch_fid_network()
  directory = tmp_path_factory.mktemp('fid_inception')
  paths = {'zip': str(directory / 'random_zip.pth'), 'legacy': str(directory / 'random_legacy.pth')}
  torch.save(net.state_dict(), paths['zip'])
  torch.save(net.state_dict(), paths['legacy'], _use_new_zipfile_serialization=False)
  return net, paths


@pytest.mark.torch
def test_both_file_formats_load_exactly(torch_network):
  net, paths = torch_network
  expected = {k: v.numpy() for k, v in net.state_dict().items()}
  for path in paths.values():
    state = pth.read_state_dict(path)
    assert list(state) == list(expected)
    for key, value in expected.items():
      assert state[key].dtype == value.dtype, key
      np.testing.assert_array_equal(state[key], value, err_msg=key)


@pytest.mark.torch
def test_resize_matches_torch_interpolate():
  torch = pytest.importorskip('torch')
  import torch.nn.functional as F

  rng = np.random.default_rng(1)
  for (h, w), size in [
    ((32, 32), (299, 299)),
    ((64, 48), (299, 299)),
    ((512, 400), (299, 299)),
    ((300, 301), (299, 299)),
    ((7, 5), (3, 11)),
  ]:
    x = rng.random((2, h, w, 3), np.float32)
    reference = F.interpolate(
      torch.from_numpy(x).permute(0, 3, 1, 2), size=size, mode='bilinear', align_corners=False
    ).permute(0, 2, 3, 1)
    ours = inception.resize_bilinear(jnp.asarray(x), size)
    np.testing.assert_allclose(
      np.asarray(ours), reference.numpy(), rtol=0, atol=1e-6, err_msg=f'{(h, w)} -> {size}'
    )


@pytest.fixture(scope='module')
def extractors(torch_network):
  _, paths = torch_network
  return {fmt: inception.load(path, check_hash=False) for fmt, path in paths.items()}


@pytest.mark.torch
@pytest.mark.parametrize('size,channels', [(32, 3), (64, 3), (299, 3), (48, 1)])
def test_features_match_pytorch_fid(torch_network, extractors, size, channels):
  net, _ = torch_network
  rng = np.random.default_rng(size)
  images = random_images(rng, 3, size, channels)
  pool3_ref, logits_ref, unbiased_ref = pytorch_fid_features(net, images)
  # The features must depend on the image, or agreement would prove little.
  assert np.max(np.abs(pool3_ref[0] - pool3_ref[1])) > 0.05 * np.max(np.abs(pool3_ref))
  for fmt, extractor in extractors.items():
    pool3, logits, unbiased = extractor(images, unbiased_logits=True)
    assert pool3.shape == (3, 2048) and pool3.dtype == jnp.float32
    assert logits.shape == (3, 1008) and logits.dtype == jnp.float32
    errors = {
      'pool3': relative_error(pool3, pool3_ref),
      'logits': relative_error(logits, logits_ref),
      'logits_unbiased': relative_error(unbiased, unbiased_ref),
    }
    print(f'{fmt} {size}x{size}x{channels}: relative errors {errors}')
    for name, error in errors.items():
      assert error < RELATIVE_TOLERANCE, f'{fmt} {name}: {error:.2e}'
    default = extractor(images)
    assert len(default) == 2
    np.testing.assert_array_equal(default[0], pool3)


@pytest.mark.torch
def test_bad_weight_files_name_the_key(torch_network, tmp_path):
  import torch

  net, _ = torch_network
  state = net.state_dict()
  missing = {k: v for k, v in state.items() if k != 'Mixed_6c.branch7x7_2.conv.weight'}
  path = str(tmp_path / 'missing.pth')
  torch.save(missing, path)
  with pytest.raises(
    inception.InceptionWeightsError,
    match=r"missing\.pth: missing key 'Mixed_6c\.branch7x7_2\.conv\.weight'",
  ):
    inception.load(path, check_hash=False)
  wrong = dict(state)
  wrong['Mixed_5b.branch5x5_2.conv.weight'] = torch.zeros(64, 48, 3, 3)
  path = str(tmp_path / 'wrong.pth')
  torch.save(wrong, path, _use_new_zipfile_serialization=False)
  with pytest.raises(
    inception.InceptionWeightsError,
    match=r"wrong\.pth: 'Mixed_5b\.branch5x5_2\.conv\.weight' has shape "
    r'\(64, 48, 3, 3\), expected \(64, 48, 5, 5\)',
  ):
    inception.load(path, check_hash=False)


@pytest.mark.torch
def test_load_from_environment_variable(torch_network, extractors, monkeypatch):
  _, paths = torch_network
  monkeypatch.setenv(inception.WEIGHTS_ENV_VAR, paths['legacy'])
  with pytest.warns(UserWarning, match="not pytorch-fid's"):
    extractor = inception.load()
  assert extractor.weights_path == paths['legacy'] and not extractor.is_official_weights
  for a, b in zip(
    jax.tree_util.tree_leaves(extractor.variables),
    jax.tree_util.tree_leaves(extractors['zip'].variables),
  ):
    np.testing.assert_array_equal(a, b)
