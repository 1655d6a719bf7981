"""The VGG16 port: weight mapping, shapes, errors, and agreement with torchvision.

Without PyTorch, random weights are written as a `torch.save` zip archive by
`write_state_dict` below (a minimal writer of the format `gans.metrics.pth` reads) and
loaded through `vgg16.load`; fc2 is checked against a NumPy evaluation of
torchvision's classifier in torch's own (C, H, W) flattening. The `torch` group builds
`torchvision.models.vgg16(weights=None)` with random weights, saves it with
`torch.save` and compares every output with torchvision's forward pass.
"""

import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from gans import errors
from gans.metrics import pth, vgg16

# Outputs must agree with torchvision to this relative error:
# max |ours - reference| / max |reference| over the whole output.
RELATIVE_TOLERANCE = 1e-4


def relative_error(ours, reference):
  ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
  return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


# --------------------------------------------------------- torch.save without torch


def _unicode(text: str) -> bytes:
  data = text.encode('utf-8')
  return pickle.BINUNICODE + struct.pack('<I', len(data)) + data


def _int(value: int) -> bytes:
  return pickle.BININT + struct.pack('<i', value)


def _int_tuple(values) -> bytes:
  return pickle.MARK + b''.join(_int(v) for v in values) + pickle.TUPLE


def write_state_dict(path, state_dict):
  """Writes `{name: float32 array}` as `torch.save(state_dict, path)` would (zip
  layout, `_rebuild_tensor_v2` tensors, one storage per tensor), without torch."""
  prefix = 'archive/'
  pickled = [pickle.PROTO + b'\x02', pickle.EMPTY_DICT, pickle.MARK]
  records = []
  for i, (name, value) in enumerate(state_dict.items()):
    value = np.ascontiguousarray(value, dtype='<f4')
    strides = [s // 4 for s in value.strides]
    storage_id = (
      pickle.MARK
      + _unicode('storage')
      + pickle.GLOBAL
      + b'torch\nFloatStorage\n'
      + _unicode(str(i))
      + _unicode('cpu')
      + _int(value.size)
      + pickle.TUPLE
      + pickle.BINPERSID
    )
    pickled += [
      _unicode(name),
      pickle.GLOBAL + b'torch._utils\n_rebuild_tensor_v2\n',
      pickle.MARK,
      storage_id,
      _int(0),
      _int_tuple(value.shape),
      _int_tuple(strides),
      pickle.NEWFALSE,
      pickle.EMPTY_DICT,
      pickle.TUPLE,
      pickle.REDUCE,
    ]
    records.append((f'{prefix}data/{i}', value.tobytes()))
  pickled += [pickle.SETITEMS, pickle.STOP]
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as archive:
    archive.writestr(prefix + 'data.pkl', b''.join(pickled))
    archive.writestr(prefix + 'byteorder', b'little')
    for name, data in records:
      archive.writestr(name, data)
  return str(path)


def test_writer_round_trips_through_pth(tmp_path):
  rng = np.random.default_rng(0)
  state = {'a.weight': rng.standard_normal((3, 2, 3, 3), np.float32), 'b': np.arange(5.0)}
  path = write_state_dict(tmp_path / 'x.pth', state)
  back = pth.read_state_dict(path)
  assert list(back) == list(state)
  for key, value in state.items():
    np.testing.assert_array_equal(back[key], value.astype(np.float32))


# ------------------------------------------------------------------ without PyTorch


def random_state_dict(seed=0, include_classifier=True, logits=True):
  """torchvision-shaped vgg16 state dict with He-scaled random weights (activations
  stay of order one through the 15 layers) and random biases."""
  rng = np.random.default_rng(seed)
  state = {}
  in_channels = 3
  for _name, index, channels in vgg16.CONV_LAYERS:
    std = np.float32(np.sqrt(2.0 / (9 * in_channels)))
    state[f'features.{index}.weight'] = std * rng.standard_normal(
      (channels, in_channels, 3, 3), np.float32
    )
    state[f'features.{index}.bias'] = np.float32(0.1) * rng.standard_normal(channels, np.float32)
    in_channels = channels
  if include_classifier:
    shapes = [(0, 4096, 25088), (3, 4096, 4096)] + ([(6, 1000, 4096)] if logits else [])
    for index, out, fan_in in shapes:
      weight = rng.standard_normal((out, fan_in), np.float32)
      weight *= np.float32(np.sqrt(2.0 / fan_in))
      state[f'classifier.{index}.weight'] = weight
      state[f'classifier.{index}.bias'] = np.float32(0.1) * rng.standard_normal(out, np.float32)
  return state


def random_images(rng, n, size, channels=3):
  """uint8 images: a smooth colour gradient of random direction plus noise."""
  yy, xx = np.mgrid[0:size, 0:size] / size
  images = []
  for _ in range(n):
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    low, high = rng.random((2, 1, 1, channels))
    image = low + (high - low) * (ramp[:, :, None] - ramp.min()) / np.ptp(ramp)
    image = image + 0.2 * rng.standard_normal(image.shape)
    images.append(np.round(255 * np.clip(image, 0, 1)).astype(np.uint8))
  return np.stack(images)


@pytest.fixture(scope='module')
def full_weights(tmp_path_factory):
  """A full-size random vgg16 state dict (528 MB, as torchvision's) and its file."""
  state = random_state_dict()
  path = write_state_dict(tmp_path_factory.mktemp('vgg16') / 'random_vgg16.pth', state)
  return state, path


@pytest.fixture(scope='module')
def extractor(full_weights):
  _, path = full_weights
  with pytest.warns(UserWarning, match='397923af'):  # not torchvision's file
    return vgg16.load(path)


def test_state_dict_round_trip_and_layouts(full_weights, extractor):
  state, _ = full_weights
  variables = extractor.variables  # written by write_state_dict, read by vgg16.load
  params = variables['params']
  assert sorted(params) == ['classifier', 'features']
  assert sorted(params['features']) == sorted(name for name, _, _ in vgg16.CONV_LAYERS)
  np.testing.assert_array_equal(
    params['features']['conv3_2']['kernel'], state['features.12.weight'].transpose(2, 3, 1, 0)
  )
  # The fully connected layers keep torch's [out, in] layout (fc1's inputs in torch's
  # (C, H, W) flattening order); classifier.6 (the logits) is dropped.
  assert params['classifier']['fc1']['weight'].shape == (4096, 25088)
  assert np.array_equal(params['classifier']['fc2']['weight'], state['classifier.3.weight'])
  back = vgg16.state_dict_from_variables(variables)
  assert list(back) == [k for k in state if not k.startswith('classifier.6.')]
  for key, value in back.items():
    assert np.array_equal(value, state[key]), key


def test_weight_errors_name_the_file_and_key(tmp_path):
  state = random_state_dict(2, include_classifier=False)
  with pytest.raises(
    vgg16.VGG16WeightsError, match=r"my\.pth: missing key 'classifier\.0\.weight' \(and 3 more\)"
  ):
    vgg16.variables_from_state_dict(state, source='my.pth')
  features_only = vgg16.variables_from_state_dict(state, include_classifier=False)
  assert list(features_only['params']) == ['features']
  missing = {k: v for k, v in state.items() if k != 'features.19.bias'}
  with pytest.raises(vgg16.VGG16WeightsError, match=r"missing key 'features\.19\.bias'"):
    vgg16.variables_from_state_dict(missing, include_classifier=False)
  wrong = {**state, 'features.7.weight': np.zeros((128, 64, 3, 3), np.float32)}
  with pytest.raises(
    vgg16.VGG16WeightsError,
    match=r"'features\.7\.weight' has shape \(128, 64, 3, 3\), expected \(128, 128, 3, 3\)",
  ):
    vgg16.variables_from_state_dict(wrong, include_classifier=False)
  extra = {**state, 'features.1.running_mean': np.zeros(64, np.float32)}  # vgg16_bn
  with pytest.raises(vgg16.VGG16WeightsError, match=r"unexpected key 'features\.1\.running_mean'"):
    vgg16.variables_from_state_dict(extra, include_classifier=False)
  integer = {**state, 'features.0.bias': np.zeros(64, np.int64)}
  with pytest.raises(vgg16.VGG16WeightsError, match=r"'features\.0\.bias' has dtype int64"):
    vgg16.variables_from_state_dict(integer, include_classifier=False)
  nan = {**state, 'features.0.bias': np.full(64, np.nan, np.float32)}
  with pytest.raises(vgg16.VGG16WeightsError, match='non-finite'):
    vgg16.variables_from_state_dict(nan, include_classifier=False)
  # Through load(): a file whose classifier is missing, and a file that is not there.
  path = write_state_dict(tmp_path / 'features_only.pth', state)
  with pytest.raises(
    vgg16.VGG16WeightsError, match=r"features_only\.pth: missing key 'classifier\.0\.weight'"
  ):
    vgg16.load(path, check_hash=False)
  with pytest.raises(errors.MissingInputError, match=r'nowhere\.pth.*download\.pytorch\.org'):
    vgg16.load(tmp_path / 'nowhere.pth')
  assert issubclass(vgg16.VGG16WeightsError, errors.UserInputError)


def test_max_pool_and_adaptive_pool():
  x = np.arange(2 * 5 * 7 * 3, dtype=np.float32).reshape(2, 5, 7, 3)
  pooled = np.asarray(vgg16.max_pool_2x2(x))
  assert pooled.shape == (2, 2, 3, 3)  # odd sizes floor, as torch
  np.testing.assert_array_equal(pooled[:, 1, 2], x[:, 3, 5])
  y = np.random.default_rng(0).standard_normal((1, 10, 9, 2)).astype(np.float32)
  out = np.asarray(vgg16.adaptive_avg_pool(y, 7))
  # torch: output (i, j) averages rows floor(i * 10 / 7) .. ceil((i + 1) * 10 / 7) - 1,
  # columns floor(j * 9 / 7) .. ceil((j + 1) * 9 / 7) - 1.
  np.testing.assert_allclose(out[0, 3, 4], y[0, 4:6, 5:7].mean(axis=(0, 1)), rtol=1e-6)
  np.testing.assert_allclose(out[0, 6, 0], y[0, 8:10, 0:2].mean(axis=(0, 1)), rtol=1e-6)
  same = np.zeros((1, 7, 7, 2), np.float32)
  assert vgg16.adaptive_avg_pool(same) is same


def numpy_classifier(state, relu5_3):
  """torchvision's avgpool + classifier[:5] in NumPy, flattening NCHW as torch does."""
  pool5 = np.asarray(vgg16.max_pool_2x2(relu5_3), np.float64)  # [N, 7, 7, 512]
  flat = pool5.transpose(0, 3, 1, 2).reshape(len(pool5), -1)
  fc1 = np.maximum(flat @ state['classifier.0.weight'].T + state['classifier.0.bias'], 0)
  return fc1 @ state['classifier.3.weight'].T + state['classifier.3.bias']


def test_outputs_names_shapes_and_fc2(full_weights, extractor):
  state, _ = full_weights
  rng = np.random.default_rng(3)
  images = random_images(rng, 1, 224)
  out = extractor(images, outputs=('relu5_3', 'fc2', 'fc2_preact'))
  assert list(out) == ['relu5_3', 'fc2', 'fc2_preact']
  assert out['fc2'].shape == (1, 4096) and out['fc2'].dtype == np.float32
  # 224x224 inputs are not resized, so relu5_3 feeds the classifier directly.
  preact = numpy_classifier(state, out['relu5_3'])
  assert relative_error(out['fc2_preact'], preact) < RELATIVE_TOLERANCE
  np.testing.assert_array_equal(out['fc2'], np.maximum(out['fc2_preact'], 0))
  assert 0 < np.mean(np.asarray(out['fc2']) > 0) < 1  # the ReLU does something

  small = random_images(rng, 2, 32)
  features = extractor(small, outputs=vgg16.FEATURE_MAPS)
  expected = {'relu1_2': 32, 'relu2_2': 16, 'relu3_3': 8, 'relu4_3': 4, 'relu5_3': 2}
  assert list(features) == list(vgg16.FEATURE_MAPS)
  for name, size in expected.items():
    channels = vgg16.FEATURE_CHANNELS[name]
    assert features[name].shape == (2, size, size, channels), name
    assert features[name].dtype == np.float32
    assert float(np.min(features[name])) >= 0.0  # ReLU outputs
  # Feature maps are at the input's resolution (no resize): relu1_2 is two 3x3
  # convolutions of the normalised input, checked at one pixel away from the border.
  params = extractor.variables['params']['features']
  x = np.asarray(vgg16.imagenet_normalize(small.astype(np.float32) / 255), np.float64)
  k1, b1 = np.asarray(params['conv1_1']['kernel']), np.asarray(params['conv1_1']['bias'])
  k2, b2 = np.asarray(params['conv1_2']['kernel']), np.asarray(params['conv1_2']['bias'])
  i, j = 10, 20
  relu1_1 = np.stack(
    [
      [
        np.maximum(np.einsum('hwc,hwcf->f', x[0, a - 1 : a + 2, b - 1 : b + 2], k1) + b1, 0)
        for b in range(j - 1, j + 2)
      ]
      for a in range(i - 1, i + 2)
    ]
  )
  relu1_2 = np.maximum(np.einsum('hwc,hwcf->f', relu1_1, k2) + b2, 0)
  np.testing.assert_allclose(features['relu1_2'][0, i, j], relu1_2, rtol=1e-4, atol=1e-4)


def test_grayscale_is_repeated_and_inputs_are_checked(extractor):
  rng = np.random.default_rng(4)
  gray = random_images(rng, 2, 16, channels=1)
  out = extractor(gray, outputs=('relu2_2',))
  rgb = extractor(np.repeat(gray, 3, axis=-1), outputs=('relu2_2',))
  np.testing.assert_array_equal(out['relu2_2'], rgb['relu2_2'])
  with pytest.raises(errors.UserInputError, match='uint8.*float32'):
    extractor(gray.astype(np.float32))
  with pytest.raises(errors.UserInputError, match=r'NHWC.*\(16, 16, 1\)'):
    extractor(gray[0])
  with pytest.raises(errors.UserInputError, match=r'1 or 3 channels.*\(2, 16, 16, 2\)'):
    extractor(np.zeros((2, 16, 16, 2), np.uint8))
  with pytest.raises(errors.UserInputError, match='at least 16x16'):
    extractor(np.zeros((1, 8, 8, 3), np.uint8), outputs=('relu1_2',))
  with pytest.raises(errors.UserInputError, match="unknown VGG16 output.*'fc3'"):
    extractor(gray, outputs=('fc3',))


# --------------------------------------------------------------------- with PyTorch


def build_torchvision_vgg16(seed=0):
  """torchvision's vgg16 with its own random init, biases made non-zero."""
  import torch
  import torchvision

  torch.manual_seed(seed)
  net = torchvision.models.vgg16(weights=None).eval()
  with torch.no_grad():
    for module in net.modules():
      if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
        module.bias.normal_(0.0, 0.1)
  return net


def torchvision_features(net, images_uint8):
  """Reference: ImageNet-normalised ToTensor() images through torchvision's vgg16;
  the five ReLU maps on the images as given, fc2 on a bilinear resize to 224x224."""
  import torch
  import torch.nn.functional as F

  mean = torch.tensor(vgg16.IMAGENET_MEAN).view(1, 3, 1, 1)
  std = torch.tensor(vgg16.IMAGENET_STD).view(1, 3, 1, 1)
  x = torch.from_numpy(np.asarray(images_uint8)).permute(0, 3, 1, 2).float().div(255)
  if x.shape[1] == 1:
    x = x.repeat(1, 3, 1, 1)
  out = {}
  taps = {3: 'relu1_2', 8: 'relu2_2', 15: 'relu3_3', 22: 'relu4_3', 29: 'relu5_3'}
  with torch.no_grad():
    h = (x - mean) / std
    for index, layer in enumerate(net.features):
      h = layer(h)
      if index in taps:
        out[taps[index]] = h.permute(0, 2, 3, 1).numpy()
    resized = F.interpolate(x, size=(224, 224), mode='bilinear', align_corners=False)
    pooled = torch.flatten(net.avgpool(net.features((resized - mean) / std)), 1)
    out['fc2_preact'] = net.classifier[:4](pooled).numpy()
    out['fc2'] = net.classifier[:5](pooled).numpy()
  return out


@pytest.fixture(scope='module')
def torch_vgg16(tmp_path_factory):
  torch = pytest.importorskip('torch')
  pytest.importorskip('torchvision')
  torch.set_num_threads(os.cpu_count() or 1)
  net = build_torchvision_vgg16()
  path = str(tmp_path_factory.mktemp('vgg16_torch') / 'vgg16_random.pth')
  torch.save(net.state_dict(), path)
  return net, path


@pytest.fixture(scope='module')
def torch_extractor(torch_vgg16):
  return vgg16.load(torch_vgg16[1], check_hash=False)


@pytest.mark.torch
@pytest.mark.parametrize('size,channels', [(32, 3), (57, 3), (224, 3), (40, 1)])
def test_features_match_torchvision(torch_vgg16, torch_extractor, size, channels):
  net, _ = torch_vgg16
  extractor = torch_extractor
  rng = np.random.default_rng(size)
  images = random_images(rng, 2, size, channels)
  reference = torchvision_features(net, images)
  ours = extractor(images)
  assert list(ours) == list(vgg16.OUTPUTS)
  errors_ = {}
  for name, expected in reference.items():
    assert ours[name].shape == expected.shape, name
    # The outputs must depend on the image, or agreement would prove little.
    assert np.max(np.abs(expected[0] - expected[1])) > 0.01 * np.max(np.abs(expected)), name
    errors_[name] = relative_error(ours[name], expected)
  print(f'{size}x{size}x{channels}: relative errors {errors_}')
  for name, error in errors_.items():
    assert error < RELATIVE_TOLERANCE, f'{name}: {error:.2e}'


@pytest.mark.torch
def test_legacy_torch_file_loads_exactly(torch_vgg16, tmp_path):
  # torchvision's own vgg16-397923af.pth predates the zip format.
  import torch

  net, _ = torch_vgg16
  legacy = str(tmp_path / 'legacy.pth')
  torch.save(net.state_dict(), legacy, _use_new_zipfile_serialization=False)
  loaded = vgg16.state_dict_from_variables(vgg16.load(legacy, check_hash=False).variables)
  expected = {k: v.numpy() for k, v in net.state_dict().items() if not k.startswith('classifier.6')}
  assert list(loaded) == list(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(loaded[key], value, err_msg=key)
