r"""VAE-GAN: Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity metric".

The VAE's decoder is also the GAN's generator, and the reconstruction error is measured
in the discriminator's features (layer `feature_layer`) instead of pixels.

Default (offline, 2-core CPU): mnist5k at 32x32 (train[:4000]), DCGAN-style conv
encoder, decoder and discriminator at width 32 (the paper's CelebA nets are 64x64 and
wider), latent 32, RMSProp 3e-4 (the paper's optimizer), gamma 1, feature variance =
number of features (the paper's 1 collapses the prior samples here; see
gans/families/vae_gan), batch 64, 2,000 steps.
  python launch.py --config experiments/vae_gan.py --workdir runs/vae_gan
Measured (python -m gans.tools.family_table, 2026-11-30, 2-core CPU shared with other
jobs): 8.4 min; fid_classifier 88.2, is_classifier 5.93, Parzen 243 +- 11 nats ([0, 1]
pixels) (README, "Generative-model families").
Paper setting: CelebA 64x64, `:dataset=celeb_a,image_size=64` (TFDS; latent 128).
Arguments: dataset, image_size, runlocal.
"""

from gans import configs
from gans.families import vae_gan


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', image_size=32, runlocal=False)
  c = vae_gan.vae_gan_config()
  c.dataset = arg.dataset
  c.image_size = arg.image_size
  c.batch_size = 64
  c.total_steps = 2_000
  if arg.dataset in ('mnist5k', 'digits'):
    c.train_split = configs.HOLDOUT_SPLITS[arg.dataset][0]
    c.evals.samples.update(every=500, num_samples=2000, kid_subsets=10)
  else:
    c.train_split = 'train'
    c.latent_dim = 128
    c.encoder.width = c.decoder.width = c.discriminator.width = 64
    c.total_steps = 100_000
    c.evals.samples.update(features='inception', num_samples=50_000)
  c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 500
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.encoder.width = c.decoder.width = c.discriminator.width = 8
  return c
