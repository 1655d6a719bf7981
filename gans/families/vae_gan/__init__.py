"""The `vae_gan` family: Larsen et al. 2016, "Autoencoding beyond pixels using a
learned similarity metric".

Models 'encoder' (Gaussian q(z|x)), 'decoder' (the VAE decoder and the GAN generator,
tanh images) and 'discriminator', each with its own optimizer from
`config.optimizer`. Per step, on one real batch x (Larsen et al. 2016, Algorithm 1):
  z ~ q(z|x), x_rec = Dec(z); z_p ~ N(0, I), x_p = Dec(z_p);
  L_prior = KL(q(z|x) || N(0, I));
  L_llike = ||Dis_l(x) - Dis_l(x_rec)||^2 / (2 s^2), the Gaussian log-likelihood (up
            to a constant) of the discriminator's layer-l features with variance s^2
            (`config.feature_variance`; 1 in the paper, 0 means the number of features);
  L_GAN   = log Dis(x) + log(1 - Dis(x_rec)) + log(1 - Dis(x_p)) (real, reconstructed
            and prior samples);
  encoder       <- grad of L_prior + L_llike;
  decoder       <- grad of gamma * L_llike - (GAN loss of its two fakes);
  discriminator <- grad of -L_GAN.
The decoder's GAN term is the non-saturating -log Dis(fake) (Goodfellow et al. 2014)
rather than the minimax log(1 - Dis(fake)) of Algorithm 1, as the paper's code trains
it; gamma (`config.gamma`) weights content against style. Dis_l is the output of the
discriminator submodule named `config.feature_layer` (captured with flax's
capture_intermediates, so any discriminator architecture works). With `augment`
(DiffAugment) or `ada` (ADA; gans.augment.policy) every image the discriminator sees
is augmented; a real image and its reconstruction share one draw, so L_llike compares
the same view of both, and the prior samples get their own. Samples decode
z ~ N(0, I). The family has no tractable likelihood: compare it by sample metrics
and the Parzen estimate.
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gans import configs
from gans import nets
from gans.augment import policy as augment_lib
from gans.families import common
from gans.objectives import likelihood as lk
from gans.train import state as state_lib
from gans.train.experiment import Experiment


def vae_gan_config():
  """The `vae_gan` family's fields over gans.configs.run_config()."""
  c = configs.run_config()
  c.family = 'vae_gan'
  c.train_split = 'train[:4000]'
  c.latent_dim = 32
  c.encoder = configs.net('autoencoder', arch='conv', width=32, kind='gaussian')
  c.decoder = configs.net('autoencoder', arch='conv', width=32, output='image')
  c.discriminator = configs.net('dcgan', width=32, norm='batch')
  # Dis_l: the discriminator submodule whose output is compared; the DCGAN
  # discriminator's third layer after its batch norm (scale-free: the raw convolution
  # output before batch norm could grow without changing D, and L_llike with it).
  c.feature_layer = 'down2_norm'
  c.optimizer = configs.optimizer('rmsprop', lr=3e-4)
  c.gamma = 1.0  # Weight of L_llike against the GAN loss in the decoder.
  # The variance of the Gaussian p(Dis_l(x) | z): 1 in the paper; 0 means the number of
  # features F (L_llike is then half the mean squared feature error). With F = 2048
  # features, variance 1 lets L_llike outweigh the prior 2048-fold: on mnist5k it gave
  # sharp reconstructions, a posterior 70 nats from the prior and collapsed prior samples
  # (fid_classifier 714 at step 2000); variance 0 gave 116 at step 700 (16: 295).
  c.feature_variance = 0.0
  # Augmentation of what the discriminator sees: DiffAugment policy ('' or a subset of
  # 'color,translation,cutout') or ADA (config.ada.mode 'fixed' / 'adaptive').
  c.augment = ''
  c.ada = configs.ada()
  c.evals = ml_collections.ConfigDict({'samples': configs.sample_eval()})
  return c


