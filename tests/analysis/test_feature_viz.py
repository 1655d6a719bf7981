"""Feature visualisation: guided backpropagation against the rule by hand, activation
maximisation, the command on a trained run."""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from gans import configs
from gans import errors
from gans.analysis import d_features
from gans.analysis import feature_viz
from gans.data import images as image_lib
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class LinearD(nn.Module):
  """f(x) = w . x + b: flatten and one dense layer."""

  @nn.compact
  def __call__(self, x, y=None, train=False):
    return nn.Dense(1, name='logit')(x.reshape(x.shape[0], -1))[:, 0]


class TinyD(nn.Module):
  """conv 3x3 (3) -> ReLU -> conv 2x2 (2) -> ReLU -> dense, all VALID, stride 1."""

  @nn.compact
  def __call__(self, x, y=None, train=False):
    x = nn.relu(nn.Conv(3, (3, 3), padding='VALID', name='c0')(x))
    x = nn.relu(nn.Conv(2, (2, 2), padding='VALID', name='c1')(x))
    return nn.Dense(1, name='logit')(x.reshape(x.shape[0], -1))[:, 0]


def _conv(x, k, b):
  """VALID stride-1 convolution of one image x [H, W, C] with k [kh, kw, C, O] (NumPy)."""
  kh, kw = k.shape[:2]
  h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
  out = np.zeros((h, w, k.shape[-1]))
  for i in range(h):
    for j in range(w):
      out[i, j] = np.einsum('abc,abco->o', x[i : i + kh, j : j + kw], k) + b
  return out


def _conv_back(g, k, in_shape):
  """The gradient of `_conv` w.r.t. its input: g [h, w, O] -> [H, W, C]."""
  kh, kw = k.shape[:2]
  dx = np.zeros(in_shape)
  for i in range(g.shape[0]):
    for j in range(g.shape[1]):
      dx[i : i + kh, j : j + kw] += np.einsum('abco,o->abc', k, g[i, j])
  return dx


def _one_hot_at_max(a, c):
  """d max(a[..., c]) / da for a [h, w, C] (the maximum is unique for these random nets)."""
  g = np.zeros_like(a)
  i, j = np.unravel_index(np.argmax(a[..., c]), a.shape[:2])
  g[i, j, c] = 1.0
  return g


def test_guided_backprop_of_a_linear_d_equals_its_weights():
  x = np.random.default_rng(0).uniform(-1, 1, (3, 4, 4, 2)).astype(np.float32)
  module = LinearD()
  variables = module.init(jax.random.PRNGKey(0), x)
  w = np.asarray(variables['params']['logit']['kernel'])[:, 0].reshape(4, 4, 2)
  assert (w < 0).any() and (w > 0).any()  # Clamping the image's gradient would show.
  for mode in feature_viz.MODES:
    maps = feature_viz.input_gradients(module, variables, x, mode=mode)
    np.testing.assert_allclose(maps, np.broadcast_to(w, x.shape), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.sign(maps), np.broadcast_to(np.sign(w), x.shape))


