import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.objectives import losses
from gans.objectives import penalties

REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])


def _sp(x):
  return np.log1p(np.exp(x))


def test_minimax_and_non_saturating_values():
  d, g = losses.get('minimax')
  want_d = np.mean(_sp(-np.array([2.0, -1.0]))) + np.mean(_sp(np.array([0.5, -3.0])))
  np.testing.assert_allclose(d(REAL, FAKE), want_d, rtol=1e-6)
  np.testing.assert_allclose(g(FAKE), -np.mean(_sp(np.array([0.5, -3.0]))), rtol=1e-6)
  _, g_ns = losses.get('non_saturating')
  np.testing.assert_allclose(g_ns(FAKE), np.mean(_sp(-np.array([0.5, -3.0]))), rtol=1e-6)


def test_wasserstein_and_hinge_values():
  d, g = losses.get('wasserstein')
  np.testing.assert_allclose(d(REAL, FAKE), -1.25 - 0.5, rtol=1e-6)
  np.testing.assert_allclose(g(FAKE), 1.25, rtol=1e-6)
  d, _ = losses.get('hinge')
  # relu(1-2)=0, relu(1+1)=2 -> 1; relu(1.5)=1.5, relu(-2)=0 -> 0.75.
  np.testing.assert_allclose(d(REAL, FAKE), 1.75, rtol=1e-6)


def test_unknown_loss_lists_known():
  with pytest.raises(ValueError, match='known: minimax'):
    losses.get('nope')


def test_gradient_penalty_of_linear_critic():
  w = jnp.array([3.0, 4.0])  # ||grad|| = 5 everywhere -> penalty (5 - 1)^2 = 16.
  critic = lambda x: x @ w
  real = jax.random.normal(jax.random.PRNGKey(0), (8, 2))
  fake = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
  gp = penalties.gradient_penalty(critic, real, fake, jax.random.PRNGKey(2))
  np.testing.assert_allclose(gp, 16.0, rtol=1e-5)


def test_gradient_penalty_of_quadratic_critic():
  # critic(x) = 0.5 ||x||^2 has gradient x_hat; check against the formula.
  real = jnp.ones((4, 3))
  fake = jnp.zeros((4, 3))
  key = jax.random.PRNGKey(3)
  eps = jax.random.uniform(key, (4, 1), jnp.float32)
  norms = np.sqrt(3.0) * np.asarray(eps[:, 0])
  gp = penalties.gradient_penalty(lambda x: 0.5 * jnp.sum(x**2, axis=1), real, fake, key)
  np.testing.assert_allclose(gp, np.mean((norms - 1.0) ** 2), rtol=1e-5)
