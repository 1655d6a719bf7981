"""Forgetting an object (DCGAN Fig. 6): the layer tap, masks, the regression, the numbers,
and the command end to end."""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image
import pytest

from gans import errors
from gans.analysis import common
from gans.analysis import forgetting
from gans.nets import fast_conv
from gans.train import loop


class _Tiny(nn.Module):
  """dense -> 4x4x6 -> ConvTranspose to 8x8x5 -> ReLU -> Conv to 8x8x1 -> tanh."""

  @nn.compact
  def __call__(self, z, y=None, train=False):
    del y, train
    x = nn.Dense(4 * 4 * 6, name='project')(z).reshape(z.shape[0], 4, 4, 6)
    x = fast_conv.ConvTranspose(5, (3, 3), strides=(2, 2), padding='SAME', name='up')(x)
    return jnp.tanh(nn.Conv(1, (3, 3), name='out')(nn.relu(x)))


@pytest.fixture(scope='module')
def tiny():
  z = jax.random.normal(jax.random.PRNGKey(0), (3, 7))
  variables = _Tiny().init(jax.random.PRNGKey(1), z)
  p = variables['params']
  apply_fn = lambda z, y: _Tiny().apply(variables, z, y)
  project = nn.Dense(96).apply({'params': p['project']}, z).reshape(3, 4, 4, 6)
  up = nn.ConvTranspose(5, (3, 3), strides=(2, 2), padding='SAME')
  hidden = nn.relu(up.apply({'params': p['up']}, project))
  out = lambda h: jnp.tanh(nn.Conv(1, (3, 3)).apply({'params': p['out']}, h))
  return apply_fn, z, project, hidden, out


def test_the_tap_reads_each_conv_input_and_zeroes_the_dropped_channels(tiny):
  apply_fn, z, project, hidden, out = tiny
  found = forgetting.conv_layers(apply_fn, z)
  assert [(d['name'], d['kind']) for d in found] == [('up', 'ConvTranspose'), ('out', 'Conv')]
  assert [d['input_shape'] for d in found] == [(3, 4, 4, 6), (3, 8, 8, 5)]
  assert [d['output_shape'] for d in found] == [(3, 8, 8, 5), (3, 8, 8, 1)]
  for layer, want in ((0, project), (1, hidden)):
    images, features = forgetting.generate(apply_fn, z, None, layer)
    assert features.shape == found[layer]['input_shape']
    np.testing.assert_allclose(features, want, atol=1e-6)
    np.testing.assert_array_equal(images, apply_fn(z, None))
  # Dropping maps 1 and 3 of the hidden layer = the last conv on those channels zeroed.
  keep = forgetting.keep_mask(5, [1, 3])
  assert keep.tolist() == [True, False, True, False, True]
  images, _ = forgetting.generate(apply_fn, z, None, 1, keep)
  np.testing.assert_allclose(images, out(hidden * keep), atol=1e-6)
  assert np.abs(images - out(hidden)).max() > 1e-4
  # Per location: map 2 zeroed in the top half of the grid only.
  cells = np.zeros((8, 8), bool)
  cells[:4] = True
  keep = forgetting.keep_mask(5, [2], cells)
  assert keep.shape == (8, 8, 5) and keep.sum() == 8 * 8 * 5 - 4 * 8
  images, _ = forgetting.generate(apply_fn, z, None, 1, keep)
  np.testing.assert_allclose(images, out(hidden * keep), atol=1e-6)
  # Dropping nothing leaves every output bit for bit, eagerly and jitted.
  for fn in (forgetting.generate, jax.jit(forgetting.generate, static_argnums=(0, 3))):
    images, _ = fn(apply_fn, z, None, 1, np.ones(5, bool))
    np.testing.assert_array_equal(images, forgetting.generate(apply_fn, z, None, 1)[0])
  np.testing.assert_array_equal(
    forgetting.generate(apply_fn, z, None, 1, np.ones(5, bool))[0], apply_fn(z, None)
  )


