r"""pix2pix: Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks" (family `paired`, model 'pix2pix').

Default (offline, 2-core CPU): edges -> digits on mnist5k at 32x32 (train[:4000]): the
input is the binary Sobel edge map of the digit (threshold 0.4 of the normalised
gradient magnitude), the target the digit, as edges2shoes pairs edges with photos.
U-Net generator with 5 downsamplings (32 -> 1) at width 32 (the paper's 256px net has
8 at width 64), PatchGAN discriminator conditioned on the edges with n_layers 1 (16x16
patches, a 14x14 grid of logits on 32x32 images: half the image, where the paper's
70x70 patch is a quarter of 256), batch norm, cGAN (non-saturating) + 100 * L1, D's
loss halved, Adam 2e-4 (beta1 0.5), batch 16.
  python launch.py --config experiments/pix2pix.py --workdir runs/pix2pix
Measured (2-core CPU shared with other jobs, 2026-12-01): 6.5 min wall for 1,000 steps;
on the 500 held-out digits PSNR 24.97 dB, SSIM 0.946, fid_classifier 0.75. Grid:
docs/pix2pix_edges_mnist5k_step1000.png; details in docs/paired.md.
Paper setting (facades, edges2shoes...: paired datasets that TFDS does not ship; see
docs/paired.md): 256x256, `:image_size=256` with a dataset of 256px images and
generator.num_downs=8, discriminator.n_layers=3 (70x70), batch 1, 200 epochs.
Arguments: dataset, image_size, steps, runlocal.
"""

from gans import configs
from gans.families import paired


def get_config(arg=None):
  arg = configs.parse_arg(arg, dataset='mnist5k', image_size=32, steps=1000, runlocal=False)
  c = paired.paired_config('pix2pix')
  c.dataset = arg.dataset
  c.image_size = arg.image_size
  c.train_split = configs.HOLDOUT_SPLITS.get(arg.dataset, ('train',))[0]
  c.pairs = 'edges'
  c.batch_size = 16
  c.total_steps = arg.steps
  c.generator = configs.net('unet', num_downs=5, width=32)
  c.discriminator = configs.net('patchgan', n_layers=1, width=32)
  builtin = arg.dataset in ('mnist5k', 'digits')
  c.evals.paired.update(every=500 if builtin else 0)
  c.log_every, c.sample_every, c.checkpoint_every = 50, 250, 500
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.generator.width = c.discriminator.width = 8
  return c
