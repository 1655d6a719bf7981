r"""Autoencoder: a deterministic encoder and decoder trained on mean squared error.

Default (offline, 2-core CPU): mnist5k at 32x32 (train[:4000]), DCGAN-style conv
encoder/decoder at width 32, a linear code of 32, Adam 1e-3, batch 64, 2,000 steps.
  python launch.py --config experiments/ae.py --workdir runs/ae
writes reconstruction grids (originals above their reconstructions) and the training
mse to metrics.jsonl. Measured (2-core CPU shared with other jobs, 2026-11-30): 2.7 min
wall, training mse 0.0125 per pixel (in [-1, 1] units) at step 2,000; the grid is
docs/ae_mnist5k_reconstructions_step2000.png.

  :arch=dcgan_hash    the DCGAN paper's 3072-128-3072 autoencoder (Radford et al. 2015,
                      Sec. 4.1.1: "a 3072-128-3072 de-noising dropout regularized RELU
                      autoencoder" whose thresholded code finds near-duplicates): one
                      Dense layer each way, a ReLU code of 128, input dropout 0.2;
                      3072 inputs means 32x32x3 (CIFAR-10); on mnist5k it is 1024-128-1024.
Arguments: dataset, arch (conv | dcgan_hash), runlocal.
"""

from gans import configs
from gans.families import ae


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', arch='conv', runlocal=False)
  c = ae.ae_config()
  c.dataset = arg.dataset
  c.train_split = configs.HOLDOUT_SPLITS.get(arg.dataset, ('train',))[0]
  c.image_size = 32
  c.batch_size = 64
  c.total_steps = 2_000
  if arg.arch == 'conv':
    c.latent_dim = 32
    c.encoder = configs.net('autoencoder', arch='conv', width=32, kind='deterministic')
    c.decoder = configs.net('autoencoder', arch='conv', width=32, output='image')
  elif arg.arch == 'dcgan_hash':
    c.latent_dim = 128
    c.encoder = configs.net('autoencoder', arch='mlp', hidden=(), kind='relu')
    c.decoder = configs.net('autoencoder', arch='mlp', hidden=(), output='image')
    c.input_dropout = 0.2
  else:
    raise ValueError(f"arch={arg.arch!r}: use 'conv' or 'dcgan_hash'.")
  c.log_every, c.sample_every, c.checkpoint_every = 100, 500, 1000
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    if arg.arch == 'conv':
      c.encoder.width = c.decoder.width = 8
  return c
