"""Latent walks: lerp/slerp formulas, the smoothness numbers, and the command end to end."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from gans.analysis import common
from gans.analysis import interpolation
from gans.nets import dcgan
from gans.train import loop


def test_slerp_keeps_the_norm_and_turns_at_constant_speed():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 3, 16))
  b *= np.linalg.norm(a, axis=-1, keepdims=True) / np.linalg.norm(b, axis=-1, keepdims=True)
  t = np.linspace(0, 1, 7)
  path = interpolation.slerp(a, b, t)
  assert path.shape == (7, 3, 16)
  np.testing.assert_allclose(path[0], a, atol=1e-12)
  np.testing.assert_allclose(path[-1], b, atol=1e-12)
  r = np.linalg.norm(a, axis=-1)
  np.testing.assert_allclose(np.linalg.norm(path, axis=-1), np.broadcast_to(r, (7, 3)), rtol=1e-12)
  unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
  omega = np.arccos(np.sum(unit(a) * unit(b), -1))
  angle = np.arccos(np.clip(np.sum(unit(path) * unit(a), -1), -1, 1))
  np.testing.assert_allclose(angle, t[:, None] * omega, atol=1e-6)
  # The chord's midpoint is shorter: that is what slerp avoids.
  assert np.all(np.linalg.norm(interpolation.lerp(a, b, [0.5])[0], axis=-1) < r)


def test_slerp_of_unequal_norms_follows_the_coefficient_formula():
  a = np.array([3.0, 0.0, 0.0])
  b = np.array([1.0, 1.0, 0.0])  # 45 degrees from a, norm sqrt(2).
  t = np.array([0.25, 0.5, 0.75])
  omega = np.pi / 4
  s0, s1 = np.sin((1 - t) * omega) / np.sin(omega), np.sin(t * omega) / np.sin(omega)
  want = s0**2 * 9 + s1**2 * 2 + 2 * s0 * s1 * 3
  np.testing.assert_allclose(np.sum(interpolation.slerp(a, b, t) ** 2, -1), want, rtol=1e-12)
  # Parallel vectors have no great circle: the chord.
  np.testing.assert_allclose(interpolation.slerp(a, 2 * a, t), interpolation.lerp(a, 2 * a, t))


def test_smoothness_of_known_paths():
  t = np.linspace(0, 1, 5)[:, None]
  even = np.stack([t * np.array([[3.0, 4.0]])])  # Straight, evenly spaced: length 5.
  jump = np.stack([np.array([[0, 0], [0, 0], [3, 4], [3, 4], [3, 4]], float)])
  detour = np.stack([np.array([[0, 0], [0, 5], [5, 5], [5, 0], [10, 0]], float)])
  s = interpolation.path_smoothness(np.concatenate([even, jump, detour]))
  np.testing.assert_allclose(s['mean_step_ratio'], [0.25, 0.25, 0.5])  # Detour: twice as long.
  np.testing.assert_allclose(s['max_step_ratio'], [0.25, 1.0, 0.5])
  np.testing.assert_allclose(s['endpoint_distance'], [5.0, 5.0, 10.0])
  with pytest.raises(ValueError, match='T >= 2'):
    interpolation.path_smoothness(np.zeros((2, 1, 3)))


def test_generated_paths_start_and_end_at_the_endpoint_images(dcgan_run):
  config, workdir = dcgan_run
  exp, state = loop.restore_latest(config, workdir)
  gen = common.latent_generator(exp, state)
  z_a, z_b = (np.asarray(gen.draw(jax.random.PRNGKey(s), 3)) for s in (1, 2))
  for method in interpolation.METHODS:
    images = interpolation.interpolate(gen, z_a, z_b, 4, method)
    assert images.shape == (3, 4, 32, 32, 1)
    np.testing.assert_allclose(images[:, 0], gen.decode(z_a), atol=1e-5)
    np.testing.assert_allclose(images[:, -1], gen.decode(z_b), atol=1e-5)
    assert np.abs(images[:, 1] - images[:, 0]).max() > 1e-4


def test_class_interpolation_mixes_the_one_hot_input(cgan_run):
  config, workdir = cgan_run
  exp, state = loop.restore_latest(config, workdir)
  gen = common.latent_generator(exp, state)
  z = np.asarray(gen.draw(jax.random.PRNGKey(3), 2))
  images = interpolation.interpolate_classes(gen, z, [0, 4], [1, 7], 5)
  np.testing.assert_allclose(images[:, 0], gen.decode(z, [0, 4]), atol=1e-5)
  np.testing.assert_allclose(images[:, -1], gen.decode(z, [1, 7]), atol=1e-5)
  # t = 0.25 by hand: cgan.Generator's inner DCGAN net on [z, 0.75 e_y + 0.25 e_y'].
  params, collections = state.sampling_variables('generator')
  soft = 0.75 * jax.nn.one_hot(jnp.array([0, 4]), 10) + 0.25 * jax.nn.one_hot(jnp.array([1, 7]), 10)
  net = dcgan.Generator((32, 32, 1), config.generator.width)
  variables = {'params': params['net'], **{k: v['net'] for k, v in collections.items()}}
  want = net.apply(variables, jnp.concatenate([z, soft], -1), None, train=False)
  np.testing.assert_allclose(images[:, 1], np.asarray(want), atol=1e-5)


def test_class_interpolation_needs_a_conditional_generator(dcgan_run):
  exp, state = loop.restore_latest(*dcgan_run)
  gen = common.latent_generator(exp, state)
  with pytest.raises(ValueError, match='conditional generator'):
    interpolation.interpolate_classes(gen, np.zeros((1, 100)), [0], [1], 3)


def test_command_writes_figures_and_numbers(cgan_run):
  config, workdir = cgan_run
  numbers = interpolation.write_figure(config, workdir, pairs=3, steps=5, seed=1)
  out = os.path.join(workdir, 'analysis')
  saved = json.load(open(os.path.join(out, 'interpolation.json')))
  assert saved['even_step_ratio'] == 0.25 and saved['step'] == 3
  for kind in ('linear', 'spherical', 'classes'):
    png = Image.open(os.path.join(out, f'interpolation_{kind}.png'))
    assert png.size == (5 * 33 + 1, 3 * 33 + 1)
    s = saved[kind]
    # The triangle inequality: no path's mean step is below the even one; and the
    # largest step is at least the mean step.
    assert all(m >= 0.25 - 1e-9 for m in s['per_path_mean_step_ratio'])
    assert all(
      mx >= m - 1e-12 for m, mx in zip(s['per_path_mean_step_ratio'], s['per_path_max_step_ratio'])
    )
    assert s['mean_step_ratio'] == pytest.approx(np.mean(s['per_path_mean_step_ratio']))
    assert s['largest_step_ratio'] == pytest.approx(max(s['per_path_max_step_ratio']))
  assert saved['classes']['from_to'] == [[0, 1], [1, 2], [2, 3]]
  assert numbers['linear']['max_step_ratio'] == saved['linear']['max_step_ratio']
