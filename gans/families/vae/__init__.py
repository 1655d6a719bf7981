"""The `vae` family: the variational autoencoder of Kingma & Welling 2014.

Models 'encoder' (q(z|x) = N(mean, diag exp(log_variance))) and 'decoder' (p(x|z)),
each with its own optimizer from `config.optimizer`, trained on the negative ELBO
-E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)) with one reparameterized sample of z
per example and the analytic KL (Kingma & Welling 2014, Eq. 10; beta = 1 is the VAE).
The decoder's `output` picks the likelihood:
- 'bernoulli': pixels statically binarized at 127.5 (x > 0 in model space), the
  Bernoulli likelihood of the binarized-MNIST literature;
- 'gaussian': the discretized Gaussian over the 256 levels of 8-bit images
  (gans.objectives.likelihood), comparable in bits/dim with PixelCNN.
`exp.likelihood` gives, per held-out example, the negative ELBO (averaged over K
samples) and the importance-weighted bound with K = `config.iwae_samples` (Burda et
al. 2016, Eq. 8): for the same K samples nll_iwaeK <= neg_elbo, and in expectation
-log p(x) <= E[nll_iwaeK], tightening with K. Samples decode z ~ N(0, I) to
the decoder's mean (Bernoulli probabilities, or the Gaussian mean) in [-1, 1].
"""

import jax
import jax.numpy as jnp
import ml_collections

from gans import configs
from gans import nets
from gans.families import common
from gans.objectives import likelihood as lk
from gans.train import state as state_lib
from gans.train.experiment import Experiment

OUTPUTS = ('bernoulli', 'gaussian')


def vae_config():
  """The `vae` family's fields over gans.configs.run_config()."""
  c = configs.run_config()
  c.family = 'vae'
  c.train_split = 'train[:4000]'
  c.latent_dim = 32
  c.encoder = configs.net('autoencoder', arch='conv', width=32, kind='gaussian')
  c.decoder = configs.net('autoencoder', arch='conv', width=32, output='bernoulli')
  c.optimizer = configs.optimizer('adam', lr=1e-3, b1=0.9, b2=0.999)
  c.beta = 1.0  # KL weight; 1 is the ELBO.
  c.iwae_samples = 100  # K of the held-out importance-weighted bound.
  c.iwae_chunk = 10  # Samples of z decoded at once when computing it.
  c.evals = ml_collections.ConfigDict(
    {
      'likelihood': configs.likelihood_eval(),
      'samples': configs.sample_eval(),
    }
  )
  return c


def validate(config):
  """Checks the family's fields; ValueError names the key."""
  output = config.decoder.get('output', 'bernoulli')
  if output not in OUTPUTS:
    raise ValueError(f'config.decoder.output={output!r}: the vae family takes one of {OUTPUTS}.')
  if config.encoder.get('kind', 'gaussian') != 'gaussian':
    raise ValueError(f"config.encoder.kind={config.encoder.kind!r}: a VAE needs 'gaussian'.")
  if config.beta < 0:
    raise ValueError(f'config.beta must be >= 0, got {config.beta!r}.')
  if config.iwae_samples < 1 or config.iwae_chunk < 1:
    raise ValueError('config.iwae_samples and config.iwae_chunk must be >= 1.')


def networks(config, example_shape):
  """(encoder, decoder) linen modules of the config."""
  k = configs.class_count(config)
  encoder = nets.build_module(
    config.encoder, 'Encoder', k, key='encoder', latent_dim=config.latent_dim
  )
  decoder = nets.build_module(
    config.decoder, 'Decoder', k, key='decoder', out_shape=tuple(example_shape)
  )
  return encoder, decoder


def log_likelihood_fn(output):
  """(decoder output, model-space x) -> log p(x|z) [...] nats for the decoder's output."""
  if output == 'bernoulli':
    return lambda logits, x: lk.bernoulli_log_likelihood(logits, common.binarize(x))
  return lambda out, x: lk.discretized_gaussian_log_likelihood(x, *out)


def decoder_mean(output, out):
  """The decoder's mean image in [-1, 1]: 2 sigmoid(logits) - 1, or the Gaussian mean."""
  if output == 'bernoulli':
    return 2.0 * jax.nn.sigmoid(out) - 1.0
  return jnp.clip(out[0], -1.0, 1.0)


def init_state(config, encoder, decoder, example_shape, tx):
  x, y, z = common.zeros_inputs(example_shape, config.latent_dim)
  return common.init_state(
    config.seed, dict(encoder=(encoder, (x, y)), decoder=(decoder, (z, y))), tx
  )


