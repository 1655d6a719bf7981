"""ADA (gans/augment/ada.py), its p heuristic and the `ada` switch (gans/augment/policy.py)
in the GAN, StyleGAN2 and VAE-GAN steps."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gans import configs
from gans import data
from gans import parallel
from gans.augment import ada
from gans.augment import policy
from gans.train import experiment
from gans.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _images(n=8, size=8, c=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (n, size, size, c)).astype(np.float32)


def _int(v, n):
  return jnp.full((n,), v, jnp.int32)


@pytest.mark.parametrize('channels', [1, 3])
def test_p_zero_is_the_identity(channels):
  x = _images(c=channels)
  out = ada.augment(jax.random.PRNGKey(0), jnp.asarray(x), 0.0, 'bgc')
  np.testing.assert_array_equal(np.asarray(out), x)


def test_blitting_equals_numpy_flip_rotation_and_mirrored_translation():
  x = _images(n=3)
  z = _int(0, 3)
  for k in range(4):
    out = ada.blit(jnp.asarray(x), z, _int(k, 3), z, z)
    np.testing.assert_array_equal(np.asarray(out), np.rot90(x, k, axes=(1, 2)))
  out = ada.blit(jnp.asarray(x), _int(1, 3), z, z, z)
  np.testing.assert_array_equal(np.asarray(out), x[:, :, ::-1])
  # out(p) = x(p - t) with torch's 'reflect' padding (the edge pixel not repeated).
  padded = np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)), mode='reflect')
  out = ada.blit(jnp.asarray(x), z, z, _int(2, 3), _int(-3, 3))
  np.testing.assert_array_equal(np.asarray(out), padded[:, 6:14, 1:9])


def _pil_affine(image, g_inv):
  """PIL's bilinear affine resampling of a 2D float image by a centred g_inv."""
  h, w = image.shape
  a = np.asarray(g_inv, np.float64)
  c = np.array([w / 2.0, h / 2.0])
  # PIL maps output pixel coordinates (centres at +0.5) to input ones, origin top-left.
  offset = a[:2, 2] + c - a[:2, :2] @ c
  data = (a[0, 0], a[0, 1], offset[0], a[1, 0], a[1, 1], offset[1])
  out = Image.fromarray(image, mode='F').transform((w, h), Image.AFFINE, data, Image.BILINEAR)
  return np.asarray(out)


@pytest.mark.parametrize(
  'name, g_inv',
  [
    ('scale', np.diag([1 / 1.3, 1 / 1.3, 1.0])),
    ('rotate', [[np.cos(0.7), -np.sin(0.7), 0], [np.sin(0.7), np.cos(0.7), 0], [0, 0, 1]]),
    ('aniso', np.diag([1 / 1.2, 1.2, 1.0])),
    ('xfrac', [[1, 0, -1.37], [0, 1, 0.61], [0, 0, 1]]),
  ],
)
def test_geometric_resampling_equals_pil_away_from_the_border(name, g_inv):
  image = np.random.default_rng(1).uniform(0, 1, (16, 16)).astype(np.float32)
  got = np.asarray(ada.resample(jnp.asarray(image[None, :, :, None]), jnp.asarray([g_inv])))
  want = _pil_affine(image, g_inv)
  # Compare where the source point and its bilinear neighbours lie inside the image
  # (the padding differs: PIL fills, ADA mirrors).
  ys, xs = np.meshgrid(np.arange(16) - 7.5, np.arange(16) - 7.5, indexing='ij')
  src = np.einsum(
    'ij,jhw->ihw', np.asarray(g_inv, np.float64), np.stack([xs, ys, np.ones_like(xs)])
  )
  inside = (np.abs(src[0]) < 7.45) & (np.abs(src[1]) < 7.45)
  assert inside.sum() > 80, name
  np.testing.assert_allclose(got[0, :, :, 0][inside], want[inside], atol=2e-5)


def test_colour_matrices_equal_numpy():
  x = _images(n=2, size=4)
  v = np.array([1, 1, 1, 0]) / np.sqrt(3)
  theta = 0.9
  # Rotation about the luma axis (Rodrigues), then saturation x 2 and brightness + 0.1.
  k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
  rot = np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k
  vv = np.outer(v[:3], v[:3])
  m = (vv + (np.eye(3) - vv) * 2.0) @ rot
  c = np.eye(4)
  c[:3, :3] = m
  c[:3, 3] = 0.1
  got = np.asarray(ada.apply_color(jnp.asarray(x), jnp.asarray(np.stack([c, c]), jnp.float32)))
  want = np.einsum('ij,nhwj->nhwi', m, x) + 0.1
  np.testing.assert_allclose(got, want, atol=1e-5)
  # Grayscale: the mean row; luma flip (I - 2 v v^T) negates a gray image.
  flip = np.eye(4) - 2 * np.outer(v, v)
  gray = x[..., :1]
  got = np.asarray(
    ada.apply_color(jnp.asarray(gray), jnp.asarray(np.stack([flip, flip]), jnp.float32))
  )
  np.testing.assert_allclose(got, -gray, atol=1e-6)


