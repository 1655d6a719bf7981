"""Memorisation checks: nearest neighbours, distance ratios, hash collisions, the command."""

import json
import os

import numpy as np
from PIL import Image
import pytest

from gans import configs
from gans import data
from gans import errors
from gans.analysis import memorisation
from gans.train import loop


def test_nearest_neighbours_equal_a_brute_force_search():
  rng = np.random.default_rng(0)
  queries, reference = rng.normal(size=(23, 6)), rng.normal(size=(40, 6))
  brute = np.linalg.norm(queries[:, None] - reference[None], axis=-1)
  want = np.argsort(brute, axis=1)[:, :4]
  for chunk in (None, 5):  # Several row chunks, and one.
    idx, dist = memorisation.nearest_neighbours(queries, reference, 4, chunk_size=chunk)
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_allclose(dist, np.take_along_axis(brute, want, 1), rtol=1e-10)
  idx, _ = memorisation.nearest_neighbours(queries, reference, 40)
  np.testing.assert_array_equal(idx, np.argsort(brute, axis=1))
  with pytest.raises(ValueError, match='k=41'):
    memorisation.nearest_neighbours(queries, reference, 41)


def test_collision_counts_of_duplicated_codes():
  codes = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 0], [1, 0, 1], [0, 0, 0], [0, 1, 0]], bool)
  assert memorisation.collisions(codes) == dict(
    pairs=4, colliding=5, unique=3, n=6, constant_bits=0
  )
  assert memorisation.collisions(codes[:3])['constant_bits'] == 1  # Bit 1 is always 0.
  assert memorisation.cross_collisions(codes, codes[:1]) == 3
  assert memorisation.cross_collisions(codes[5:], codes[:5]) == 0


def test_default_heldout_split():
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  c = configs.load_config_file(os.path.join(root, 'experiments', 'dcgan.py'))
  c.train_split = 'train[:4000]'
  assert memorisation.default_heldout_split(c) == 'train[4500:]'
  c.train_split = 'train'
  with pytest.raises(errors.UserInputError, match="--heldout_split .* 'train\\[:4000\\]'"):
    memorisation.default_heldout_split(c)
  c.dataset = 'cifar10'
  assert memorisation.default_heldout_split(c) == 'test'


def test_ratio_is_zero_for_copies_and_near_one_for_heldout_reals(dcgan_run):
  config, workdir = dcgan_run
  exp, state = loop.restore_latest(config, workdir)
  heldout = data.load(config, 'train[4500:]').get(np.arange(500))[0]
  # A "generator" that returns training images.
  copies = exp.dataset.get(np.arange(0, 4000, 8))[0]
  _, numbers = memorisation.analyse(exp, state, heldout, generated=copies, show=2, k=3)
  for space in ('pixels', 'features'):
    assert numbers[space]['median_ratio'] == 0.0 and numbers[space]['mean_ratio'] == 0.0
    assert numbers[space]['copy_fraction'] == 1.0
  # ... its shown samples are their own nearest neighbours (training image 8 i).
  assert [n[0] for n in numbers['shown']['pixel_neighbours']] == [0, 8]
  assert numbers['shown']['pixel_distances'][0][0] == 0.0
  # New real images, as a "generator": as far from the training set as held-out ones.
  fresh = data.load(config, 'train[4000:4500]').get(np.arange(500))[0]
  _, numbers = memorisation.analyse(exp, state, heldout, generated=fresh, show=2, k=3)
  for space in ('pixels', 'features'):
    assert 0.9 < numbers[space]['median_ratio'] < 1.1, (space, numbers[space])
    assert numbers[space]['copy_fraction'] < 0.05


def test_hash_collisions_of_duplicated_images(dcgan_run, hash_ae_run):
  config, _ = dcgan_run
  encode = memorisation.hash_encoder(*hash_ae_run, (32, 32, 1))
  images = data.load(config, 'train[4500:]').get(np.arange(6))[0]
  distinct = memorisation.hash_codes(encode, images, batch_size=4)
  assert distinct.shape == (6, 128) and distinct.any()
  assert memorisation.collisions(distinct)['unique'] == 6  # The six digits hash apart.
  dup = memorisation.hash_codes(encode, images[[0, 1, 0, 2, 0, 1, 3, 4, 5]], batch_size=4)
  np.testing.assert_array_equal(dup, distinct[[0, 1, 0, 2, 0, 1, 3, 4, 5]])
  counts = memorisation.collisions(dup)
  assert {k: counts[k] for k in ('pairs', 'colliding', 'unique', 'n')} == dict(
    pairs=4, colliding=5, unique=6, n=9
  )
  assert memorisation.cross_collisions(dup, distinct[:1]) == 3
  with pytest.raises(errors.UserInputError, match='must be an ae run'):
    memorisation.hash_encoder(config, 'unused', (32, 32, 1))


def test_command_writes_figure_and_numbers(dcgan_run, hash_ae_run):
  config, workdir = dcgan_run
  numbers = memorisation.write_figure(
    config,
    workdir,
    num_samples=64,
    k=2,
    show=3,
    hash_config=hash_ae_run[0],
    hash_workdir=hash_ae_run[1],
  )
  out = os.path.join(workdir, 'analysis')
  saved = json.load(open(os.path.join(out, 'memorisation.json')))
  assert saved == json.loads(json.dumps(numbers))
  assert saved['heldout_split'] == 'train[4500:]' and saved['train_split'] == 'train[:4000]'
  assert (saved['num_generated'], saved['num_train'], saved['num_heldout']) == (64, 4000, 500)
  # An untrained generator's noise is nowhere near the digits: ratio above 1.
  assert saved['pixels']['median_ratio'] > 1.0
  h = saved['hash']
  assert h['bits'] == 128 and h['generated']['n'] == 64 and h['train']['n'] == 4000
  assert h['constant_bits'] == h['train']['constant_bits']
  assert 0 <= h['generated_in_train'] <= 64
  assert h['heldout_in_train_fraction'] == h['heldout_in_train'] / 500
  # Rows: sample, blank, 2 pixel neighbours, blank, 2 feature neighbours.
  assert Image.open(os.path.join(out, 'memorisation.png')).size == (7 * 33 + 1, 3 * 33 + 1)
  with pytest.raises(errors.UserInputError, match='both --hash_config and --hash_workdir'):
    memorisation.write_figure(config, workdir, hash_config=hash_ae_run[0])
