"""The StyleGAN2 losses and the four phases of a training step (Karras et al. 2020;
stylegan2-ada-pytorch training/loss.py StyleGAN2Loss and training/training_loop.py).

One step on one real batch x, in stylegan2-ada's phase order, each phase its own
optimizer update and its own latents:
  G main: softplus(-D(G(z)))                         (non-saturating logistic loss)
  G reg (step % pl_interval == 0, pl_weight > 0): path-length regularization on
         B / pl_batch_shrink samples: a = ||J_w^T y||_2 / sqrt(num_ws) with y ~ N(0, I)
         / sqrt(H W) (the root mean over layers of the squared norms of the gradient of
         sum(G(w) * y) w.r.t. each w), pl_mean <- pl_mean + pl_decay (mean(a) -
         pl_mean), loss pl_weight * (a - pl_mean)^2 * pl_interval
  D main: softplus(D(G(z))) + softplus(-D(x))
  D reg (step % r1_interval == 0, r1_gamma > 0): R1, (gamma / 2) ||grad_x D(x)||^2 *
         r1_interval (Mescheder et al. 2018, lazily as the paper)
then the generator EMA: beta = 0.5^(B / max(ema_kimg * 1000, ...)), with ema_rampup r
> 0 the half-life capped at r * images seen so far; G's buffers (w_avg) are copied.
Style mixing (probability `style_mixing_prob`): a second z's w replaces the styles
from a cutoff drawn uniformly in [1, num_ws) (one per batch). The mapping updates the
tracked mean of w in the G main, G reg and D main phases. Conditional fakes use the
real batch's labels (the data's label distribution). With `augment` (DiffAugment) or
`ada` (ADA; gans.augment.policy) every image D sees is augmented, each D call with its
own draw, and R1 is taken w.r.t. the reals before the augmentation (as stylegan2-ada
takes it through ADA); ADA's p (state.extras) follows D's verdicts on the D main phase's
reals, adjusted after the step. All randomness derives from fold_in(state.key, state.step).
"""

import math

import jax
import jax.numpy as jnp

from gans.augment import policy as augment_lib
from gans.families import common
from gans.train import state as state_lib

PHASES = {
  'main': (False, False),
  'g_reg': (True, False),
  'd_reg': (False, True),
  'both_reg': (True, True),
}
# fold_in indices of the phases' keys.
_G_MAIN, _G_REG, _D_MAIN = 1, 2, 3
# fold_in indices of the augmentation draws (G main, D main fakes and reals, D reg).
_AUG_G, _AUG_FAKE, _AUG_REAL, _AUG_R1 = 101, 102, 103, 104


def phase_name(step, config):
  """The phase of step `step` (host int): which lazy regularizers run on it."""
  g = config.pl_weight > 0 and step % config.pl_interval == 0
  d = config.r1_gamma > 0 and step % config.r1_interval == 0
  return {(False, False): 'main', (True, False): 'g_reg', (False, True): 'd_reg'}.get(
    (g, d), 'both_reg'
  )


def lazy_ratio(interval):
  """interval / (interval + 1): the paper's factor for lr and betas under lazy reg."""
  return interval / (interval + 1.0) if interval else 1.0


def ema_beta(config, step):
  """EMA decay at step `step` (traced int): 0.5^(B / ema_nimg), stylegan2-ada's
  `ema_kimg` half-life in images, with ema_rampup capping it at rampup * images seen."""
  nimg = jnp.float32(config.ema_kimg * 1000.0)
  if config.ema_rampup > 0:
    nimg = jnp.minimum(nimg, step.astype(jnp.float32) * config.batch_size * config.ema_rampup)
  return 0.5 ** (config.batch_size / jnp.maximum(nimg, 1e-8))


def path_lengths(synthesize, ws, key):
  """Per-sample path lengths sqrt(mean over layers of ||J_w^T y||^2) (PPL regularizer).

  Args:
    synthesize: ws [N, num_ws, w_dim] -> images [N, H, W, C].
    ws: [N, num_ws, w_dim] float32.
    key: PRNG key of y ~ N(0, I) / sqrt(H W).
  Returns:
    (lengths [N] float32, images).
  """
  images, vjp = jax.vjp(synthesize, ws)
  h, w = images.shape[1:3]
  y = jax.random.normal(key, images.shape, images.dtype) / math.sqrt(h * w)
  (grads,) = vjp(y)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1)), images