def make_train_step(config, encoder, decoder, tx):
  """`step(state, batch) -> (state, metrics)`; batch 'x' [1, B, H, W, C]."""
  output = config.decoder.get('output', 'bernoulli')
  log_px_fn = log_likelihood_fn(output)
  labels = configs.class_count(config) > 0
  beta = float(config.beta)

  def step(state, batch):
    x = batch['x'][0]
    y = batch['y'][0] if labels else None
    key = jax.random.fold_in(state.key, state.step)
    z_key, e_drop, d_drop = jax.random.split(key, 3)
    enc, dec = state.models['encoder'], state.models['decoder']

    def loss_fn(params):
      (mean, log_var), e_coll = common.apply_net(
        encoder, params['encoder'], enc.collections, x, y, True, e_drop
      )
      z = lk.gaussian_sample(z_key, mean, log_var)
      out, d_coll = common.apply_net(
        decoder, params['decoder'], dec.collections, z, y, True, d_drop
      )
      recon = -log_px_fn(out, x)
      kl = lk.gaussian_kl(mean, log_var)
      loss = jnp.mean(recon + beta * kl)
      neg_elbo = jnp.mean(recon + kl)
      dims = x[0].size
      return loss, (
        e_coll,
        d_coll,
        dict(
          loss=loss,
          neg_elbo=neg_elbo,
          reconstruction=jnp.mean(recon),
          kl=jnp.mean(kl),
          bits_per_dim=lk.bits_per_dim(neg_elbo, dims),
        ),
      )

    params = dict(encoder=enc.params, decoder=dec.params)
    grads, (e_coll, d_coll, metrics) = jax.grad(loss_fn, has_aux=True)(params)
    state = common.apply_gradients(state, grads, tx, dict(encoder=e_coll, decoder=d_coll))
    return state.replace(step=state.step + 1), metrics

  return step


def build(config, mesh, dataset):
  """The VAE `Experiment` for `config` on `mesh` and `dataset` (validated by the caller)."""
  encoder, decoder = networks(config, dataset.example_shape)
  output = config.decoder.get('output', 'bernoulli')
  log_px_fn = log_likelihood_fn(output)
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  init = common.jit_init(
    lambda: init_state(config, encoder, decoder, dataset.example_shape, tx), mesh
  )
  train_step = common.jit_step(make_train_step(config, encoder, decoder, tx), mesh)
  k = configs.class_count(config)

  @jax.jit
  def decode(state, z, y):
    dec = state.models['decoder']
    return decoder_mean(output, decoder.apply(dec.variables(), z, y, train=False))

  @jax.jit
  def encode(state, x, y):
    """(mean, log_variance) of q(z|x)."""
    return encoder.apply(state.models['encoder'].variables(), x, y, train=False)

  def labels(start, n):
    return None if not k else jnp.arange(start, start + n, dtype=jnp.int32) % k

  def sample(state, key, start, n, use_ema=True):
    del use_ema  # No EMA in this family.
    return decode(state, jax.random.normal(key, (n, config.latent_dim)), labels(start, n))

  @jax.jit
  def log_weights(state, x, y, key):
    """log p(x|z) + log p(z) - log q(z|x) [chunk, B] for config.iwae_chunk z ~ q."""
    mean, log_var = encoder.apply(state.models['encoder'].variables(), x, y, train=False)
    z = lk.gaussian_sample(key, mean, log_var, num_samples=config.iwae_chunk)
    flat = z.reshape((-1, z.shape[-1]))
    yy = None if y is None else jnp.tile(y, config.iwae_chunk)
    out = decoder.apply(state.models['decoder'].variables(), flat, yy, train=False)
    out = jax.tree.map(lambda o: o.reshape(z.shape[:2] + o.shape[1:]), out)
    return (
      log_px_fn(out, x)
      + lk.standard_normal_log_density(z)
      - lk.gaussian_log_density(z, mean, log_var)
    )

  def held_out_likelihood(state, batch, key, use_ema=True):
    del use_ema  # No EMA in this family.
    y = batch['y'] if k else None
    chunks = -(-int(config.iwae_samples) // int(config.iwae_chunk))
    w = jnp.concatenate(
      [log_weights(state, batch['x'], y, jax.random.fold_in(key, c)) for c in range(chunks)]
    )[: config.iwae_samples]
    zeros = jnp.zeros_like(w)
    return {
      'neg_elbo': -jnp.mean(w, axis=0),
      f'nll_iwae{config.iwae_samples}': -lk.iwae_bound(w, zeros, zeros),
    }

  fixed_z = jax.random.normal(
    jax.random.PRNGKey(config.seed + 1), (config.num_grid_samples, config.latent_dim)
  )
  grid_x, grid_y = common.fixed_batch(dataset, 16)

  def grids(state):
    y = labels(0, config.num_grid_samples)
    (mean, _) = encode(state, grid_x, grid_y if k else None)
    recon = decode(state, mean, grid_y if k else None)
    shown = common.binarize(grid_x) * 2.0 - 1.0 if output == 'bernoulli' else grid_x
    return {
      'samples': common.image_grid(decode(state, fixed_z, y), rows=k or None),
      'reconstructions': common.pairs_grid(shown, recon),
    }

  protocol = dict(
    decoder_likelihood=(
      'bernoulli on pixels binarized at 127.5'
      if output == 'bernoulli'
      else 'discretized gaussian over 256 levels'
    ),
    iwae_samples=int(config.iwae_samples),
    samples='decoder mean of z ~ N(0, I)',
  )
  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=init,
    steps={'main': train_step},
    grids=grids,
    sample=sample,
    likelihood=held_out_likelihood,
    modules=dict(encoder=encoder, decoder=decoder),
    functions=dict(encode=encode, decode=decode),
    protocol=protocol,
  )
