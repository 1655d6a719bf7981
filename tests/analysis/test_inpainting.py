"""Inpainting: masks, Yeh's contextual weights, Poisson blending (identity, a hand-solved
case, known pixels untouched), the baselines, the generator's own samples recovered
better than the baselines, and the command end to end."""

import json
import os

import jax
import numpy as np
from PIL import Image
import pytest

from gans import errors
from gans.analysis import inpainting
from gans.analysis import inversion
from gans.train import loop


def test_masks_centre_blocks_regions_and_pngs(tmp_path):
  centre = inpainting.make_masks('centre', 2, (32, 32))
  assert centre.shape == (2, 32, 32) and centre[0, 8:24, 8:24].all() and centre.sum() == 2 * 256
  ten = inpainting.make_masks('center', 1, (32, 32), size=10)[0]
  assert ten[11:21, 11:21].all() and ten.sum() == 100
  blocks = inpainting.make_masks('blocks', 5, (32, 32), size=4, blocks=3, seed=1)
  np.testing.assert_array_equal(blocks, inpainting.block_masks(5, 32, 32, 4, 3, seed=1))
  assert not np.array_equal(blocks[0], blocks[1])  # Positions differ per image.
  assert all(16 <= m.sum() <= 48 for m in blocks)
  top = inpainting.make_masks('top', 1, (32, 32))[0]
  assert top[:16].all() and not top[16:].any()
  assert inpainting.make_masks('0,4,2,6', 1, (8, 8))[0].sum() == 16
  png = np.zeros((32, 32, 4), np.uint8)
  png[3:5, 6:9, 0] = 255
  png[..., 3] = 255  # An opaque alpha channel does not hide anything.
  Image.fromarray(png).save(tmp_path / 'one.png')
  one = inpainting.make_masks(str(tmp_path / 'one.png'), 3, (32, 32))
  assert one.shape == (3, 32, 32) and one[:, 3:5, 6:9].all() and one.sum() == 3 * 6
  masks = tmp_path / 'masks'
  masks.mkdir()
  for i in range(2):
    Image.fromarray(np.pad(np.full((i + 1, 1), 9, np.uint8), ((0, 31 - i), (0, 31)))).save(
      masks / f'm{i}.png'
    )
  cycled = inpainting.make_masks(str(masks), 3, (32, 32))
  assert [m.sum() for m in cycled] == [1, 2, 1]
  with pytest.raises(errors.UserInputError, match="--mask='middle': use centre, blocks"):
    inpainting.make_masks('middle', 1, (32, 32))
  with pytest.raises(errors.UserInputError, match='the images are 16 x 16'):
    inpainting.make_masks(str(tmp_path / 'one.png'), 1, (16, 16))
  with pytest.raises(errors.MissingInputError, match='no such file'):
    inpainting.check_mask_spec(str(tmp_path / 'none.png'))
  with pytest.raises(errors.UserInputError, match='--size=2.5'):
    inpainting.make_masks('centre', 1, (32, 32), size=2.5)
  with pytest.raises(errors.UserInputError, match='hides every pixel'):
    inpainting.make_masks('centre', 1, (32, 32), size=32)


def test_contextual_weights_on_a_hand_made_mask():
  hidden = np.zeros((1, 6, 6), bool)
  hidden[0, 2:4, 2:4] = True  # A 2 x 2 hole.
  w = inpainting.contextual_weights(hidden, window=3)[0]
  want = np.zeros((6, 6))
  # A known pixel's weight: hidden pixels in its 3 x 3 window over 9.
  want[1, 1] = want[1, 4] = want[4, 1] = want[4, 4] = 1 / 9  # Diagonal: one hole pixel.
  want[1, 2:4] = want[4, 2:4] = want[2:4, 1] = want[2:4, 4] = 2 / 9  # Beside: two.
  np.testing.assert_allclose(w, want, rtol=0, atol=1e-7)
  # Beyond the border counts as known; |N(i)| stays window^2.
  corner = np.zeros((1, 4, 4), bool)
  corner[0, 0, 0] = True
  wc = inpainting.contextual_weights(corner, window=3)[0]
  assert wc[0, 1] == wc[1, 0] == wc[1, 1] == np.float32(1 / 9)
  assert wc.sum() == pytest.approx(3 / 9)
  np.testing.assert_array_equal(inpainting.contextual_weights(hidden, 0)[0], ~hidden[0])
  # Window 7 reaches 3 pixels out, and every pixel of this 6 x 6 image.
  assert (inpainting.contextual_weights(hidden, 7)[0][~hidden[0]] > 0).all()
  with pytest.raises(errors.UserInputError, match='--window=4'):
    inpainting.contextual_weights(hidden, 4)


