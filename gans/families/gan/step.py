"""One generic adversarial train step, composed from the config.

A step is one generator update preceded by `n_critic` discriminator updates, each on
its own real batch (the batch argument is stacked [n_critic, B, ...]). The config
chooses:
- the loss pair (`loss`, `ls_coding`; gans.objectives.losses);
- D's regularizers: WGAN-GP `gradient_penalty` (lambda), `dragan` (lambda), `r1`
  (gamma; adds gamma/2 E||grad D(x)||^2), `d_ortho_reg` (beta), `weight_clip` (c:
  D's parameters are clipped to [-c, c] after each update, WGAN);
- G's regularizer `g_ortho_reg` (beta, BigGAN orthogonal regularization);
- the tricks of gans.train.tricks (label smoothing, noisy labels, label flips,
  instance noise, separate real/fake batches, PacGAN packing);
- augmentation (`augment`: DiffAugment; `ada`: ADA; gans.augment.policy): every image
  D sees, real or generated, is augmented first (then instance noise, then packing);
  the gradient penalty, DRAGAN and R1 are then taken through the augmentation, w.r.t.
  the images before it (as stylegan2-ada and DiffAugment's StyleGAN2 code take R1).
  ADA's p (state.extras) is adjusted from D's verdicts on the reals after the step;
- conditional training (`conditional`, `num_classes`): G and D get labels, real ones
  from the batch and uniform fake ones; a D that returns (logit, class_logits) adds
  ACGAN's auxiliary classification loss (`aux_weight`) to both players' losses;
- the optimizers (any two, e.g. TTUR learning rates or SGD for D), generator EMA.
Networks are linen modules with signatures G(z, y, train) and D(x, y, train); a
'dropout' RNG is passed in train mode, so `nn.Dropout` in either network works.
All randomness comes from fold_in(state.key, state.step).
"""

import functools

import jax
import jax.numpy as jnp
import optax

from gans.augment import policy as augment_lib
from gans.objectives import losses
from gans.objectives import penalties
from gans.families.common import apply_net  # noqa: F401  (also step_lib.apply_net)
from gans.families.gan import tricks as tricks_lib
from gans.train import state as state_lib

# fold_in constants that derive the tricks' keys from a step key, so the latents and
# the WGAN-GP key of a plain config stay what they were before the tricks existed.
_LABEL_KEY, _NOISE_KEY, _DROPOUT_KEY, _CLASS_KEY, _REG_KEY, _AUG_KEY = 11, 12, 13, 14, 15, 16
_G_STEP = 1 << 20  # fold_in index of the generator update (D updates use 0..n-1).


def sample_latent(key, batch_size, latent_dim, truncation=0.0):
  """z ~ N(0, I) [batch_size, latent_dim]; truncation t > 0 gives BigGAN's truncation trick.

  BigGAN resamples every |z_i| > t until it falls inside; that draws from the normal
  truncated to [-t, t], which is what this samples directly.
  """
  shape = (batch_size, latent_dim)
  if truncation and truncation > 0:
    return jax.random.truncated_normal(key, -truncation, truncation, shape, jnp.float32)
  return jax.random.normal(key, shape, jnp.float32)


def split_output(out):
  """D's output -> (logits [B], class logits [B, K] or None) (ACGAN returns a pair)."""
  if isinstance(out, (tuple, list)):
    return out[0], out[1]
  return out, None


def _class_loss(class_logits, labels):
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))


# The numeric fields of the step that change no shape and no program structure (only
# their value, not whether they are 0, which switches a term on): a step built by
# `make_hparam_train_step` takes them as inputs, so gans.sweep can vmap members that
# differ only in them (and the seed). Optimizer fields are `<g|d>_optimizer.<field>`.
HPARAM_FIELDS = (
  'gradient_penalty',
  'dragan',
  'r1',
  'weight_clip',
  'g_ortho_reg',
  'd_ortho_reg',
  'aux_weight',
  'ema_decay',
)
OPTIMIZER_HPARAM_FIELDS = ('lr', 'b1', 'b2', 'eps', 'weight_decay')
# ADA's r_t target, an input of the step (`ada.target`); ADA's starting or fixed
# probability `ada.p` lives in state.extras, so gans.sweep sets it per member at init.
ADA_HPARAM_FIELDS = ('target',)
# Of those, the ones whose zero-ness switches a term (or the EMA copy) on or off.
SWITCH_FIELDS = (
  'gradient_penalty',
  'dragan',
  'r1',
  'weight_clip',
  'g_ortho_reg',
  'd_ortho_reg',
  'ema_decay',  # > 0 keeps an EMA copy in the state.
)


