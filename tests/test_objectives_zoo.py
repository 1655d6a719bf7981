"""Losses and penalties of the model zoo against values worked by hand."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import configs
from gans.train import experiment
from gans.objectives import losses
from gans.objectives import penalties

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])


def _sp(x):
  return np.log1p(np.exp(np.asarray(x, np.float64)))


def test_least_squares_binary_coding():
  d, g = losses.get('least_squares', '0,1,1')
  # 1/2 mean((2-1)^2, (-1-1)^2) + 1/2 mean(0.5^2, 3^2) = 1.25 + 2.3125.
  np.testing.assert_allclose(d(REAL, FAKE), 3.5625, rtol=1e-6)
  # 1/2 mean((0.5-1)^2, (-3-1)^2) = 4.0625.
  np.testing.assert_allclose(g(FAKE), 4.0625, rtol=1e-6)


def test_least_squares_chi2_coding():
  d, g = losses.get('least_squares', '-1,1,0')
  # 1.25 + 1/2 mean((0.5+1)^2, (-3+1)^2) = 1.25 + 1.5625.
  np.testing.assert_allclose(d(REAL, FAKE), 2.8125, rtol=1e-6)
  np.testing.assert_allclose(g(FAKE), 2.3125, rtol=1e-6)
  assert losses.parse_coding((-1, 1, 0)) == (-1.0, 1.0, 0.0)
  with pytest.raises(ValueError, match='ls_coding'):
    losses.parse_coding('1,1,0')
  with pytest.raises(ValueError, match='ls_coding'):
    losses.parse_coding('0,1')


def test_soft_labels_enter_cross_entropy_and_least_squares():
  d, _ = losses.get('non_saturating')
  t_real, t_fake = jnp.array([0.9, 0.8]), jnp.array([0.1, 0.0])
  want = np.mean([0.9 * _sp(-2.0) + 0.1 * _sp(2.0), 0.8 * _sp(1.0) + 0.2 * _sp(-1.0)]) + np.mean(
    [0.1 * _sp(-0.5) + 0.9 * _sp(0.5), _sp(-3.0)]
  )
  np.testing.assert_allclose(d(REAL, FAKE, t_real, t_fake), want, rtol=1e-6)
  # Hard labels reproduce the plain loss.
  np.testing.assert_allclose(d(REAL, FAKE, 1.0, 0.0), d(REAL, FAKE), rtol=1e-7)
  # Least squares: label t means the target a + t (b - a); chi2 coding, t = 0.75 -> 0.5.
  d_ls, _ = losses.get('least_squares', '-1,1,0')
  want = 0.5 * np.mean((np.array([2.0, -1.0]) - 0.5) ** 2) + 0.5 * np.mean(
    (np.array([0.5, -3.0]) + 1.0) ** 2
  )
  np.testing.assert_allclose(d_ls(REAL, FAKE, 0.75, 0.0), want, rtol=1e-6)


def test_r1_of_quadratic_discriminator():
  # D(x) = 1.5 ||x||^2 has gradient 3 x: R1 = 9 E||x||^2.
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 3))
  r1 = penalties.r1_penalty(lambda v: 1.5 * jnp.sum(v**2, axis=1), x)
  np.testing.assert_allclose(r1, 9.0 * np.mean(np.sum(np.asarray(x) ** 2, axis=1)), rtol=1e-5)
  # Images: the norm is over all of an example's pixels.
  w = jnp.arange(12.0).reshape(2, 2, 3)
  r1 = penalties.r1_penalty(lambda v: jnp.sum(v * w, axis=(1, 2, 3)), jnp.zeros((4, 2, 2, 3)))
  np.testing.assert_allclose(r1, float(jnp.sum(w**2)), rtol=1e-6)


def test_dragan_points_shape_and_statistics():
  real = 3.0 * jax.random.normal(jax.random.PRNGKey(1), (4000, 2)) + 1.0
  x_hat = penalties.dragan_points(jax.random.PRNGKey(2), real)
  assert x_hat.shape == real.shape
  delta = np.asarray(x_hat - real)
  bound = 0.5 * float(jnp.std(real))
  assert delta.min() >= 0.0 and delta.max() <= bound * (1 + 1e-5)
  # E[alpha u] = 1/4: mean perturbation 0.125 std(x); alpha is shared by an example's
  # coordinates, so they are positively correlated.
  np.testing.assert_allclose(delta.mean(), 0.25 * bound, rtol=0.05)
  assert np.corrcoef(delta[:, 0], delta[:, 1])[0, 1] > 0.3
  # A linear critic of gradient norm 5 everywhere: penalty (5 - 1)^2.
  gp = penalties.dragan_penalty(
    lambda v: v @ jnp.array([3.0, 4.0]), real[:16], jax.random.PRNGKey(3)
  )
  np.testing.assert_allclose(gp, 16.0, rtol=1e-5)


def test_orthogonal_regularization():
  q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
  params = {'dense': {'kernel': jnp.asarray(q[:, :4], jnp.float32), 'bias': jnp.ones((4,))}}
  np.testing.assert_allclose(penalties.orthogonal_regularization(params), 0.0, atol=1e-10)
  # W = [[1, 1], [0, 1]]: W^T W = [[1, 1], [1, 2]] -> off-diagonal squares 1 + 1 = 2;
  # column norms are not penalised (scaling a column keeps the value at 0).
  w = jnp.array([[1.0, 1.0], [0.0, 1.0]])
  np.testing.assert_allclose(penalties.orthogonal_regularization({'k': w}), 2.0, rtol=1e-6)
  np.testing.assert_allclose(
    penalties.orthogonal_regularization({'k': jnp.diag(jnp.array([2.0, 5.0]))}), 0.0
  )
  # A conv kernel [kh, kw, in, out] is flattened to [kh*kw*in, out].
  k = jax.random.normal(jax.random.PRNGKey(4), (3, 3, 2, 5))
  m = np.asarray(k).reshape(18, 5)
  gram = m.T @ m
  want = np.sum((gram * (1 - np.eye(5))) ** 2)
  np.testing.assert_allclose(penalties.orthogonal_regularization({'conv': k}), want, rtol=1e-5)


def test_weight_clipping_function_and_optax_transform():
  params = {'w': jnp.array([-0.5, 0.005, 0.02]), 'b': jnp.array([0.3])}
  clipped = penalties.clip_weights(params, 0.01)
  np.testing.assert_allclose(clipped['w'], [-0.01, 0.005, 0.01])
  np.testing.assert_allclose(clipped['b'], [0.01])
  tx = optax.chain(optax.rmsprop(5e-5), penalties.clip_weights_transform(0.01))
  grads = {'w': jnp.array([-1.0, 1.0, 0.0]), 'b': jnp.array([0.0])}
  state = tx.init(clipped)
  updates, _ = tx.update(grads, state, clipped)
  new = optax.apply_updates(clipped, updates)
  assert all(float(jnp.max(jnp.abs(v))) <= 0.01 + 1e-7 for v in jax.tree.leaves(new))
  assert float(new['w'][1]) < 0.005  # The unclipped entry still moved.


def test_wgan_experiment_uses_the_paper_setting():
  c = configs.load_config_file(os.path.join(ROOT, 'experiments', 'wgan.py'))
  assert c.loss == 'wasserstein' and c.weight_clip == 0.01 and c.n_critic == 5
  for opt in (c.g_optimizer, c.d_optimizer):
    assert opt.name == 'rmsprop' and opt.lr == 5e-5
  c = configs.load_config_file(os.path.join(ROOT, 'experiments', 'lsgan.py') + ':coding=chi2')
  assert losses.parse_coding(c.ls_coding) == (-1.0, 1.0, 0.0)


def test_validation_names_bad_switches():
  c = configs.base_config()
  c.loss = 'wasserstein'
  c.label_smoothing = 0.1
  with pytest.raises(ValueError, match='label_smoothing'):
    experiment.validate(c)
  c = configs.base_config()
  c.pack = 3
  with pytest.raises(ValueError, match='pack'):
    experiment.validate(c)
  c = configs.base_config()
  c.loss = 'least_squares'
  c.ls_coding = 'nope'
  with pytest.raises(ValueError, match='ls_coding'):
    experiment.validate(c)
  c = configs.base_config()
  c.r1 = -1.0
  with pytest.raises(ValueError, match='r1'):
    experiment.validate(c)
