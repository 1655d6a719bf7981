"""Vector arithmetic on group-mean latents: means, predicates, and the command end to end."""

import json
import os

import numpy as np
from PIL import Image
import pytest

from gans import errors
from gans.analysis import arithmetic
from gans.analysis import common
from gans.train import loop


def test_group_means_average_the_first_members():
  z = np.arange(12.0).reshape(6, 2)
  masks = np.array([[1, 0, 1, 0, 1, 1], [0, 1, 0, 1, 0, 0]], bool)
  means, indices = arithmetic.group_means(z, masks, 2)
  np.testing.assert_array_equal(indices, [[0, 2], [1, 3]])
  np.testing.assert_allclose(means, [[2.0, 3.0], [4.0, 5.0]])
  np.testing.assert_allclose(arithmetic.combine([[1, 2], [3, 5], [10, 20]]), [8, 17])
  with pytest.raises(errors.UserInputError, match=r"Group b \('7-'\) has 2 members among 6"):
    arithmetic.group_means(z, masks, 3, names=['a', "Group b ('7-')"])


def test_group_predicates_split_by_label_and_brightness():
  images = np.stack([np.full((2, 2, 1), v) for v in (-0.8, -0.2, 0.0, 0.6, 0.9, -1.0)])
  logits = np.eye(3)[[1, 1, 2, 1, 2, 1]]
  outs = {'logits': logits}
  check = lambda spec: np.flatnonzero(arithmetic.group_predicate(spec)(images, outs)).tolist()
  assert check('1') == [0, 1, 3, 5]
  assert check('1+') == [1, 3]  # Brightness 0.4 and 0.8 above label 1's median 0.25.
  assert check('1-') == [0, 5]
  assert check('*') == [0, 1, 2, 3, 4, 5]
  assert check('*+') == [2, 3, 4]
  with pytest.raises(errors.UserInputError, match='not one of the 3 classes'):
    check('7')
  with pytest.raises(errors.UserInputError, match="e.g. '7\\+'"):
    arithmetic.group_predicate('seven')
  with pytest.raises(errors.UserInputError, match='no class logits'):
    arithmetic.group_predicate('1')(images, {'features': np.zeros((6, 2))})


def test_identical_groups_give_their_mean(dcgan_run):
  exp, state = loop.restore_latest(*dcgan_run)
  gen = common.latent_generator(exp, state)
  net = common.feature_network(exp.config, exp.dataset)
  every_other = lambda images, outs: np.arange(len(images)) % 2 == 0
  out = arithmetic.arithmetic(gen, [every_other] * 3, net, candidates=16, per_group=4)
  np.testing.assert_array_equal(out['indices'], [[0, 2, 4, 6]] * 3)
  mean = out['z'][[0, 2, 4, 6]].mean(0)
  np.testing.assert_allclose(out['result'], mean, rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(out['means'], [mean] * 3)
  centre = out['result_images'][4]
  np.testing.assert_allclose(centre, gen.decode(mean[None])[0], atol=1e-5)
  np.testing.assert_allclose(centre, out['mean_images'][0], atol=1e-5)
  noise = out['neighbourhood'] - mean
  assert noise.shape == (8, 100) and np.abs(noise).max() <= 0.25 and np.abs(noise).max() > 0.2
  np.testing.assert_allclose(out['exemplars'][0], gen.decode(out['z'][[0, 2, 4, 6]]), atol=1e-5)


def test_command_writes_the_figure_and_numbers(dcgan_run):
  config, workdir = dcgan_run
  numbers = arithmetic.write_figure(config, workdir, ('*+', '*-', '*'), 2, candidates=64)
  out = os.path.join(workdir, 'analysis')
  saved = json.load(open(os.path.join(out, 'arithmetic.json')))
  assert saved == json.loads(json.dumps(numbers))
  # Brighter and darker halves of 64 distinct images: 32 each; '*' matches all.
  assert [g['matched'] for g in saved['groups']] == [32, 32, 64]
  assert saved['groups'][2]['candidate_indices'] == [0, 1]
  assert len(saved['result_labels']) == 9 and saved['result_centre_label'] in range(10)
  # Rows a, b, c (2 exemplars, blank, mean) and the 3 x 3 result: 6 rows of 4 cells.
  assert Image.open(os.path.join(out, 'arithmetic.png')).size == (4 * 33 + 1, 6 * 33 + 1)
  with pytest.raises(errors.UserInputError, match=r"Group a \('\*\+'\) has 20 members among 40"):
    arithmetic.write_figure(config, workdir, ('*+', '*', '*'), 21, candidates=40)