def hparams(config):
  """{field: float} of the step's numeric hyperparameters (HPARAM_FIELDS, the
  optimizers' OPTIMIZER_HPARAM_FIELDS they define, named 'g_optimizer.lr', ..., and
  ADA's 'ada.target', its default when the config has no `ada`)."""
  out = {f: float(config[f]) for f in HPARAM_FIELDS}
  ada = augment_lib.Augmentation(config).ada
  out.update({f'ada.{f}': float(ada[f]) for f in ADA_HPARAM_FIELDS})
  for opt in ('g_optimizer', 'd_optimizer'):
    for field in OPTIMIZER_HPARAM_FIELDS:
      if field in config[opt]:
        out[f'{opt}.{field}'] = float(config[opt][field])
  return out


def hparam_optimizers(config, hp):
  """(G's, D's) optax transformations of `config` with the values of `hp` (may be traced).

  The same transformations as gans.families.gan.optimizers (D's schedule counts its
  n_critic updates), so their states have the same structure whatever the values.
  """
  txs = []
  for opt, updates in (('g_optimizer', 1), ('d_optimizer', int(config.n_critic))):
    fields = config[opt].to_dict()
    fields.update({k.partition('.')[2]: v for k, v in hp.items() if k.startswith(opt + '.')})
    txs.append(state_lib.make_optimizer(fields, config.total_steps * updates))
  return tuple(txs)


def make_train_step(config, generator, discriminator, g_tx, d_tx, constrain=None):
  """Returns `train_step(state, batch) -> (state, metrics)` (not yet jitted).

  `constrain` (optional) places batch-sized intermediates (latents) on the data axis.
  """
  step = _make_step(config, generator, discriminator, constrain, lambda hp: (g_tx, d_tx))
  hp = hparams(config)
  return lambda state, batch: step(state, batch, hp)


def make_hparam_train_step(config, generator, discriminator, constrain=None):
  """Returns `train_step(state, batch, hp) -> (state, metrics)` (not yet jitted).

  `hp` is a dict like `hparams(config)` of float32 scalars (traced: gans.sweep vmaps
  the step over members); the optimizers are built from it inside the step. Which
  terms are on (a weight of SWITCH_FIELDS > 0, EMA kept) still comes from `config`.
  """
  return _make_step(
    config, generator, discriminator, constrain, lambda hp: hparam_optimizers(config, hp)
  )


