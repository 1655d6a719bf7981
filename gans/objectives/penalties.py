"""Regularizers of the discriminator, as pure functions of a critic function."""

import jax
import jax.numpy as jnp


def gradient_penalty(critic, real, fake, key):
  """WGAN-GP penalty (Gulrajani et al. 2017, Eq. 3) without its weight lambda.

  E[(||grad_x critic(x_hat)||_2 - 1)^2] with x_hat = eps * real + (1 - eps) * fake,
  eps ~ U[0, 1] per example. `critic` maps a batch [B, ...] to outputs [B].
  """
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  x_hat = eps * real + (1.0 - eps) * fake
  # Each output depends only on its own input, so the gradient of the sum gives
  # every example's input gradient in one backward pass.
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
  norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1)**2, axis=1) + 1e-12)
  return jnp.mean((norms - 1.0)**2)