def r1_penalty(d_fn, x):
  """Per-sample ||grad_x sum D(x)||^2 [N] (R1 on real images, Mescheder et al. 2018)."""
  grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
  return jnp.sum(jnp.square(grads), axis=tuple(range(1, x.ndim)))


def mix_styles(ws, ws2, cutoff):
  """ws [N, L, D] with layers >= cutoff taken from ws2 (style mixing)."""
  layers = jnp.arange(ws.shape[1])[None, :, None]
  return jnp.where(layers < cutoff, ws, ws2)


def make_train_step(config, generator, discriminator, g_tx, d_tx, phase, constrain=None):
  """step(state, batch) -> (state, metrics) for one phase name of PHASES.

  `g_tx`, `d_tx`: optax transformations (with the lazy-regularization lr and beta
  factors applied). batch: {'x': [1, B, H, W, C], 'y': [1, B]}. Metrics: g_loss,
  d_loss, d_real, d_fake (mean logits), and r1 / pl_penalty / pl_mean in their phases.
  """
  do_g_reg, do_d_reg = PHASES[phase]
  num_ws = generator.num_ws
  k = int(config.num_classes) if config.conditional else 0
  constrain = constrain or (lambda v: v)
  augment = augment_lib.Augmentation(config)
  sg = jax.lax.stop_gradient

  def g_vars(params, stats):
    return {'params': params, **stats}

  def run_g(params, stats, z, y, key):
    """Images, ws and the new stats (w_avg) of z (style mixing included)."""
    mix_key, cut_key, p_key, noise_key = jax.random.split(key, 4)
    w, mutated = generator.apply(
      g_vars(params, stats), z, y, 1.0, True, method='map', mutable=['stats']
    )
    ws = jnp.broadcast_to(w[:, None, :], (w.shape[0], num_ws, w.shape[-1]))
    if config.style_mixing_prob > 0:
      cutoff = jax.random.randint(cut_key, (), 1, num_ws)
      cutoff = jnp.where(jax.random.uniform(p_key) < config.style_mixing_prob, cutoff, num_ws)
      z2 = jax.random.normal(mix_key, z.shape, z.dtype)
      w2 = generator.apply(g_vars(params, stats), z2, y, method='map')
      ws = mix_styles(ws, w2[:, None, :], cutoff)
    synth = lambda v: generator.apply(
      g_vars(params, stats), v, method='synthesize', rngs={'noise': noise_key}
    )
    return synth, ws, {**stats, **mutated}

  def run_d(params, x, y, aug_key, extras):
    if augment.enabled:
      x = augment(aug_key, x, extras)
    return discriminator.apply({'params': params}, x, y)

  def step(state, batch):
    x = constrain(batch['x'][0])
    y = batch['y'][0] if k else None
    n = x.shape[0]
    key = jax.random.fold_in(state.key, state.step)
    keys = {
      i: jax.random.fold_in(key, i)
      for i in (_G_MAIN, _G_REG, _D_MAIN, _AUG_G, _AUG_FAKE, _AUG_REAL, _AUG_R1)
    }
    metrics = {}

    # G main.
    g = state.models['generator']
    d_params = state.models['discriminator'].params
    z_key, run_key = jax.random.split(keys[_G_MAIN])
    z = jax.random.normal(z_key, (n, generator.latent_dim))

    def g_main(params):
      synth, ws, stats = run_g(params, g.collections, z, y, run_key)
      logits = run_d(sg(d_params), synth(ws), y, keys[_AUG_G], state.extras)
      return jnp.mean(jax.nn.softplus(-logits)), stats

    (g_loss, stats), grads = jax.value_and_grad(g_main, has_aux=True)(g.params)
    state = common.apply_gradients(state, {'generator': grads}, g_tx, {'generator': stats})
    metrics['g_loss'] = g_loss

    # G reg: path length.
    if do_g_reg:
      g = state.models['generator']
      m = max(n // config.pl_batch_shrink, 1)
      z_key, run_key, pl_key = jax.random.split(keys[_G_REG], 3)
      z = jax.random.normal(z_key, (m, generator.latent_dim))
      pl_mean = state.extras['pl_mean']

      def g_reg(params):
        synth, ws, stats = run_g(params, g.collections, z, None if y is None else y[:m], run_key)
        lengths, _ = path_lengths(synth, ws, pl_key)
        new_mean = pl_mean + config.pl_decay * (jnp.mean(sg(lengths)) - pl_mean)
        penalty = jnp.square(lengths - new_mean)
        loss = jnp.mean(penalty) * config.pl_weight * config.pl_interval
        return loss, (stats, new_mean, jnp.mean(penalty))

      (_, (stats, new_mean, penalty)), grads = jax.value_and_grad(g_reg, has_aux=True)(g.params)
      state = common.apply_gradients(state, {'generator': grads}, g_tx, {'generator': stats})
      state = state.replace(extras={**state.extras, 'pl_mean': new_mean})
      metrics.update(pl_penalty=penalty, pl_mean=new_mean)

    # D main.
    g = state.models['generator']
    dm = state.models['discriminator']
    z_key, run_key = jax.random.split(keys[_D_MAIN])
    z = jax.random.normal(z_key, (n, generator.latent_dim))
    synth, ws, stats = run_g(g.params, g.collections, z, y, run_key)
    fake = sg(synth(ws))
    state = state.replace_model('generator', collections=stats)

    def d_main(params):
      fake_logits = run_d(params, fake, y, keys[_AUG_FAKE], state.extras)
      real_logits = run_d(params, x, y, keys[_AUG_REAL], state.extras)
      loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
      return loss, (jnp.mean(real_logits), jnp.mean(fake_logits), real_logits)

    (d_loss, (d_real, d_fake, real_logits)), grads = jax.value_and_grad(d_main, has_aux=True)(
      dm.params
    )
    extras, ada_metrics = augment.observe(state.extras, sg(real_logits))
    state = state.replace(extras=extras)
    metrics.update(ada_metrics)
    state = common.apply_gradients(
      state, {'discriminator': grads}, d_tx, {'discriminator': dm.collections}
    )
    metrics.update(d_loss=d_loss, d_real=d_real, d_fake=d_fake)

    # D reg: R1.
    if do_d_reg:
      dm = state.models['discriminator']

      def d_reg(params):
        r1 = jnp.mean(r1_penalty(lambda v: run_d(params, v, y, keys[_AUG_R1], state.extras), x))
        return r1 * (config.r1_gamma / 2) * config.r1_interval, r1

      (_, r1), grads = jax.value_and_grad(d_reg, has_aux=True)(dm.params)
      state = common.apply_gradients(
        state, {'discriminator': grads}, d_tx, {'discriminator': dm.collections}
      )
      metrics['r1'] = r1

    # Generator EMA (params averaged, buffers copied).
    g = state.models['generator']
    beta = ema_beta(config, state.step)
    ema = state.ema['generator']
    new_ema = dict(
      params=jax.tree.map(lambda e, p: p + beta * (e - p), ema['params'], g.params),
      collections=jax.tree.map(jnp.copy, g.collections),
    )
    extras, ada_metrics = augment.update(state.extras, state.step)
    metrics.update(ada_metrics)
    state = state.replace(ema={'generator': new_ema}, extras=extras, step=state.step + 1)
    return state, metrics

  return step


def init_state(config, generator, discriminator, example_shape, g_tx, d_tx):
  """TrainState: generator (params, stats: w_avg) with its EMA copy, discriminator,
  extras {'pl_mean': 0.0}. Keys as gans.families.common.init_state."""
  x, y, _ = common.zeros_inputs(example_shape, generator.latent_dim)
  z = jnp.zeros((2, generator.latent_dim), jnp.float32)
  init_key, key = jax.random.split(jax.random.PRNGKey(config.seed))
  g_key, d_key = jax.random.split(init_key)
  g_key, noise_key = jax.random.split(g_key)

  def g_init(rng, *args):
    return generator.init({'params': rng, 'noise': noise_key}, *args)

  g_variables = g_init(g_key, z, y)
  g_params, g_colls = state_lib.split_variables(g_variables)
  g = state_lib.ModelState(params=g_params, collections=g_colls, opt_state=g_tx.init(g_params))
  d = state_lib.init_model(discriminator, d_key, x, y, tx=d_tx)
  return state_lib.TrainState(
    step=jnp.zeros((), jnp.int32),
    key=key,
    models=dict(generator=g, discriminator=d),
    ema={'generator': state_lib.ema_copy(g)},
    extras={
      'pl_mean': jnp.zeros((), jnp.float32),
      **augment_lib.Augmentation(config).init_extras(),
    },
  )
