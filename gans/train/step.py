"""One generic adversarial train step, composed from the config.

A step is one generator update preceded by `n_critic` discriminator updates, each on
its own real batch (the batch argument is stacked [n_critic, B, ...]). The loss pair,
the gradient penalty, the optimizers and the generator EMA come from the config; the
networks are any linen modules with signatures G(z, y, train) and D(x, y, train).
"""

import functools

import jax
import jax.numpy as jnp
import optax

from gans.objectives import losses
from gans.objectives import penalties


def apply_net(module, params, state, x, y, train):
  """Applies a module; returns (output, updated non-parameter collections)."""
  variables = {'params': params, **state}
  if train and state:
    return module.apply(variables, x, y, train=True, mutable=list(state))
  return module.apply(variables, x, y, train=train), state


def sample_latent(key, batch_size, latent_dim):
  return jax.random.normal(key, (batch_size, latent_dim), jnp.float32)


def make_train_step(config, generator, discriminator, g_tx, d_tx, constrain=None):
  """Returns `train_step(state, batch) -> (state, metrics)` (not yet jitted).

  `constrain` (optional) places batch-sized intermediates (latents) on the data axis.
  """
  d_loss_fn, g_loss_fn = losses.get(config.loss)
  gp_weight = float(config.gradient_penalty)
  latent_dim = config.latent_dim
  ema_decay = float(config.ema_decay)
  constrain = constrain or (lambda x: x)

  def d_update(state, inputs):
    real, _, index = inputs  # Labels enter with the conditional families.
    key = jax.random.fold_in(jax.random.fold_in(state.key, state.step), index)
    z_key, gp_key = jax.random.split(key)
    z = constrain(sample_latent(z_key, real.shape[0], latent_dim))
    fake, g_state = apply_net(generator, state.g_params, state.g_state, z, None, True)
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(d_params):
      real_out, d_state = apply_net(discriminator, d_params, state.d_state, real, None, True)
      fake_out, d_state = apply_net(discriminator, d_params, d_state, fake, None, True)
      loss = d_loss_fn(real_out, fake_out)
      gp = jnp.zeros(())
      if gp_weight > 0:
        critic = lambda x: apply_net(discriminator, d_params, d_state, x, None, True)[0]
        gp = penalties.gradient_penalty(critic, real, fake, gp_key)
        loss = loss + gp_weight * gp
      aux = dict(d_state=d_state, d_real=jnp.mean(real_out), d_fake=jnp.mean(fake_out),
                 gp=gp)
      return loss, aux

    (d_loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params)
    updates, d_opt = d_tx.update(grads, state.d_opt, state.d_params)
    state = state.replace(d_params=optax.apply_updates(state.d_params, updates),
                          d_opt=d_opt, d_state=aux.pop('d_state'), g_state=g_state)
    return state, dict(d_loss=d_loss, **aux)

  def g_update(state):
    key = jax.random.fold_in(jax.random.fold_in(state.key, state.step), 1 << 20)
    batch_size = config.batch_size
    z = constrain(sample_latent(key, batch_size, latent_dim))

    def loss_fn(g_params):
      fake, g_state = apply_net(generator, g_params, state.g_state, z, None, True)
      # D's collections are not updated by the generator step.
      fake_out, _ = apply_net(discriminator, state.d_params, state.d_state, fake, None, True)
      return g_loss_fn(fake_out), g_state

    (g_loss, g_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    updates, g_opt = g_tx.update(grads, state.g_opt, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    ema = state.ema_params
    if ema_decay > 0:
      decay = jnp.where(state.step >= config.ema_start, ema_decay, 0.0)
      ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, g_params)
    state = state.replace(g_params=g_params, g_state=g_state, g_opt=g_opt, ema_params=ema)
    return state, dict(g_loss=g_loss)

  def train_step(state, batch):
    n = batch['x'].shape[0]
    state, d_metrics = jax.lax.scan(
        d_update, state, (batch['x'], batch['y'], jnp.arange(n)))
    state, g_metrics = g_update(state)
    metrics = {k: v[-1] for k, v in d_metrics.items()}
    metrics.update(g_metrics)
    return state.replace(step=state.step + 1), metrics

  return train_step


def make_sample_fn(generator):
  """Returns `sample(params, state, z) -> images` with running statistics (eval mode)."""
  @functools.partial(jax.jit)
  def sample(params, state, z):
    return apply_net(generator, params, state, z, None, False)[0]
  return sample
