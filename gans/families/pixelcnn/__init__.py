"""The `pixelcnn` family: an autoregressive model over 256-way discrete pixels.

One model, 'pixelcnn' (gans.nets.pixelcnn: gated PixelCNN, van den Oord et al. 2016),
trained by maximum likelihood: the loss is the exact negative log-likelihood of the
training images' integer pixel levels (uint8 recovered exactly from model space as
round((x + 1) * 127.5)), in nats per image, with bits/dim logged beside it. There is
no latent and no dequantization: the model is a distribution over the 256 discrete
levels, so its NLL is directly comparable with the bits/dim of the PixelCNN papers.
`exp.likelihood` gives the exact held-out NLL ('nll'); `exp.sample` draws pixel by
pixel with the cached sampler of gans.nets.pixelcnn (`config.sampler`), returning
model-space images. `config.ema_decay` > 0 keeps an EMA of the weights (PixelCNN++
evaluates with one).
"""

import jax
import jax.numpy as jnp
import ml_collections

from gans import configs
from gans import nets
from gans.families import common
from gans.nets import pixelcnn as pixelcnn_lib
from gans.objectives import likelihood as lk
from gans.train import state as state_lib
from gans.train.experiment import Experiment


def pixelcnn_config():
  """The `pixelcnn` family's fields over gans.configs.run_config()."""
  c = configs.run_config()
  c.family = 'pixelcnn'
  c.train_split = 'train[:4000]'
  c.pixelcnn = configs.net('pixelcnn', features=64, num_layers=8, kernel_size=5)
  c.optimizer = configs.optimizer('adam', lr=1e-3, b1=0.9, b2=0.999)
  c.ema_decay = 0.0  # EMA of the weights, used to sample and evaluate; 0: off.
  c.sampler = 'auto'  # gans.nets.pixelcnn.make_sampler strategy.
  c.num_grid_samples = 16  # Sampling is sequential: keep training grids small.
  c.evals = ml_collections.ConfigDict(
    {
      'likelihood': configs.likelihood_eval(),
      'samples': configs.sample_eval(),
    }
  )
  return c


def validate(config):
  """Checks the family's fields; ValueError names the key."""
  if config.sampler not in pixelcnn_lib.STRATEGIES:
    raise ValueError(f'config.sampler={config.sampler!r} is not one of {pixelcnn_lib.STRATEGIES}.')
  if not 0.0 <= config.ema_decay < 1.0:
    raise ValueError(f'config.ema_decay must be in [0, 1), got {config.ema_decay!r}.')


def build(config, mesh, dataset):
  """The PixelCNN `Experiment` (validated by the caller)."""
  k = configs.class_count(config)
  model = nets.build_module(config.pixelcnn, 'PixelCNN', k, key='pixelcnn')
  levels = model.num_levels
  tx = state_lib.make_optimizer(config.optimizer, config.total_steps)
  ema_decay = float(config.ema_decay)
  shape = tuple(dataset.example_shape)
  dims = int(jnp.prod(jnp.asarray(shape)))

  def init_fn():
    x = jnp.zeros((2,) + shape, jnp.int32)
    y = jnp.zeros((2,), jnp.int32)
    state = common.init_state(config.seed, dict(pixelcnn=(model, (x, y))), tx)
    if ema_decay > 0:
      state = state.replace(ema={'pixelcnn': state_lib.ema_copy(state.models['pixelcnn'])})
    return state

  def nll(variables, levels_x, y):
    """Exact -log p(x) [N] nats."""
    logits = model.apply(variables, levels_x, y, train=False)
    return -lk.categorical_log_likelihood(logits, levels_x)

  def step(state, batch):
    x = common.to_levels(batch['x'][0], levels)
    y = batch['y'][0] if k else None
    m = state.models['pixelcnn']

    def loss_fn(params):
      return jnp.mean(nll({'params': params, **m.collections}, x, y))

    loss, grads = jax.value_and_grad(loss_fn)(m.params)
    state = common.apply_gradients(state, dict(pixelcnn=grads), tx, dict(pixelcnn=m.collections))
    if ema_decay > 0:
      ema = state_lib.update_ema(state.ema['pixelcnn'], state.models['pixelcnn'], ema_decay)
      state = state.replace(ema={'pixelcnn': ema})
    return state.replace(step=state.step + 1), dict(
      nll=loss, bits_per_dim=lk.bits_per_dim(loss, dims)
    )

  draw = pixelcnn_lib.make_sampler(model, shape, strategy=config.sampler)

  def variables(state, use_ema=True):
    params, collections = state.sampling_variables('pixelcnn', use_ema)
    return {'params': params, **collections}

  def sample(state, key, start, n, use_ema=True):
    what = jnp.arange(start, start + n, dtype=jnp.int32) % k if k else n
    return common.from_levels(draw(variables(state, use_ema), key, what), levels)

  held_out_nll = jax.jit(nll)

  def likelihood(state, batch, key, use_ema=True):
    del key  # Exact: nothing is sampled.
    y = batch['y'] if k else None
    x = common.to_levels(batch['x'], levels)
    return {'nll': held_out_nll(variables(state, use_ema), x, y)}

  grid_key = jax.random.PRNGKey(config.seed + 1)

  def grids(state):
    images = sample(state, grid_key, 0, config.num_grid_samples)
    return {'samples': common.image_grid(images, rows=k or None)}

  return Experiment(
    config=config,
    mesh=mesh,
    dataset=dataset,
    init=common.jit_init(init_fn, mesh),
    steps={'main': common.jit_step(step, mesh)},
    grids=grids,
    sample=sample,
    likelihood=likelihood,
    modules=dict(pixelcnn=model),
    protocol=dict(likelihood='exact, 256-way categorical per sub-pixel', ema_decay=ema_decay),
  )