def test_guided_backprop_of_a_relu_net_is_the_rule_by_hand():
  x = np.random.default_rng(1).uniform(-1, 1, (2, 5, 5, 1)).astype(np.float32)
  module = TinyD()
  params = module.init(jax.random.PRNGKey(3), x)['params']
  # Biases of 0.2: most ReLUs on, a few off (the forward mask matters).
  params = {n: dict(l, bias=l['bias'] + 0.2) if n != 'logit' else l for n, l in params.items()}
  variables = {'params': params}
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  k0, b0, k1, b1 = p['c0']['kernel'], p['c0']['bias'], p['c1']['kernel'], p['c1']['bias']
  wd = p['logit']['kernel'][:, 0].reshape(2, 2, 2)

  def by_hand(image, unit, guided):
    """d unit / d image (the logit for unit None): at each ReLU the backward signal
    times the forward mask (input > 0) and, guided, clamped to its positive part."""
    h0 = _conv(image, k0, b0)
    h1 = _conv(np.maximum(h0, 0), k1, b1)
    clamp = (lambda g: np.maximum(g, 0)) if guided else (lambda g: g)
    if unit is not None and unit.layer == 0:
      g_a0 = _one_hot_at_max(np.maximum(h0, 0), unit.channel)
    else:
      g_a1 = clamp(wd) if unit is None else _one_hot_at_max(np.maximum(h1, 0), unit.channel)
      g_a0 = clamp(_conv_back(g_a1 * (h1 > 0), k1, h0.shape))
    return _conv_back(g_a0 * (h0 > 0), k0, image.shape)

  for unit in (None, feature_viz.Unit(0, 1), feature_viz.Unit(1, 0)):
    for mode in feature_viz.MODES:
      got = feature_viz.input_gradients(module, variables, x, unit, mode)
      want = np.stack([by_hand(image, unit, mode == 'guided') for image in x])
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=f'{unit} {mode}')
  # Units given per image, the last layer as -1.
  both = feature_viz.input_gradients(
    module, variables, x, [feature_viz.Unit(0, 1), feature_viz.Unit(-1, 0)]
  )
  np.testing.assert_allclose(
    both[0], by_hand(x[0], feature_viz.Unit(0, 1), True), rtol=1e-4, atol=1e-6
  )
  np.testing.assert_allclose(
    both[1], by_hand(x[1], feature_viz.Unit(1, 0), True), rtol=1e-4, atol=1e-6
  )
  # The logit's gradient is negative somewhere above the ReLUs (the dense weights have
  # both signs); guided backpropagation clamps it there, so the two maps differ.
  assert (wd < 0).any()
  guided, plain = (
    feature_viz.input_gradients(module, variables, x, None, m) for m in feature_viz.MODES
  )
  assert np.abs(guided - plain).max() > 1e-3
  # The clamp sits at the inputs of the second convolution and of the dense layer only.
  interceptor = feature_viz.guided_interceptor(jnp.asarray(x))
  with nn.intercept_methods(interceptor):
    module.apply(variables, jnp.asarray(x))
  assert interceptor.count == 2


def test_maximisation_beats_the_best_real_image(dcgan_run):
  config, workdir = dcgan_run
  exp, state = loop.restore_latest(config, workdir)
  d = exp.modules['discriminator']
  variables = state.models['discriminator'].variables()
  real = exp.dataset.get(np.arange(200))[0]
  acts = feature_viz.channel_activations(d, variables, real)
  units = feature_viz.choose_units(acts, top_k=1)
  assert [u.layer for u in units] == [0, 1, 2]
  best = feature_viz.maximise(d, variables, units, real.shape[1:], restarts=2, steps=30)
  assert best['images'].shape == (3, 2) + real.shape[1:]
  assert np.abs(best['images']).max() <= 1.0
  top_real = np.array([acts[u.layer][:, u.channel].max() for u in units])
  # Not trivial: the start noise is below every real image's best, so the ascent climbs.
  assert np.all(best['start'] < top_real[:, None])
  assert np.all(best['reached'] > top_real[:, None])
  # `reached` is the unit's activation on the returned images.
  flat = best['images'].reshape((-1,) + real.shape[1:])
  again = feature_viz.unit_activations(d, variables, flat, [u for u in units for _ in range(2)])
  np.testing.assert_allclose(again.reshape(3, 2), best['reached'], rtol=1e-4, atol=1e-4)


