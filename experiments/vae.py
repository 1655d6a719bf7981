r"""VAE: Kingma & Welling 2014, "Auto-Encoding Variational Bayes".

Gaussian q(z|x) and a decoder trained on the ELBO with one reparameterized sample
(analytic KL); held-out negative ELBO and the importance-weighted bound of Burda et
al. 2016 (K = config.iwae_samples) in nats and bits/dim.

Default (offline, 2-core CPU): mnist5k at 32x32, trained on train[:4000], evaluated on
the 500 held-out digits train[4500:]; DCGAN-style conv encoder/decoder at width 32,
latent 32, Bernoulli decoder on pixels binarized at 127.5, Adam 1e-3, batch 64.
  python launch.py --config experiments/vae.py --workdir runs/vae
Measured (python -m gans.tools.family_table, 2026-11-30, 2-core CPU): 2.9 min; on the
500 held-out digits neg_elbo 111.3 nats, nll_iwae100 96.8 nats (0.136 bits/dim, binarized
pixels); fid_classifier 65.1, is_classifier 6.13 (README, "Generative-model families").

  :decoder=gaussian   the discretized Gaussian over 256 levels (bits/dim comparable
                      with PixelCNN's)
  :arch=mlp           the paper's MLP (one hidden layer of 500, latent 20), as in its
                      MNIST experiments (Figure 2)
Paper setting: binarized MNIST, `:dataset=binarized_mnist,arch=mlp,image_size=28`
(TFDS; Burda et al. 2016 Table 1 reports a one-stochastic-layer VAE at 86.76 nats
with K = 5000 on the 28x28 test set; ours is a different resize, split and decoder).
Arguments: dataset, image_size, arch (conv | mlp), decoder (bernoulli | gaussian),
runlocal.
"""

from gans import configs
from gans.families import vae


def get_config(arg=None):
  arg = configs.parse_arg(
    arg, dataset='mnist5k', image_size=32, arch='conv', decoder='bernoulli', runlocal=False
  )
  c = vae.vae_config()
  c.dataset = arg.dataset
  c.image_size = arg.image_size
  c.batch_size = 64
  c.total_steps = 3_000
  if arg.arch == 'conv':
    c.latent_dim = 32
    c.encoder = configs.net('autoencoder', arch='conv', width=32, kind='gaussian')
    c.decoder = configs.net('autoencoder', arch='conv', width=32, output=arg.decoder)
  elif arg.arch == 'mlp':
    c.latent_dim = 20
    c.encoder = configs.net('autoencoder', arch='mlp', hidden=(500,), kind='gaussian')
    c.decoder = configs.net('autoencoder', arch='mlp', hidden=(500,), output=arg.decoder)
  else:
    raise ValueError(f"arch={arg.arch!r}: use 'conv' or 'mlp'.")
  if arg.dataset in ('mnist5k', 'digits'):
    c.train_split, _, test = configs.HOLDOUT_SPLITS[arg.dataset]
    c.evals.likelihood.update(every=1000, split=test)
    c.evals.samples.update(every=1000, num_samples=2000, kid_subsets=10)
  else:  # TFDS: its own train and test splits.
    c.train_split = 'train'
    c.evals.likelihood.update(split='test')
    c.evals.samples.update(features='inception', num_samples=50_000)
    c.total_steps = 100_000
  c.log_every, c.sample_every, c.checkpoint_every = 100, 500, 1000
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.encoder.width = c.decoder.width = 8
    c.iwae_samples, c.iwae_chunk = 4, 2
    c.evals.likelihood.num_examples = 16
  return c