def test_layer_indices(tiny):
  apply_fn, z, *_ = tiny
  found = forgetting.conv_layers(apply_fn, z)
  assert forgetting.resolve_layer(found, -1) == 1
  assert forgetting.resolve_layer(found, -2) == 0
  with pytest.raises(errors.UserInputError, match='use -2 to 1'):
    forgetting.resolve_layer(found, 2)
  with pytest.raises(errors.UserInputError, match='no convolutional layers'):
    forgetting.resolve_layer([], -1)
  with pytest.raises(errors.UserInputError, match='no layer 5'):
    forgetting.generate(apply_fn, z, None, 5)


def test_other_families_and_options_are_refused_before_restoring(tmp_path):
  config = ml_collections.ConfigDict(dict(family='vae_gan'))
  with pytest.raises(errors.UserInputError, match="family='vae_gan'.*gan family"):
    forgetting.write_figure(config, str(tmp_path))
  with pytest.raises(errors.UserInputError, match='--where=.*: use all or region'):
    forgetting.write_figure(config, str(tmp_path), where='inside')
  assert not os.path.exists(tmp_path / 'analysis')


def test_masks_are_brought_to_the_grid_by_area():
  mask = np.zeros((1, 4, 4), bool)
  mask[0, 0, :3] = True  # Top-left cell: 2 of 4 pixels; top-right: 1 of 4.
  mask[0, 2:, 2:] = True  # Bottom-right cell: all 4.
  mask[0, 3, 0] = True  # Bottom-left cell: 1 of 4.
  cells, frac = forgetting.resize_mask(mask, (2, 2))
  np.testing.assert_allclose(frac[0], [[0.5, 0.25], [0.25, 1.0]])
  assert cells[0].tolist() == [[False, False], [False, True]]  # More than half.
  cells, _ = forgetting.resize_mask(mask, (2, 2), cell_fraction=0.25)
  assert cells[0].tolist() == [[True, False], [False, True]]
  cells, _ = forgetting.resize_mask(mask, (2, 2), cell_fraction=0.0)  # Max-pooling.
  assert cells[0].all()
  # 5 pixels into 2 cells: bins [0, 3) and [2, 5) overlap on the middle pixel.
  odd = np.zeros((1, 5, 5), bool)
  odd[0, 2, 2] = True
  _, frac = forgetting.resize_mask(odd, (2, 2))
  np.testing.assert_allclose(frac[0], np.full((2, 2), 1 / 9))
  with pytest.raises(ValueError, match='finer'):
    forgetting.resize_mask(mask, (8, 8))


def test_regions_and_the_stroke_mask():
  assert forgetting.region_box('top', 32, 32) == (0, 16, 0, 32)
  assert forgetting.region_box('right', 32, 32) == (0, 32, 16, 32)
  assert forgetting.region_box(' 2,10,4,8', 32, 32) == (2, 10, 4, 8)
  for bad in ('middle', '1,2,3', '5,2,0,4', '-1,2,0,4', 'a,b,c,d'):
    with pytest.raises(errors.UserInputError, match='use top, bottom, left, right'):
      forgetting.region_spec(bad)
  with pytest.raises(errors.UserInputError, match='leaves the 32 x 32 image'):
    forgetting.region_box('0,40,0,8', 32, 32)
  images = -np.ones((2, 4, 4, 1), np.float32)
  images[0, 0, 0] = images[0, 3, 3] = 0.5  # Brightness 0.75: strokes.
  images[1, 1, 1] = -0.2  # Brightness 0.4: below the threshold.
  mask = forgetting.stroke_mask_fn((0, 2, 0, 4), 0.5)(images)
  assert mask.sum() == 1 and mask[0, 0, 0]  # (3, 3) is outside the region.


