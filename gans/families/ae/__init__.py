"""The `ae` family: a deterministic autoencoder (encoder to a code, decoder back).

Models 'encoder' and 'decoder', each with its own optimizer from `config.optimizer`,
trained on the mean squared error between the image and its reconstruction (per
pixel, in model space [-1, 1]). `config.input_dropout` sets that fraction of input
pixels to black (-1) during training (masking noise of the de-noising autoencoder,
Vincent et al. 2008). The code is whatever the
encoder's `kind` makes it: 'deterministic' (linear), 'relu', or 'binary' (0/1 with a
straight-through gradient): the DCGAN paper's 3072-128-3072 ReLU autoencoder used to
find near-duplicates by its thresholded code (Radford et al. 2015, Sec. 4.1.1) is
`experiments/ae.py:arch=dcgan_hash`. The family does not sample; it exposes
`exp.functions['encode']` and `['reconstruct']` for the analysis tools.
"""

import jax
import jax.numpy as jnp
import ml_collections

from gans import configs
from gans import nets
from gans.families import common
from gans.train import state as state_lib
from gans.train.experiment import Experiment


def ae_config():
  """The `ae` family's fields over gans.configs.run_config()."""
  c = configs.run_config()
  c.family = 'ae'
  c.train_split = 'train[:4000]'
  c.latent_dim = 32
  c.encoder = configs.net('autoencoder', arch='conv', width=32, kind='deterministic')
  c.decoder = configs.net('autoencoder', arch='conv', width=32, output='image')
  c.optimizer = configs.optimizer('adam', lr=1e-3, b1=0.9, b2=0.999)
  c.input_dropout = 0.0  # Fraction of input pixels set to black in training (denoising).
  c.evals = ml_collections.ConfigDict()  # No sampler: nothing sample-based to evaluate.
  return c


def validate(config):
  """Checks the family's fields; ValueError names the key."""
  if config.encoder.get('kind', 'deterministic') == 'gaussian':
    raise ValueError("config.encoder.kind='gaussian' is a VAE: use family 'vae'.")
  if config.decoder.get('output', 'image') != 'image':
    raise ValueError(
      f'config.decoder.output={config.decoder.output!r}: the ae family '
      f"reconstructs images ('image')."
    )
  if not 0.0 <= config.input_dropout < 1.0:
    raise ValueError(f'config.input_dropout must be in [0, 1), got {config.input_dropout!r}.')


def build(config, mesh, dataset):
  """The autoencoder `Experiment` (validated by the caller)."""
  k = configs.class_count(config)
  encoder = nets.build_module(
    config.encoder, 'Encoder', k, key='encoder', latent_dim=config.latent_dim
  )
  decoder = nets.build_module(
    config.decoder, 'Decoder', k, key='decoder', out_shape=tuple(dataset.example_shape)
  )
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  drop = float(config.input_dropout)

  def init_fn():
    x, y, z = common.zeros_inputs(dataset.example_shape, config.latent_dim)
    return common.init_state(
      config.seed, dict(encoder=(encoder, (x, y)), decoder=(decoder, (z, y))), tx
    )

  def step(state, batch):
    x = batch['x'][0]
    y = batch['y'][0] if k else None
    key = jax.random.fold_in(state.key, state.step)
    noise_key, e_drop, d_drop = jax.random.split(key, 3)
    x_in = x
    if drop > 0:
      x_in = jnp.where(jax.random.bernoulli(noise_key, 1.0 - drop, x.shape), x, -1.0)
    enc, dec = state.models['encoder'], state.models['decoder']

    def loss_fn(params):
      code, e_coll = common.apply_net(
        encoder, params['encoder'], enc.collections, x_in, y, True, e_drop
      )
      out, d_coll = common.apply_net(
        decoder, params['decoder'], dec.collections, code, y, True, d_drop
      )
      mse = jnp.mean(jnp.square(out - x))
      return mse, (e_coll, d_coll)

    params = dict(encoder=enc.params, decoder=dec.params)
    (mse, (e_coll, d_coll)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    state = common.apply_gradients(state, grads, tx, dict(encoder=e_coll, decoder=d_coll))
    return state.replace(step=state.step + 1), dict(mse=mse)

  @jax.jit
  def encode(state, x, y=None):
    """Codes [N, latent_dim] of model-space images [N, H, W, C]."""
    return encoder.apply(state.models['encoder'].variables(), x, y, train=False)

  @jax.jit
  def reconstruct(state, x, y=None):
    code = encoder.apply(state.models['encoder'].variables(), x, y, train=False)
    return decoder.apply(state.models['decoder'].variables(), code, y, train=False)

  grid_x, grid_y = common.fixed_batch(dataset, 32)

  def grids(state):
    y = grid_y if k else None
    return {'reconstructions': common.pairs_grid(grid_x, reconstruct(state, grid_x, y))}

  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=common.jit_init(init_fn, mesh),
    steps={'main': common.jit_step(step, mesh)},
    grids=grids,
    modules=dict(encoder=encoder, decoder=decoder),
    functions=dict(encode=encode, reconstruct=reconstruct),
  )