def test_command_writes_both_grids_and_the_numbers(dcgan_run):
  config, workdir = dcgan_run
  numbers = feature_viz.write_figure(
    config, workdir, top_k=2, images=3, num_real=200, saliency=True, restarts=2, steps=20
  )
  out = os.path.join(workdir, 'analysis')
  saved = json.load(open(os.path.join(out, 'feature_viz.json')))
  assert saved == json.loads(json.dumps(numbers))
  w = config.discriminator.width
  assert saved['layer_shapes'] == [[16, 16, w], [8, 8, 2 * w], [4, 4, 4 * w]]
  # The units: per layer the 2 channels of highest mean activation on the 200 images
  # (drawn as documented), recomputed from D's layer representations.
  exp, state = loop.restore_latest(config, workdir)
  d = exp.modules['discriminator']
  variables = state.models['discriminator'].variables()
  index = np.sort(np.random.default_rng(0).choice(exp.dataset.num_examples, 200, replace=False))
  real = exp.dataset.get(index)[0]
  reps = d_features.layer_representations(d, variables, jnp.asarray(real))
  acts = [np.asarray(r).max((1, 2)) for r in reps]
  want = [(l, int(c)) for l in range(3) for c in np.argsort(-acts[l].mean(0))[:2]]
  assert [(u['layer'], u['channel']) for u in saved['units']] == want
  for u in saved['units']:
    a = acts[u['layer']][:, u['channel']]
    np.testing.assert_allclose(u['mean_activation'], a.mean(), rtol=1e-5)
    np.testing.assert_allclose(u['top_activations'], np.sort(a)[::-1][:3], rtol=1e-5)
    assert [int(np.searchsorted(index, i)) for i in u['top_indices']] == list(np.argsort(-a)[:3])
    assert len(u['maximised_activations']) == 2 and len(u['guided_plain_cosine']) == 3
    assert all(0 <= s <= 1 for s in u['guided_positive_share'])
  # Grids (drawn at zoom 2): 6 units; per top image: image, guided map, overlay, plain
  # map, overlay.
  guided = Image.open(numbers['figures']['guided'])
  assert guided.mode == 'RGB' and guided.size == (2 * (15 * 33 + 1), 2 * (6 * 33 + 1))
  first = np.asarray(guided)[2:66:2, 2:66:2, 0]  # The first cell, unzoomed.
  np.testing.assert_array_equal(
    first, image_lib.to_uint8(real[np.argsort(-acts[0][:, want[0][1]])[0]])[..., 0]
  )
  maximised = Image.open(numbers['figures']['maximisation'])
  assert maximised.mode == 'L' and maximised.size == (2 * (3 * 33 + 1), 2 * (6 * 33 + 1))
  assert saved['protocol']['maximisation']['steps'] == 20


def test_display_map_and_overlay():
  m = np.array([[[[0.0], [-4.0]], [[1.0], [4.0]]]], np.float32)
  np.testing.assert_allclose(feature_viz.display_map(m, gamma=1.0)[0, ..., 0], [[0, -1], [0.25, 1]])
  np.testing.assert_allclose(feature_viz.display_map(m)[0, ..., 0], [[0, -1], [0.5, 1]])
  assert not feature_viz.display_map(np.zeros((1, 2, 2, 1))).any()
  o = feature_viz.overlay(np.full((1, 2, 2, 1), -1.0), m)
  assert o.shape == (1, 2, 2, 3) and o.dtype == np.uint8
  np.testing.assert_array_equal(o[0, 0, 0], [0, 0, 0])  # Zero map: the black image.
  assert o[0, 1, 1, 0] == 255 and o[0, 0, 1, 2] == 255  # Red where positive, blue negative.


def test_other_runs_and_units_out_of_range_are_refused(dcgan_run, tmp_path):
  for arg, message in (('cgan.py', 'class-conditional'), ('ae.py', "config.family='ae'")):
    config = configs.load_config_file(os.path.join(ROOT, 'experiments', arg) + ':runlocal')
    with pytest.raises(errors.UserInputError, match=message):
      feature_viz.write_figure(config, str(tmp_path))
  assert not os.listdir(tmp_path)
  config, workdir = dcgan_run
  with pytest.raises(errors.UserInputError, match='Channel 99 is out of range: layer 2 has'):
    feature_viz.write_figure(config, workdir, layers=[-1], channels=[99], num_real=10)
  with pytest.raises(errors.UserInputError, match='Layer 3 is out of range'):
    feature_viz.write_figure(config, workdir, layers=[3], num_real=10)
