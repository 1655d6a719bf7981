"""Regularizers of the discriminator (and generator), as pure functions.

Penalties on D take a `critic` function mapping a batch [B, ...] to outputs [B] in
which each output depends only on its own input (true for D in train mode without
batch norm, and for every D used with these penalties in the papers). Weights
(lambda, gamma, beta) are applied by the caller (gans.train.step) from the config.
"""

import jax
import jax.numpy as jnp
import optax


def _input_gradient_norms(critic, x):
  # Each output depends only on its own input, so the gradient of the sum gives
  # every example's input gradient in one backward pass.
  grads = jax.grad(lambda v: jnp.sum(critic(v)))(x)
  return jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1) + 1e-12)


def gradient_penalty(critic, real, fake, key):
  """WGAN-GP penalty (Gulrajani et al. 2017, Eq. 3) without its weight lambda.

  E[(||grad_x critic(x_hat)||_2 - 1)^2] with x_hat = eps * real + (1 - eps) * fake,
  eps ~ U[0, 1] per example. `critic` maps a batch [B, ...] to outputs [B].
  """
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  x_hat = eps * real + (1.0 - eps) * fake
  return jnp.mean((_input_gradient_norms(critic, x_hat) - 1.0) ** 2)


def dragan_points(key, real, scale=0.5):
  """DRAGAN's perturbed real points (Kodali et al. 2017; kodalinaveen3/DRAGAN).

  x_p = x + scale * std(x) * u with u ~ U[0, 1] elementwise and std over the whole
  batch, then x_hat = x + alpha (x_p - x) with alpha ~ U[0, 1] per example. So
  x_hat - x lies in [0, scale * std(x)] elementwise. Returns x_hat, shaped like `real`.
  """
  u_key, a_key = jax.random.split(key)
  u = jax.random.uniform(u_key, real.shape, real.dtype)
  perturbed = real + scale * jnp.std(real) * u
  alpha = jax.random.uniform(a_key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  return real + alpha * (perturbed - real)


def dragan_penalty(critic, real, key, scale=0.5):
  """DRAGAN penalty without lambda (10 in the paper): E[(||grad D(x_hat)|| - 1)^2]
  at the points `dragan_points` perturbs around the real data."""
  x_hat = jax.lax.stop_gradient(dragan_points(key, real, scale))
  return jnp.mean((_input_gradient_norms(critic, x_hat) - 1.0) ** 2)


def r1_penalty(critic, real):
  """R1 (Mescheder et al. 2018, Eq. 9) without gamma / 2: E_real[||grad_x D(x)||^2].

  The step adds (gamma / 2) * r1_penalty, so config.r1 is the paper's gamma.
  """
  grads = jax.grad(lambda v: jnp.sum(critic(v)))(real)
  return jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1))


def orthogonal_regularization(params):
  """BigGAN's orthogonal regularization without beta (Brock et al. 2019, Eq. 3).

  sum over weight matrices W of ||W^T W * (1 - I)||_F^2: only the off-diagonal
  inner products of the filters are penalised, not their norms. Each kernel with
  ndim >= 2 is flattened to [fan_in, num_filters] (dense [in, out]; conv [..., in, out]),
  the layout BigGAN-PyTorch's `ortho` uses with its [out, in] weights; biases, gains
  and other 1-D parameters are skipped. BigGAN uses beta = 1e-4 on G. (BigGAN-PyTorch
  adds the gradient 2 (W W^T * (1 - I)) W directly, half the gradient of this sum:
  its beta corresponds to beta / 2 here.)
  """
  total = jnp.zeros((), jnp.float32)
  for w in jax.tree.leaves(params):
    if w.ndim < 2:
      continue
    w = w.reshape(-1, w.shape[-1])
    gram = w.T @ w
    off_diagonal = gram * (1.0 - jnp.eye(gram.shape[0], dtype=gram.dtype))
    total = total + jnp.sum(off_diagonal**2)
  return total


def clip_weights(params, clip):
  """WGAN's weight clipping (Arjovsky et al. 2017, Algorithm 1): every parameter of
  the critic into [-clip, clip] (c = 0.01 in the paper) after each update."""
  return jax.tree.map(lambda w: jnp.clip(w, -clip, clip), params)


def clip_weights_transform(clip):
  """The same constraint as an optax transformation to chain after an optimizer:
  it changes the updates u so that params + u lands in [-clip, clip]."""

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError('clip_weights_transform needs the params in update().')
    updates = jax.tree.map(lambda u, w: jnp.clip(w + u, -clip, clip) - w, updates, params)
    return updates, state

  return optax.GradientTransformation(init_fn, update_fn)