def test_the_regression_finds_the_map_that_equals_the_mask():
  rng = np.random.default_rng(0)
  labels = rng.random((60, 8, 8)) < 0.2
  features = np.maximum(rng.normal(size=(60, 8, 8, 12)), 0).astype(np.float32)
  features[..., 7] = labels  # Map 7 is the mask; the others are noise.
  fit = forgetting.fit_probe(features[:40], labels[:40], (features[40:], labels[40:]))
  assert int(np.argmax(fit['weights'])) == 7
  dropped = forgetting.maps_to_drop(fit['weights'])
  assert dropped[0] == 7 and np.all(fit['weights'][dropped] > 0)
  assert set(dropped) == set(np.flatnonzero(fit['weights'] > 0))
  assert forgetting.maps_to_drop(fit['weights'], max_drop=1).tolist() == [7]
  assert fit['heldout']['auc'] > 0.999 and fit['train']['auc'] > 0.999
  assert fit['heldout']['locations'] == 20 * 64
  assert fit['heldout']['positives'] == labels[40:].sum()
  assert np.all(np.sign(fit['raw_weights']) == np.sign(fit['weights']))
  with pytest.raises(errors.UserInputError, match='mark no location'):
    forgetting.fit_probe(features, np.zeros(labels.shape, bool))


def test_ink_and_forgetting_numbers_of_hand_made_images():
  region = np.zeros((4, 4), bool)
  region[:2] = True
  before = -np.ones((2, 4, 4, 1), np.float32)
  before[:, 0, :] = 1.0  # 4 stroke pixels in the region of each sample...
  before[:, 3, :2] = 1.0  # ...and 2 outside.
  after = before.copy()
  after[0, 0, :] = -1.0  # Sample 0 forgets its strokes in the region.
  got = forgetting.ink(after, region, 0.5, before)
  assert got['region_ink'] == pytest.approx(4 / 16)  # 16 region pixels over 2 samples.
  assert got['outside_ink'] == pytest.approx(4 / 16)
  assert got['region_change'] == pytest.approx(4 / 16) and got['outside_change'] == 0
  fraction, counted = forgetting.forgotten_fraction(before, after, region)
  assert (fraction, counted) == (0.5, 2)
  numbers = forgetting.forgetting_numbers(before, after, [before, before], region)
  f = numbers['forgetting']
  assert f['region_ink_retained'] == pytest.approx(0.5)
  assert f['outside_ink_retained'] == pytest.approx(1.0)
  assert f['region_vs_outside'] == pytest.approx(0.5)
  assert f['random_region_ink_retained'] == pytest.approx(1.0)
  assert f['region_vs_random'] == pytest.approx(0.5)
  assert f['forgotten_fraction'] == 0.5 and f['random_forgotten_fraction'] == 0.0
  assert numbers['random']['draws'] == 2 and numbers['random']['region_ink_std'] == 0


def test_command_writes_figure_and_consistent_numbers(dcgan_run):
  config, workdir = dcgan_run
  numbers = forgetting.write_figure(
    config, workdir, threshold=0.3, num_fit=12, num_eval=8, random_draws=2, show=4
  )
  out = os.path.join(workdir, 'analysis')
  saved = json.load(open(os.path.join(out, 'forgetting.json')))
  assert saved['step'] == 3 and saved['figure'] == numbers['figure']
  png = Image.open(os.path.join(out, 'forgetting.png'))
  assert png.size == (4 * 33 + 1, 4 * 33 + 1) and png.mode == 'RGB'
  # The runlocal DCGAN G (width 8): up0, up1, out; the default is the input of `out`.
  assert [d['name'] for d in saved['layers']] == ['up0', 'up1', 'out']
  assert saved['layer']['index'] == 2 and saved['layer']['feature_shape'] == [16, 16, 8]
  assert saved['layers'][2]['input_shape'] == saved['layer']['feature_shape']
  assert saved['region'] == [0, 16, 0, 32]
  weights = np.array(saved['fit']['weights'])
  assert len(weights) == saved['channels'] == 8
  dropped = saved['dropped']
  assert dropped['count'] == saved['positive_weights'] == np.sum(weights > 0)
  assert sorted(dropped['maps']) == np.flatnonzero(weights > 0).tolist()
  assert len(saved['random_maps']) == 2
  for maps in saved['random_maps']:
    assert len(set(maps)) == dropped['count'] and all(0 <= m < 8 for m in maps)
  assert saved['fit']['train']['locations'] == 12 * 16 * 16
  assert saved['fit']['heldout']['locations'] == 8 * 16 * 16
  assert 0 < saved['fit']['train']['positives'] < 12 * 16 * 16
  for key in ('region_ink', 'outside_ink', 'region_strokes', 'outside_strokes'):
    for part in ('original', 'learned', 'random'):
      assert 0 <= saved[part][key] <= 1
  f = saved['forgetting']
  assert f['region_ink_retained'] == pytest.approx(
    saved['learned']['region_ink'] / saved['original']['region_ink']
  )
  assert f['region_vs_random'] == pytest.approx(
    f['region_ink_retained'] / f['random_region_ink_retained']
  )
  assert f['samples_with_strokes_in_region'] <= 8


