"""The ProGAN losses and the step of one resolution (Karras et al. 2018; the official
tkarras/progressive_growing_of_gans loss.py D_wgangp_acgan / G_wgan_acgan, train.py).

A step of phase 'res<r>' on one real batch x (full resolution R):
  i = step * B images shown before it; alpha = the schedule's fade-in weight of r at i
      (computed here from the traced step: one compilation serves every alpha);
  reals: x average-pooled to r x r, then during the fade-in blended with their r/2
      version, alpha x_r + (1 - alpha) upsample(avgpool(x_r)), as the official
      `process_reals` does, so D compares reals and fakes at the same level of detail;
  Adam moments reset (config.reset_optimizer) on the first step of every fade-in and
      stabilize phase, as the official `reset_opt_for_new_lod`;
  D: D(G(z)) - D(x) + lambda E[(||grad D(x_hat)|| - t)^2] / t^2 + eps_drift D(x)^2
      (WGAN-GP, Gulrajani et al. 2017, with the target t of the official code (1; 750
      in its CIFAR-10 run) and the drift term 0.001 that keeps D's output near 0);
  G: -D(G(z)) with the updated D, fresh z;
  EMA of G: ema <- decay ema + (1 - decay) G (0.999).
G and D run at resolution r with the same alpha; layers of higher resolutions get
zero gradients, and with Adam's beta1 = 0 (or freshly reset moments) zero updates.
All randomness derives from fold_in(state.key, state.step).
"""

import jax
import jax.numpy as jnp

from gans.families import common
from gans.nets import progan as progan_nets
from gans.objectives import penalties
from gans.train import state as state_lib

# fold_in indices of the step's keys.
_D_Z, _D_GP, _G_Z = 1, 2, 3


def gradient_penalty(critic, real, fake, key, target=1.0):
  """E[(||grad critic(x_hat)||_2 - target)^2] / target^2 on random interpolates.

  Equals gans.objectives.penalties.gradient_penalty of critic / target (the gradient
  scales with the critic); target 1 is WGAN-GP's. `critic` maps [B, ...] to [B].
  """
  scaled = critic if target == 1.0 else (lambda v: critic(v) / target)
  return penalties.gradient_penalty(scaled, real, fake, key)


def discriminator_loss(real_scores, fake_scores, penalty, gp_weight, drift):
  """mean(D(fake)) - mean(D(real)) + gp_weight * penalty + drift * mean(D(real)^2)."""
  wasserstein = jnp.mean(fake_scores) - jnp.mean(real_scores)
  return wasserstein + gp_weight * penalty + drift * jnp.mean(jnp.square(real_scores))


def real_images(x, resolution, alpha, schedule):
  """Full-resolution reals [B, R, R, C] -> the reals of `resolution` at fade-in weight
  alpha: average-pooled to r x r, blended with their r/2 version unless r is the
  start resolution."""
  x = progan_nets.downsample(x, schedule.final // resolution)
  if resolution == schedule.start:
    return x
  return progan_nets.fade_images(x, alpha)


def _reset_where(reset, tx, params, opt_state):
  fresh = tx.init(params)
  return jax.tree.map(lambda a, b: jnp.where(reset, a, b), fresh, opt_state)


def make_train_step(config, generator, discriminator, tx, schedule, resolution):
  """step(state, batch) -> (state, metrics) of phase 'res<resolution>'.

  `tx`: the optax transformation of both networks; `schedule`: a
  gans.families.progan.schedule.Schedule. batch: {'x': [1, B, R, R, C]}. Metrics:
  d_loss, g_loss, d_real, d_fake (mean scores), gradient_penalty, drift (mean D(x)^2),
  alpha and resolution.
  """
  sg = jax.lax.stop_gradient
  gp_weight, gp_target, drift = (
    float(config.gp_weight),
    float(config.gp_target),
    float(config.drift),
  )
  batch_size = schedule.batch_size
  r = resolution

  def step(state, batch):
    images = state.step * batch_size
    alpha = schedule.fade_alpha(images, r)
    x = real_images(batch['x'][0], r, alpha, schedule)
    n = x.shape[0]
    key = jax.random.fold_in(state.key, state.step)
    keys = {i: jax.random.fold_in(key, i) for i in (_D_Z, _D_GP, _G_Z)}

    if config.reset_optimizer:
      reset = (state.step > 0) & (schedule.segment(images) != schedule.segment(images - batch_size))
      for name in ('generator', 'discriminator'):
        m = state.models[name]
        state = state.replace_model(name, opt_state=_reset_where(reset, tx, m.params, m.opt_state))

    def run_g(params, z):
      return generator.apply({'params': params}, z, resolution=r, alpha=alpha)

    def run_d(params, v):
      return discriminator.apply({'params': params}, v, alpha=alpha)

    # D.
    g_params = state.models['generator'].params
    z = jax.random.normal(keys[_D_Z], (n, generator.latent_dim))
    fake = sg(run_g(g_params, z))

    def d_loss_fn(params):
      real_scores = run_d(params, x)
      fake_scores = run_d(params, fake)
      penalty = gradient_penalty(lambda v: run_d(params, v), x, fake, keys[_D_GP], gp_target)
      loss = discriminator_loss(real_scores, fake_scores, penalty, gp_weight, drift)
      return loss, dict(
        d_real=jnp.mean(real_scores),
        d_fake=jnp.mean(fake_scores),
        gradient_penalty=penalty,
        drift=jnp.mean(jnp.square(real_scores)),
      )

    d = state.models['discriminator']
    (d_loss, metrics), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d.params)
    state = common.apply_gradients(state, {'discriminator': grads}, tx, {'discriminator': {}})

    # G, against the updated D.
    d_params = sg(state.models['discriminator'].params)
    z = jax.random.normal(keys[_G_Z], (n, generator.latent_dim))

    def g_loss_fn(params):
      return -jnp.mean(run_d(d_params, run_g(params, z)))

    g = state.models['generator']
    g_loss, grads = jax.value_and_grad(g_loss_fn)(g.params)
    state = common.apply_gradients(state, {'generator': grads}, tx, {'generator': {}})

    ema = state_lib.update_ema(
      state.ema['generator'], state.models['generator'], float(config.ema_decay)
    )
    state = state.replace(ema={'generator': ema}, step=state.step + 1)
    metrics.update(
      d_loss=d_loss,
      g_loss=g_loss,
      alpha=jnp.asarray(alpha, jnp.float32),
      resolution=jnp.float32(r),
    )
    return state, metrics

  return step


def init_state(config, generator, discriminator, example_shape, tx):
  """TrainState: generator (all resolutions' layers) with its EMA copy, discriminator;
  no extras. Keys as gans.families.common.init_state."""
  x, _, z = common.zeros_inputs(example_shape, generator.latent_dim)
  state = common.init_state(
    config.seed, dict(generator=(generator, (z,)), discriminator=(discriminator, (x,))), tx
  )
  return state.replace(ema={'generator': state_lib.ema_copy(state.models['generator'])})