def _make_step(config, generator, discriminator, constrain, make_txs):
  """The step of `make_train_step` with its hyperparameters as a third argument."""
  d_loss_fn, g_loss_fn = losses.get(config.loss, config.ls_coding)
  tricks = tricks_lib.Tricks.from_config(config)
  m = tricks.pack
  use_gp = float(config.gradient_penalty) > 0
  use_dragan = float(config.dragan) > 0
  use_r1 = float(config.r1) > 0
  use_clip = float(config.weight_clip) > 0
  use_g_ortho, use_d_ortho = float(config.g_ortho_reg) > 0, float(config.d_ortho_reg) > 0
  conditional = bool(config.conditional)
  num_classes = int(config.num_classes)
  latent_dim = config.latent_dim
  use_ema = float(config.ema_decay) > 0
  augment = augment_lib.Augmentation(config)
  constrain = constrain or (lambda x: x)

  def fake_labels(key, n):
    if not conditional:
      return None
    return jax.random.randint(key, (n,), 0, num_classes, jnp.int32)

  def d_inputs(key, x, step, extras):
    """What D sees of a batch of samples: augmentation, instance noise, then packing."""
    if augment.enabled:
      x = augment(jax.random.fold_in(key, _AUG_KEY), x, extras)
    return tricks_lib.pack(tricks_lib.add_instance_noise(tricks, key, x, step), m)

  def d_update(state, inputs, hp, d_tx):
    real, real_y, index = inputs
    key = jax.random.fold_in(jax.random.fold_in(state.key, state.step), index)
    z_key, gp_key = jax.random.split(key)
    fold = functools.partial(jax.random.fold_in, key)
    z = constrain(sample_latent(z_key, real.shape[0], latent_dim))
    real_y = real_y if conditional else None
    fake_y = fake_labels(fold(_CLASS_KEY), real.shape[0])
    g_model, d_model = state.models['generator'], state.models['discriminator']
    fake, g_state = apply_net(
      generator, g_model.params, g_model.collections, z, fake_y, True, fold(_DROPOUT_KEY)
    )
    fake = jax.lax.stop_gradient(fake)
    noise_real, noise_fake = jax.random.split(fold(_NOISE_KEY))
    real_in = d_inputs(noise_real, real, state.step, state.extras)
    fake_in = d_inputs(noise_fake, fake, state.step, state.extras)
    real_label, fake_label = tricks_lib.discriminator_labels(
      tricks, fold(_LABEL_KEY), real_in.shape[0]
    )
    label_kwargs = (
      {} if not tricks.uses_labels else dict(real_label=real_label, fake_label=fake_label)
    )
    d_rng = jax.random.split(fold(_DROPOUT_KEY + 100))

    d_coll = d_model.collections

    def loss_fn(d_params):
      d = functools.partial(apply_net, discriminator, d_params)
      if tricks.separate_batches:
        real_out, d_state = d(d_coll, real_in, real_y, True, d_rng[0])
        fake_out, d_state = d(d_state, fake_in, fake_y, True, d_rng[1])
      else:
        both_y = None if real_y is None else jnp.concatenate([real_y, fake_y])
        out, d_state = d(d_coll, jnp.concatenate([real_in, fake_in]), both_y, True, d_rng[0])
        n = real_in.shape[0]
        real_out = jax.tree.map(lambda o: o[:n], out)
        fake_out = jax.tree.map(lambda o: o[n:], out)
      real_logit, real_cls = split_output(real_out)
      fake_logit, fake_cls = split_output(fake_out)
      loss = d_loss_fn(real_logit, fake_logit, **label_kwargs)
      aux = dict(d_real=jnp.mean(real_logit), d_fake=jnp.mean(fake_logit), real_logit=real_logit)
      if real_cls is not None and conditional:
        cls = _class_loss(real_cls, real_y) + _class_loss(fake_cls, fake_y)
        loss = loss + hp['aux_weight'] * cls
        aux['d_class'] = cls

      def critic(x, y):
        return split_output(d(d_state, x, y, True, d_rng[0])[0])[0]

      # The penalties' points: D's inputs, or with DiffAugment the images before it,
      # seen through the real batch's augmentation.
      if augment.enabled:
        pen_real, pen_fake = real, fake
        judge = lambda x: critic(d_inputs(noise_real, x, state.step, state.extras), real_y)  # noqa: E731
      else:
        pen_real, pen_fake = real_in, fake_in
        judge = lambda x: critic(x, real_y)  # noqa: E731
      gp = jnp.zeros(())
      if use_gp:
        gp = penalties.gradient_penalty(judge, pen_real, pen_fake, gp_key)
        loss = loss + hp['gradient_penalty'] * gp
      aux['gp'] = gp
      reg_key = fold(_REG_KEY)
      if use_dragan:
        aux['dragan'] = penalties.dragan_penalty(judge, pen_real, reg_key)
        loss = loss + hp['dragan'] * aux['dragan']
      if use_r1:
        aux['r1'] = penalties.r1_penalty(judge, pen_real)
        loss = loss + 0.5 * hp['r1'] * aux['r1']
      if use_d_ortho:
        aux['d_ortho'] = penalties.orthogonal_regularization(d_params)
        loss = loss + hp['d_ortho_reg'] * aux['d_ortho']
      return loss, dict(aux, d_state=d_state)

    (d_loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(d_model.params)
    updates, d_opt = d_tx.update(grads, d_model.opt_state, d_model.params)
    d_params = optax.apply_updates(d_model.params, updates)
    if use_clip:
      d_params = penalties.clip_weights(d_params, hp['weight_clip'])
    state = state.replace_model(
      'discriminator', params=d_params, opt_state=d_opt, collections=aux.pop('d_state')
    )
    state = state.replace_model('generator', collections=g_state)
    extras, ada_metrics = augment.observe(state.extras, aux.pop('real_logit'))
    state = state.replace(extras=extras)
    return state, dict(d_loss=d_loss, **aux, **ada_metrics)

  def g_update(state, hp, g_tx):
    key = jax.random.fold_in(jax.random.fold_in(state.key, state.step), _G_STEP)
    fold = functools.partial(jax.random.fold_in, key)
    batch_size = config.batch_size
    z = constrain(sample_latent(key, batch_size, latent_dim))
    fake_y = fake_labels(fold(_CLASS_KEY), batch_size)
    g_model, d_model = state.models['generator'], state.models['discriminator']

    def loss_fn(g_params):
      fake, g_state = apply_net(
        generator, g_params, g_model.collections, z, fake_y, True, fold(_DROPOUT_KEY)
      )
      fake_in = d_inputs(fold(_NOISE_KEY), fake, state.step, state.extras)
      # D's collections are not updated by the generator step.
      out, _ = apply_net(
        discriminator,
        d_model.params,
        d_model.collections,
        fake_in,
        fake_y,
        True,
        fold(_DROPOUT_KEY + 100),
      )
      logit, cls = split_output(out)
      loss = g_loss_fn(logit)
      metrics = {}
      if cls is not None and conditional:
        metrics['g_class'] = _class_loss(cls, fake_y)
        loss = loss + hp['aux_weight'] * metrics['g_class']
      if use_g_ortho:
        metrics['g_ortho'] = penalties.orthogonal_regularization(g_params)
        loss = loss + hp['g_ortho_reg'] * metrics['g_ortho']
      return loss, (g_state, metrics)

    (g_loss, (g_state, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(g_model.params)
    updates, g_opt = g_tx.update(grads, g_model.opt_state, g_model.params)
    g_params = optax.apply_updates(g_model.params, updates)
    state = state.replace_model('generator', params=g_params, collections=g_state, opt_state=g_opt)
    if use_ema:
      decay = jnp.where(state.step >= config.ema_start, hp['ema_decay'], 0.0)
      ema = state_lib.update_ema(state.ema['generator'], state.models['generator'], decay)
      state = state.replace(ema={**state.ema, 'generator': ema})
    return state, dict(g_loss=g_loss, **metrics)

  def train_step(state, batch, hp):
    g_tx, d_tx = make_txs(hp)
    # The critic steps are unrolled at trace time rather than run in `lax.scan`: XLA's
    # CPU backend runs the convolutions inside a while loop up to 25x slower
    # (WGAN-GP DCGAN on 2 cores: 4.5 s against 0.16 s per step). n_critic is small.
    for i in range(batch['x'].shape[0]):
      state, metrics = d_update(state, (batch['x'][i], batch['y'][i], i), hp, d_tx)
    state, g_metrics = g_update(state, hp, g_tx)
    metrics.update(g_metrics)
    extras, ada_metrics = augment.update(state.extras, state.step, target=hp['ada.target'])
    metrics.update(ada_metrics)
    state = state.replace(extras=extras)
    return state.replace(step=state.step + 1), metrics

  return train_step


def make_sample_fn(generator):
  """Returns `sample(params, state, z, y=None) -> images` with running statistics."""

  @functools.partial(jax.jit)
  def sample(params, state, z, y=None):
    return apply_net(generator, params, state, z, y, False)[0]

  return sample