def validate(config):
  """Checks the family's fields; ValueError names the key."""
  if config.encoder.get('kind', 'gaussian') != 'gaussian':
    raise ValueError(f"config.encoder.kind={config.encoder.kind!r}: VAE-GAN needs 'gaussian'.")
  if config.decoder.get('output', 'image') != 'image':
    raise ValueError(
      f"config.decoder.output={config.decoder.output!r}: VAE-GAN's decoder "
      f"is a generator ('image')."
    )
  if config.feature_variance < 0:
    raise ValueError(f'config.feature_variance must be >= 0, got {config.feature_variance!r}.')
  if config.gamma < 0:
    raise ValueError(f'config.gamma must be >= 0, got {config.gamma!r}.')
  augment_lib.validate(config)
  if config.conditional:
    raise ValueError(
      'config.conditional: the vae_gan family has no conditional '
      'discriminator yet; train it unconditionally.'
    )


_AUG_KEY = 16  # fold_in index of the augmentation draws in a step's key.


def _bce(logits, target):
  """Mean binary cross-entropy of logits against a constant target (0 or 1)."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)))


def build(config, mesh, dataset):
  """The VAE-GAN `Experiment` (validated by the caller)."""
  k = configs.class_count(config)
  encoder = nets.build_module(
    config.encoder, 'Encoder', k, key='encoder', latent_dim=config.latent_dim
  )
  decoder = nets.build_module(
    config.decoder, 'Decoder', k, key='decoder', out_shape=tuple(dataset.example_shape)
  )
  discriminator = nets.build_module(config.discriminator, 'Discriminator', k, key='discriminator')
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  layer = config.feature_layer
  gamma = float(config.gamma)
  variance = float(config.feature_variance)
  augment_lib.check_dataset(config, dataset)
  augment = augment_lib.Augmentation(config)

  def init_fn():
    x, y, z = common.zeros_inputs(dataset.example_shape, config.latent_dim)
    state = common.init_state(
      config.seed,
      dict(
        encoder=(encoder, (x, y)), decoder=(decoder, (z, y)), discriminator=(discriminator, (x, y))
      ),
      tx,
    )
    return state.replace(extras=augment.init_extras())

  def dis_apply(params, collections, x, y):
    """(logits [N], layer-l features [N, F], updated collections) in train mode."""
    out, mutated = discriminator.apply(
      {'params': params, **collections},
      x,
      y,
      train=True,
      capture_intermediates=lambda mdl, _: mdl.name == layer,
      mutable=['intermediates', *collections],
    )
    found = mutated.pop('intermediates', {}).get(layer)
    if found is None:
      raise ValueError(
        f'config.feature_layer={layer!r} is not a submodule of the '
        f'discriminator {type(discriminator).__name__}.'
      )
    return out, found['__call__'][0].reshape(x.shape[0], -1), mutated

  def step(state, batch):
    x = batch['x'][0]
    y = batch['y'][0] if k else None
    key = jax.random.fold_in(state.key, state.step)
    z_key, p_key = jax.random.split(key)
    pair_key, prior_key = jax.random.split(jax.random.fold_in(key, _AUG_KEY))
    enc, dec, dis = (state.models[n] for n in ('encoder', 'decoder', 'discriminator'))
    n = x.shape[0]
    z_p = jax.random.normal(p_key, (n, config.latent_dim))

    def forward(e_params, d_params, dis_params):
      (mean, log_var), e_coll = common.apply_net(encoder, e_params, enc.collections, x, y, True)
      z = lk.gaussian_sample(z_key, mean, log_var)
      both = jnp.concatenate([z, z_p])
      yy = None if y is None else jnp.concatenate([y, y])
      fakes, d_coll = common.apply_net(decoder, d_params, dec.collections, both, yy, True)
      x_real, x_rec, x_p = x, fakes[:n], fakes[n:]
      if augment.enabled:
        # The same key draws the same transforms for a batch of the same size.
        x_real = augment(pair_key, x_real, state.extras)
        x_rec = augment(pair_key, x_rec, state.extras)
        x_p = augment(prior_key, x_p, state.extras)
      logits, feats, dis_coll = dis_apply(
        dis_params,
        dis.collections,
        jnp.concatenate([x_real, x_rec, x_p]),
        None if y is None else jnp.concatenate([y, y, y]),
      )
      real_f, rec_f = feats[:n], feats[n : 2 * n]
      feature_variance = variance or real_f.shape[-1]
      sq = jnp.sum(jnp.square(jax.lax.stop_gradient(real_f) - rec_f), -1)
      llike = 0.5 * jnp.mean(sq) / feature_variance
      prior = jnp.mean(lk.gaussian_kl(mean, log_var))
      real_l, rec_l, p_l = logits[:n], logits[n : 2 * n], logits[2 * n :]
      d_loss = _bce(real_l, 1.0) + _bce(rec_l, 0.0) + _bce(p_l, 0.0)
      g_gan = _bce(rec_l, 1.0) + _bce(p_l, 1.0)
      colls = dict(encoder=e_coll, decoder=d_coll, discriminator=dis_coll)
      terms = dict(prior=prior, llike=llike, d_loss=d_loss, g_gan=g_gan, real_logit=real_l)
      return terms, colls

    sg = jax.lax.stop_gradient
    p = dict(encoder=enc.params, decoder=dec.params, discriminator=dis.params)

    def enc_loss(e):
      terms, colls = forward(e, sg(p['decoder']), sg(p['discriminator']))
      return terms['prior'] + terms['llike'], (terms, colls)

    def dec_loss(d):
      terms, _ = forward(sg(p['encoder']), d, sg(p['discriminator']))
      return gamma * terms['llike'] + terms['g_gan']

    def dis_loss(d):
      terms, _ = forward(sg(p['encoder']), sg(p['decoder']), d)
      return terms['d_loss']

    e_grad, (terms, colls) = jax.grad(enc_loss, has_aux=True)(p['encoder'])
    grads = dict(
      encoder=e_grad,
      decoder=jax.grad(dec_loss)(p['decoder']),
      discriminator=jax.grad(dis_loss)(p['discriminator']),
    )
    state = common.apply_gradients(state, grads, tx, colls)
    extras, ada_observed = augment.observe(state.extras, sg(terms.pop('real_logit')))
    extras, ada_adjusted = augment.update(extras, state.step)
    terms = dict(terms, **ada_observed, **ada_adjusted)
    return state.replace(extras=extras, step=state.step + 1), terms

  @jax.jit
  def decode(state, z, y):
    return decoder.apply(state.models['decoder'].variables(), z, y, train=False)

  @jax.jit
  def reconstruct(state, x, y):
    mean, _ = encoder.apply(state.models['encoder'].variables(), x, y, train=False)
    return decoder.apply(state.models['decoder'].variables(), mean, y, train=False)

  def labels(start, n):
    return None if not k else jnp.arange(start, start + n, dtype=jnp.int32) % k

  def sample(state, key, start, n, use_ema=True):
    del use_ema  # No EMA in this family.
    return decode(state, jax.random.normal(key, (n, config.latent_dim)), labels(start, n))

  fixed_z = jax.random.normal(
    jax.random.PRNGKey(config.seed + 1), (config.num_grid_samples, config.latent_dim)
  )
  grid_x, grid_y = common.fixed_batch(dataset, 16)

  def grids(state):
    y = grid_y if k else None
    return {
      'samples': common.image_grid(
        decode(state, fixed_z, labels(0, config.num_grid_samples)), rows=k or None
      ),
      'reconstructions': common.pairs_grid(grid_x, reconstruct(state, grid_x, y)),
    }

  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=common.jit_init(init_fn, mesh),
    steps={'main': common.jit_step(step, mesh)},
    grids=grids,
    sample=sample,
    modules=dict(encoder=encoder, decoder=decoder, discriminator=discriminator),
    functions=dict(decode=decode, reconstruct=reconstruct),
    protocol=dict(samples='decoder output of z ~ N(0, I)'),
  )
