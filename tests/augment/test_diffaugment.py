"""DiffAugment (gans/augment/diffaugment.py) and its `augment` switch in the GAN and
StyleGAN2 steps."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import configs
from gans import data
from gans import parallel
from gans.augment import diffaugment as da
from gans.train import experiment
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _images(n=64, h=16, w=16, c=3, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (n, h, w, c), jnp.float32, -1.0, 1.0)


def test_policy_is_parsed_into_the_order_of_application():
  assert da.parse_policy('cutout, color') == ('color', 'cutout')
  assert da.parse_policy('') == ()
  with pytest.raises(ValueError, match=r"config.augment='color,flip'.*'flip'"):
    da.parse_policy('color,flip')
  with pytest.raises(ValueError, match='twice'):
    da.parse_policy('cutout,cutout')


def test_shift_equals_numpy_with_zero_padding():
  x = np.asarray(_images(n=4, h=8, w=8))
  dy, dx = np.array([0, 2, -3, 9]), np.array([1, -1, 0, 0])
  got = np.asarray(da.shift(jnp.asarray(x), jnp.asarray(dy), jnp.asarray(dx)))
  want = np.zeros_like(x)
  for n in range(4):
    for i in range(8):
      for j in range(8):
        if 0 <= i + dy[n] < 8 and 0 <= j + dx[n] < 8:
          want[n, i, j] = x[n, i + dy[n], j + dx[n]]
  np.testing.assert_array_equal(got, want)


def test_translation_moves_by_at_most_an_eighth_and_covers_the_range():
  ones = jnp.ones((512, 32, 32, 1))
  out = np.asarray(da.translation(jax.random.PRNGKey(1), ones))
  zero_rows = (out[:, :, :, 0] == 0).all(axis=2).sum(axis=1)
  zero_cols = (out[:, :, :, 0] == 0).all(axis=1).sum(axis=1)
  # s = int(32 / 8 + 0.5) = 4: shifts in [-4, 4] leave 0..4 zero rows and columns.
  assert set(zero_rows.tolist()) == set(range(5))
  assert set(zero_cols.tolist()) == set(range(5))


def test_cutout_zeroes_one_square_of_half_the_size_clipped_to_the_image():
  mask = np.asarray(da.cutout_mask(jax.random.PRNGKey(2), (2000, 16, 16, 1)))[..., 0]
  sizes = set()
  for m in mask:
    rows, cols = np.nonzero(m == 0)
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert len(rows) == h * w  # One axis-aligned rectangle.
    assert h <= 8 and w <= 8
    sizes.add((h, w))
  assert (8, 8) in sizes and (4, 4) in sizes  # Whole squares and corner quarters.
  assert set(mask.ravel().tolist()) == {0.0, 1.0}


def test_color_transforms_follow_their_definitions():
  x = _images(n=256)
  key = jax.random.PRNGKey(3)
  b = np.asarray(da.brightness(key, x) - x)
  per_image = b.reshape(len(b), -1)
  np.testing.assert_allclose(per_image, per_image[:, :1] * np.ones_like(per_image), atol=1e-6)
  assert per_image.min() >= -0.5 and per_image.max() <= 0.5 and np.ptp(per_image[:, 0]) > 0.8
  # Saturation keeps each pixel's channel mean and is the identity on one channel.
  s = da.saturation(key, x)
  np.testing.assert_allclose(np.mean(s, -1), np.mean(x, -1), atol=1e-5)
  gray = x[..., :1]
  np.testing.assert_allclose(da.saturation(key, gray), gray, atol=1e-6)
  # Contrast keeps the image mean and scales deviations from it by U(0.5, 1.5).
  c = np.asarray(da.contrast(key, x))
  xm = np.asarray(x)
  np.testing.assert_allclose(c.mean((1, 2, 3)), xm.mean((1, 2, 3)), atol=1e-5)
  dev_x = xm - xm.mean((1, 2, 3), keepdims=True)
  factor = (c - c.mean((1, 2, 3), keepdims=True))[:, 0, 0, 0] / dev_x[:, 0, 0, 0]
  assert 0.5 <= factor.min() and factor.max() <= 1.5


def test_gradient_flows_through_the_augmentation():
  x = _images(n=8)
  key = jax.random.PRNGKey(4)
  g = jax.grad(lambda v: jnp.sum(da.translation(key, v)))(x)
  # d/dx of the sum of a shifted image: 1 where a pixel stays inside, 0 where it leaves.
  kept = np.asarray(da.translation(key, jnp.ones_like(x)))
  moved_back = np.asarray(jax.grad(lambda v: jnp.sum(da.translation(key, v) * kept))(x))
  np.testing.assert_array_equal(np.asarray(g), moved_back)
  assert 0 < np.asarray(g).sum() < g.size
  full = jax.grad(lambda v: jnp.sum(da.diff_augment(key, v, 'color,translation,cutout') ** 2))(x)
  assert np.isfinite(np.asarray(full)).all() and np.abs(np.asarray(full)).sum() > 0


def test_empty_policy_is_the_identity_and_non_images_are_refused():
  x = _images(n=2)
  assert da.diff_augment(jax.random.PRNGKey(0), x, '') is x
  with pytest.raises(ValueError, match=r'\[N, H, W, C\]'):
    da.diff_augment(jax.random.PRNGKey(0), jnp.zeros((4, 2)), 'color')


def _gan_config(augment):
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', 'wgan_gp.py') + ':runlocal')
  config.augment = augment
  config.r1 = 1.0  # R1 and the gradient penalty both through the augmentation.
  config.g_optimizer = configs.optimizer('sgd', lr=0.05)
  config.d_optimizer = configs.optimizer('sgd', lr=0.05)
  return config


def _steps(config, mesh, batches):
  exp = experiment.build(config, mesh=mesh)
  state = exp.init()
  for i, batch in enumerate(batches):
    state, metrics = exp.steps[exp.phase(i)](state, parallel.to_global(batch, mesh, 1))
  return state, metrics


def _batches(config, n=2):
  ds = data.load(config, split=config.train_split)
  mesh = parallel.make_mesh(jax.devices()[:1])
  group = experiment.build(config, mesh=mesh).batch_group
  it = data.Batches(ds, config.batch_size, config.seed, group=group)
  out = [next(it)[1] for _ in range(n)]
  it.close()
  return out


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def test_gan_step_with_diffaugment_runs_the_same_on_one_and_eight_devices():
  config = _gan_config('color,translation,cutout')
  batches = _batches(config)
  one, m1 = _steps(config, parallel.make_mesh(jax.devices()[:1]), batches)
  eight, m8 = _steps(config, parallel.make_mesh(jax.devices()), batches)
  plain, m0 = _steps(_gan_config(''), parallel.make_mesh(jax.devices()[:1]), batches)
  for name in ('generator', 'discriminator'):
    for a, b in zip(_leaves(one.models[name].params), _leaves(eight.models[name].params)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
  assert np.isfinite(float(m1['r1'])) and np.isfinite(float(m1['gp']))
  # The augmentation changes what D sees, hence the penalties and the updates.
  assert abs(float(m1['r1']) - float(m0['r1'])) > 1e-6
  differs = [
    np.abs(a - b).max() > 1e-6
    for a, b in zip(
      _leaves(one.models['generator'].params), _leaves(plain.models['generator'].params)
    )
  ]
  assert any(differs)


def test_unknown_policy_and_toy_data_are_refused():
  config = _gan_config('colour')
  with pytest.raises(ValueError, match="config.augment='colour'"):
    experiment.build(config, mesh=parallel.make_mesh(jax.devices()[:1]))
  toy = configs.load_config_file(os.path.join(ROOT, 'experiments', 'gan.py') + ':runlocal')
  toy.dataset = 'ring8'
  toy.generator = configs.net('mlp')
  toy.discriminator = configs.net('mlp')
  toy.augment = 'translation'
  with pytest.raises(ValueError, match='needs an image dataset'):
    experiment.build(toy, mesh=parallel.make_mesh(jax.devices()[:1]))


@pytest.mark.slow
def test_stylegan2_trains_with_diffaugment(tmp_path):
  config = configs.load_config_file(
    os.path.join(ROOT, 'experiments', 'stylegan2.py') + ':runlocal=True'
  )
  config.augment = 'color,translation,cutout'
  state = loop.train(config, str(tmp_path / 'aug'))
  assert int(state.step) == config.total_steps
  lines = open(tmp_path / 'aug' / 'metrics.jsonl').read().splitlines()
  assert lines and 'r1' in lines[-1]
  config.augment = ''
  plain = loop.train(config, str(tmp_path / 'plain'))
  a = _leaves(state.models['discriminator'].params)
  b = _leaves(plain.models['discriminator'].params)
  assert all(np.isfinite(x).all() for x in a)
  assert any(np.abs(x - y).max() > 1e-6 for x, y in zip(a, b))