def test_poisson_blend_identity_hand_solved_cases_and_known_pixels_untouched():
  rng = np.random.default_rng(0)
  image = rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
  hidden = inpainting.block_masks(4, 16, 16, size=5, count=3, seed=2)
  # An image blended into itself is the image.
  np.testing.assert_allclose(inpainting.blend(image, image, hidden), image, rtol=0, atol=1e-6)
  # Known pixels are bit-identical after blending any fill, with either method.
  fill = rng.uniform(-1, 1, image.shape).astype(np.float32)
  for method in inpainting.BLENDS:
    out = inpainting.blend(image, fill, hidden, method)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[~hidden], image[~hidden])
  np.testing.assert_array_equal(inpainting.blend(image, fill, hidden, 'none')[hidden], fill[hidden])
  # 3 x 3, centre hidden: 4 x = (sum of the known neighbours) + sum_q (g_c - g_q).
  f = np.zeros((3, 3, 1), np.float32)
  f[0, 1], f[2, 1], f[1, 0], f[1, 2] = 0.6, 0.4, -0.2, 0.0
  g = np.zeros((3, 3, 1), np.float32)
  g[1, 1], g[0, 1], g[2, 1], g[1, 0], g[1, 2] = 0.5, 0.1, -0.1, 0.3, 0.1
  centre = np.zeros((3, 3), bool)
  centre[1, 1] = True
  # (0.8 + (4 * 0.5 - 0.4)) / 4 = 0.6.
  assert inpainting.poisson_blend(f, g, centre)[1, 1, 0] == pytest.approx(0.6, abs=1e-6)
  # A 1 x 4 row, the middle two hidden, ends 0 and 0.9: a flat fill gives the straight
  # line; g = [0, 0.5, 0, 0] gives 2 x1 - x2 = 1, 2 x2 - x1 = 0.4: x = (0.8, 0.6).
  row = np.array([0.0, 9.0, 9.0, 0.9], np.float32).reshape(1, 4, 1)
  middle = np.array([[False, True, True, False]])
  flat = inpainting.poisson_blend(row, np.zeros_like(row), middle)
  np.testing.assert_allclose(flat[0, :, 0], [0.0, 0.3, 0.6, 0.9], atol=1e-6)
  spike = np.array([0.0, 0.5, 0.0, 0.0], np.float32).reshape(1, 4, 1)
  np.testing.assert_allclose(
    inpainting.poisson_blend(row, spike, middle)[0, :, 0], [0.0, 0.8, 0.6, 0.9], atol=1e-6
  )
  # The solution is clipped to the image range [-1, 1] (unclipped: x1 = 1.3).
  big = np.array([0.0, 1.0, 0.0, 0.0], np.float32).reshape(1, 4, 1)
  assert inpainting.poisson_blend(row, big, middle)[0, 1, 0] == 1.0
  assert inpainting.poisson_blend(row, big, middle, clip=None)[0, 1, 0] == pytest.approx(1.3)


def test_baselines():
  rng = np.random.default_rng(1)
  train = rng.uniform(-1, 1, (50, 8, 8, 1)).astype(np.float32)
  hidden = inpainting.make_masks('centre', 3, (8, 8))
  images = train[[7, 21, 40]] + 0.01  # Near three training images.
  fills, nearest = inpainting.baseline_fills(images, hidden, train, batch_size=16)
  np.testing.assert_array_equal(nearest, [7, 21, 40])
  np.testing.assert_array_equal(fills['nearest'][hidden], train[[7, 21, 40]][hidden])
  np.testing.assert_allclose(
    fills['train_mean'][0][hidden[0]], train.mean(0)[hidden[0]], rtol=0, atol=1e-6
  )
  np.testing.assert_allclose(
    fills['known_mean'][1][hidden[1]], images[1][~hidden[1]].mean(), rtol=0, atol=1e-6
  )
  for fill in fills.values():
    np.testing.assert_array_equal(fill[~hidden], images[~hidden])
  mse, psnr = inpainting.hidden_errors(fills['nearest'], images, hidden)
  np.testing.assert_allclose(mse, 1e-4, rtol=1e-3)
  np.testing.assert_allclose(psnr, 10 * np.log10(4 / 1e-4), rtol=1e-3)