def _single(op, x, p=1.0, seed=0):
  return np.asarray(ada.augment(jax.random.PRNGKey(seed), jnp.asarray(x), p, (op,)))


def test_blitting_draws_every_outcome_exactly():
  x = _images(n=400, size=8, seed=2)
  out = _single('xflip', x)
  same = np.all(out == x, axis=(1, 2, 3))
  flipped = np.all(out == x[:, :, ::-1], axis=(1, 2, 3))
  assert np.all(same | flipped) and 0.35 < flipped.mean() < 0.65
  out = _single('rotate90', x)
  turns = [np.all(out == np.rot90(x, k, axes=(1, 2)), axis=(1, 2, 3)) for k in range(4)]
  assert np.all(np.any(turns, axis=0)) and all(t.mean() > 0.15 for t in turns)
  out = _single('xint', x)
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode='reflect')
  # round(U(-0.125, 0.125) * 8) is in {-1, 0, 1} per axis.
  seen = set()
  for ty in (-1, 0, 1):
    for tx in (-1, 0, 1):
      shifted = padded[:, 1 - ty : 9 - ty, 1 - tx : 9 - tx]
      hit = np.all(out == shifted, axis=(1, 2, 3))
      seen |= set(np.flatnonzero(hit))
  assert len(seen) == len(x)


def test_colour_transforms_draw_the_papers_parameters():
  x = _images(n=4000, size=4, seed=3)
  b = _single('brightness', x) - x
  assert np.allclose(b, b[:, :1, :1, :1], atol=1e-5)  # one offset per image
  assert abs(np.std(b[:, 0, 0, 0]) - 0.2) < 0.01
  c = _single('contrast', x) / x
  assert np.allclose(c, c[:, :1, :1, :1], rtol=1e-3)
  assert abs(np.std(np.log2(c[:, 0, 0, 0])) - 0.5) < 0.03
  flipped = _single('lumaflip', x[..., :1])
  neg = np.all(np.isclose(flipped, -x[..., :1], atol=1e-6), axis=(1, 2, 3))
  assert 0.45 < neg.mean() < 0.55
  # Hue and saturation keep the luma (the mean over channels) of every pixel.
  for op in ('hue', 'saturation'):
    out = _single(op, x[:50])
    np.testing.assert_allclose(out.mean(-1), x[:50].mean(-1), atol=1e-5)
    assert np.abs(out - x[:50]).max() > 0.1


def test_each_transform_is_applied_with_probability_p():
  x = _images(n=4000, size=8, seed=4)
  for op, rate in (('xflip', 0.5), ('scale', 1.0), ('brightness', 1.0), ('rotate', 1.0)):
    out = _single(op, x, p=0.3, seed=5)
    changed = np.any(np.abs(out - x) > 1e-6, axis=(1, 2, 3)).mean()
    # xflip changes the image half the time it is selected; rotate is applied before
    # or after the anisotropic scaling with 1 - sqrt(1 - p) each: p in all.
    assert abs(changed - 0.3 * rate) < 0.03, (op, changed)


@pytest.mark.parametrize('op', ada.PIPELINES['bgc'])
def test_gradients_flow_through_every_transform(op):
  x = jnp.asarray(_images(n=4, size=8))
  weights = jnp.asarray(_images(n=4, size=8, seed=9))
  grad = jax.grad(lambda v: jnp.sum(ada.augment(jax.random.PRNGKey(3), v, 1.0, (op,)) * weights))(x)
  grad = np.asarray(grad)
  assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
  # Not the identity's gradient: the transform is in the path (xflip may draw no flip;
  # brightness is an offset, its Jacobian the identity).
  if op not in ('xflip', 'brightness'):
    assert np.abs(grad - np.asarray(weights)).max() > 1e-4


def test_p_moves_towards_the_target_at_the_papers_speed():
  # 64 reals judged; kimg 500: p moves by 64 / 500k per adjustment.
  up, rt = ada.adjust_p(jnp.float32(0.2), 48.0, 64, 0.6, 500.0)
  assert float(rt) == 0.75 and np.isclose(float(up), 0.2 + 64 / 500_000)
  down, _ = ada.adjust_p(jnp.float32(0.2), 0.0, 64, 0.6, 500.0)
  assert np.isclose(float(down), 0.2 - 64 / 500_000)
  assert float(ada.adjust_p(jnp.float32(0.0), -64.0, 64, 0.6, 500.0)[0]) == 0.0
  assert float(ada.adjust_p(jnp.float32(1.0), 64.0, 64, 0.6, 500.0)[0]) == 1.0