def test_regional_drop_and_user_masks(dcgan_run, tmp_path):
  config, workdir = dcgan_run
  exp, state = loop.restore_latest(config, workdir)
  gen = common.latent_generator(exp, state)
  kwargs = dict(layer=-2, threshold=0.3, num_fit=8, num_eval=6, random_draws=1)
  out = forgetting.forget(gen, region='bottom', where='region', max_drop=2, **kwargs)
  numbers = out['numbers']
  assert numbers['layer']['name'] == 'up1' and numbers['layer']['feature_shape'] == [8, 8, 16]
  assert numbers['dropped']['count'] <= 2 and numbers['dropped']['cells'] == 4 * 8
  # Zeroed in the bottom half of the grid only: the top rows far from it keep their pixels.
  np.testing.assert_allclose(out['learned'][:, :8], out['original'][:, :8], atol=1e-6)
  assert np.abs(out['learned'] - out['original']).max() > 1e-4 or not numbers['dropped']['count']
  # User masks: a .npz of latents and masks (the left half), the last quarter held out.
  z = np.asarray(gen.draw(jax.random.PRNGKey(5), 8))
  mask = np.zeros((8, 32, 32), bool)
  mask[:, :, :16] = True
  np.savez(tmp_path / 'masks.npz', z=z, mask=mask)
  user = forgetting.load_masks(str(tmp_path / 'masks.npz'), (32, 32))
  out = forgetting.forget(gen, masks=user, **kwargs)
  assert out['numbers']['num_fit'] == 6 and out['numbers']['num_eval'] == 2
  assert out['numbers']['mask'] == 'user masks' and out['numbers']['region'] is None
  np.testing.assert_allclose(out['original'], gen.decode(z[6:]), atol=1e-5)
  with pytest.raises(errors.UserInputError, match='user masks give no rectangle'):
    forgetting.forget(gen, masks=user, where='region')
  # The annotation set round-trips through a directory of painted masks.
  directory = forgetting.write_annotation_set(gen, str(tmp_path / 'paint'), 3, seed=5)
  for i in range(3):
    painted = np.zeros((32, 32), np.uint8)
    painted[i : i + 4] = 255
    Image.fromarray(painted).save(os.path.join(directory, f'mask_{i:04d}.png'))
  loaded = forgetting.load_masks(directory, (32, 32))
  np.testing.assert_array_equal(loaded['z'], np.asarray(gen.draw(jax.random.PRNGKey(5), 3)))
  assert loaded['mask'].sum((1, 2)).tolist() == [128, 128, 128] and loaded['y'] is None
  with pytest.raises(errors.UserInputError, match='must be'):
    forgetting.load_masks(directory, (28, 28))


def test_a_conditional_generator_draws_class_i_mod_k(cgan_run):
  exp, state = loop.restore_latest(*cgan_run)
  gen = common.latent_generator(exp, state)
  out = forgetting.forget(gen, threshold=0.3, num_fit=8, num_eval=12, random_draws=1, seed=2)
  assert [d['name'] for d in out['numbers']['layers']] == ['net/up0', 'net/up1', 'net/out']
  z_eval = np.asarray(gen.draw(jax.random.split(jax.random.PRNGKey(2))[1], 12))
  want = gen.decode(z_eval, np.arange(12) % 10)
  np.testing.assert_allclose(out['original'], want, atol=1e-5)
  assert out['numbers']['protocol']['classes'] == 'i mod K'