def test_the_generators_own_samples_are_filled_better_than_the_baselines(dcgan_run):
  config, workdir = dcgan_run
  exp, state = loop.restore_latest(config, workdir)
  space = inversion.latent_space(exp, state)
  n = 6
  _, z = space.prior(jax.random.PRNGKey(3), n)
  samples = np.asarray(space.synthesize(space.variables, z, None))
  hidden = inpainting.make_masks('centre', n, (32, 32))  # The central 16 x 16.
  train = np.asarray(exp.dataset.get(np.arange(exp.dataset.num_examples))[0])
  fills, _ = inpainting.baseline_fills(samples, hidden, train)
  error = lambda fill: inpainting.hidden_errors(fill, samples, hidden)[0].mean()
  best_baseline = min(error(f) for f in fills.values())
  # The paper's loss: Yeh's weights (window 7) and the prior term of the run's D.
  d_fn, d_vars = inpainting.discriminator_logit(exp, state)
  inpainter = inpainting.make_inpainter(space, d_fn, steps=300, lr=0.1, perceptual_weight=0.003)
  weights = inpainting.contextual_weights(hidden, 7)
  _, generated, _ = inpainting.inpaint(
    space, inpainter, d_vars, samples, weights, restarts=2, key=jax.random.PRNGKey(4)
  )
  blended = inpainting.blend(samples, generated, hidden)
  np.testing.assert_array_equal(blended[~hidden], samples[~hidden])
  # Stated margin: below half the best baseline's hidden-region MSE (measured: 0.36 of
  # it; the best baseline is the known pixels' mean, as the 3-step G draws low-contrast
  # images). Yeh's weights see only a 3-pixel band around the hole, which leaves z
  # underdetermined; every known pixel (window 0) pins it down: the hole is recovered.
  assert error(blended) < 0.5 * best_baseline, (error(blended), best_baseline)
  uniform = inpainting.make_inpainter(space, None, steps=300, lr=0.1, perceptual_weight=0.0)
  z_hat, generated, _ = inpainting.inpaint(
    space, uniform, None, samples, inpainting.contextual_weights(hidden, 0), restarts=1
  )
  assert error(inpainting.blend(samples, generated, hidden)) < 1e-6 * best_baseline
  np.testing.assert_allclose(z_hat, z, rtol=0, atol=1e-3)


def test_command_writes_the_grid_and_numbers(dcgan_run):
  config, workdir = dcgan_run
  numbers = inpainting.write_figure(
    config, workdir, mask='blocks', size=6, blocks=2, num_images=3, steps=5, restarts=2
  )
  out = os.path.join(workdir, 'analysis')
  saved = json.load(open(os.path.join(out, 'inpainting.json')))
  assert saved['heldout_split'] == 'train[4500:]' and saved['protocol']['mask'] == 'blocks'
  assert saved['methods'] == list(inpainting.METHODS)
  for s in ('real', 'samples'):
    for m in inpainting.METHODS:
      assert np.isfinite(saved[s][m]['hidden_mse']) and np.isfinite(saved[s][m]['psnr'])
    assert saved[s]['best_baseline'] in inpainting.BASELINES
  rows = ('original', 'masked', *inpainting.BASELINES, 'generated', 'gan', 'gan_blended')
  assert numbers['figure_rows'] == [f'{s}: {r}' for s in ('real', 'samples') for r in rows]
  grid = np.asarray(Image.open(os.path.join(out, 'inpainting.png')))
  assert grid.shape == (16 * 33 + 1, 3 * 33 + 1, 3)
  # The masked row shows hidden pixels in colour; the others are gray.
  masked = grid[1 + 33 : 33 + 33, 1:33]
  assert (masked == inpainting.HIDDEN_COLOUR).all(-1).any()
  with pytest.raises(errors.UserInputError, match='--window=2'):
    inpainting.write_figure(config, workdir, window=2)