def test_adaptive_switch_adjusts_every_interval_steps_and_resets_its_statistics():
  config = configs.base_config()
  config.ada = configs.ada(mode='adaptive', p=0.5, interval=2, kimg=1.0)
  aug = policy.Augmentation(config)
  extras = aug.init_extras()
  logits = jnp.ones((10,))  # r_t = 1 > 0.6: p goes up.
  extras, m = aug.observe(extras, logits)
  assert float(m['r_t']) == 1.0
  extras, m = aug.update(extras, jnp.int32(0))  # after step 1 of 2: not yet
  assert float(m['ada_p']) == 0.5 and float(extras['ada_count']) == 10
  extras, _ = aug.observe(extras, -logits)  # r_t over both batches: 0
  extras, m = aug.update(extras, jnp.int32(1))
  assert np.isclose(float(m['ada_p']), 0.5 - 20 / 1000)
  assert float(extras['ada_count']) == 0 and float(extras['ada_signs']) == 0
  fixed = configs.base_config()
  fixed.ada = configs.ada(mode='fixed', p=0.3)
  aug = policy.Augmentation(fixed)
  extras, _ = aug.observe(aug.init_extras(), logits)
  extras, m = aug.update(extras, jnp.int32(3))
  assert np.isclose(float(m['ada_p']), 0.3)


def _gan_config(**ada_kwargs):
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', 'wgan_gp.py') + ':runlocal')
  config.ada = configs.ada(**ada_kwargs)
  return config


def test_gan_step_with_ada_runs_the_same_on_one_and_eight_devices():
  # r_t's sign sum spans the batch split over devices; p moves after every step here.
  config = _gan_config(mode='adaptive', p=0.3, kimg=0.1, interval=1)
  exp1 = experiment.build(config, mesh=parallel.make_mesh(jax.devices()[:1]))
  exp8 = experiment.build(config, mesh=parallel.make_mesh(jax.devices()))
  ds = data.load(config, split=config.train_split)
  it = data.Batches(ds, config.batch_size, config.seed, group=exp1.batch_group)
  batches = [next(it)[1] for _ in range(2)]
  it.close()
  states = []
  for exp in (exp1, exp8):
    state = exp.init()
    for i, batch in enumerate(batches):
      state, _ = exp.steps[exp.phase(i)](state, parallel.to_global(batch, exp.mesh, 1))
    states.append(jax.device_get(state))
  one, eight = states
  assert float(one.extras['ada_p']) == float(eight.extras['ada_p']) != 0.3
  for a, b in zip(
    jax.tree.leaves(one.models['discriminator'].params),
    jax.tree.leaves(eight.models['discriminator'].params),
  ):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bad_ada_settings_are_refused_naming_the_key():
  mesh = parallel.make_mesh(jax.devices()[:1])
  for kwargs, match in (
    (dict(mode='adaptiv'), r"config.ada.mode='adaptiv'"),
    (dict(mode='fixed', p=1.5), r'config.ada.p must be in \[0, 1\]'),
    (dict(mode='adaptive', pipeline='bgcfnc'), r"config.ada.pipeline='bgcfnc'"),
    (dict(mode='adaptive', kimg=0.0), 'config.ada.kimg must be positive'),
  ):
    with pytest.raises(ValueError, match=match):
      experiment.build(_gan_config(**kwargs), mesh=mesh)
  both = _gan_config(mode='adaptive')
  both.augment = 'translation'
  with pytest.raises(ValueError, match='switch one off'):
    experiment.build(both, mesh=mesh)
  toy = configs.load_config_file(os.path.join(ROOT, 'experiments', 'gan.py') + ':runlocal')
  toy.dataset = 'ring8'
  toy.generator = configs.net('mlp')
  toy.discriminator = configs.net('mlp')
  toy.ada = configs.ada(mode='fixed', p=0.2)
  with pytest.raises(ValueError, match='config.ada needs an image dataset'):
    experiment.build(toy, mesh=mesh)


@pytest.mark.parametrize(
  'spec, extra',
  [
    ('wgan_gp.py', {}),
    ('vae_gan.py', {}),
    ('vae_gan.py', {'augment': 'color,translation,cutout'}),
    pytest.param('stylegan2.py', {}, marks=pytest.mark.slow),
  ],
)
def test_families_train_with_ada_and_log_p_and_rt(spec, extra, tmp_path):
  config = configs.load_config_file(os.path.join(ROOT, 'experiments', spec) + ':runlocal=True')
  config.total_steps = 4
  if extra:
    config.augment = extra['augment']
  else:
    # Fast enough to move p in 4 steps; target -1 makes every r_t push it up.
    config.ada = configs.ada(mode='adaptive', p=0.1, target=-1.0, kimg=0.5, interval=2)
  state = loop.train(config, str(tmp_path))
  rows = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  assert rows and int(state.step) == 4
  if extra:
    return
  assert 'ada_p' in rows[-1] and -1.0 <= rows[-1]['r_t'] <= 1.0
  assert float(state.extras['ada_p']) > 0.1
