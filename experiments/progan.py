r"""ProGAN: Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation".

Progressive growing from 4x4 (a stabilize phase per resolution and a fade-in of each
new resolution, measured in images shown), pixelwise feature normalization in G,
minibatch standard deviation in D, equalized learning rate, nearest upsampling and
average-pool downsampling, toRGB / fromRGB at every resolution, WGAN-GP with the drift
term 0.001, Adam (0.001, betas 0 and 0.99) with moments reset at every phase, G EMA
0.999; gans/families/progan, gans/nets/progan.py, docs/progan.md.

Default (offline, 2-core CPU): mnist5k (train[:4000]) grown 4x4 -> 32x32; widths
min(256 / 2^(k-1), 64) = 64 / 64 / 32 / 16 at 4 / 8 / 16 / 32, z 128, batch 16; 8 kimg
per stabilize phase and 8 kimg per fade-in (500 steps each): res4 steps 0-499, fade-in
to 8 500-999, res8 1,000-1,499, fade-in to 16 1,500-1,999, res16 2,000-2,499, fade-in
to 32 2,500-2,999, res32 3,000-3,499 (56 kimg in all); G EMA 0.99 (the paper's 0.999
spans two of these short phases); fid_classifier on 2,000 EMA samples (the current
resolution nearest-upsampled to 32x32) against all 5,000 digits every 500 steps, i.e.
at the end of every phase.
  python launch.py --config experiments/progan.py --workdir runs/progan
Measured 2026-12-01 on the 2-core CPU (shared with four other jobs): 16.8 minutes with
the evaluations; fid_classifier 832 / 559 / 417 / 315 / 198 / 188 / 105 at steps 500 /
1,000 / ... / 3,500 (real digits pooled to 4 / 8 / 16 / 32 and upsampled back score
682 / 209 / 15.7 / 0.8: the floor of each stage; seed 1: 104 at 3,500); varied,
recognisable 32x32 digits, still improving (docs/progan.md, docs/progan_mnist5k.png).
Presets (accelerator; data prepared with TFDS):
  :preset=cifar     The paper's CIFAR-10 run (Sec. 6.5; the official config's
                    `cifar-10-32x32`): 32x32, widths 128 (fmap_base 4096, fmap_max
                    128), z 128, batch 16, minibatch stddev over the whole minibatch
                    (group 16), 400 kimg per stabilize phase and per fade-in,
                    gradient-penalty target 750, 20,000 kimg (1.25 M steps).
                    Paper: unsupervised Inception score 8.80 +- 0.05 (Table 3;
                    REFERENCES.md); measure with --mode eval (Inception IS and FID on
                    50,000 samples; needs the pytorch-fid weights).
  :preset=celeba    CelebA 128x128 (TFDS celeb_a, centre-cropped), the paper's Sec.
                    6.1 setting: fmap_base 2048 (max 512), z 512, batch 16, 800 kimg
                    per phase, 10,000 kimg.
  :preset=celebahq  CelebA-HQ 1024x1024 (TFDS celeb_a_hq/1024, prepared by hand), the
                    paper's Sec. 6.3: fmap_base 8192, fmap_max 512, z 512, 800 kimg
                    per phase, 19,000 kimg. The batch stays 16 at every resolution
                    here (the paper: 16 up to 128x128, then 14, 6, 3).
Arguments: preset (offline | cifar | celeba | celebahq), dataset, runlocal.
"""

from gans import configs
from gans.families import progan


def get_config(arg=None):
  arg = configs.parse_arg(arg, preset='offline', dataset='', runlocal=False)
  c = progan.progan_config()
  if arg.preset == 'offline':
    c.dataset = arg.dataset or 'mnist5k'
    c.image_size = 32
    c.generator.update(latent_dim=128, fmap_base=256, fmap_max=64)
    c.discriminator.update(fmap_base=256, fmap_max=64, mbstd_group_size=4)
    c.batch_size = 16  # The paper's batch up to 128x128.
    c.stabilize_kimg = c.fade_kimg = 8.0  # 500 steps each.
    # The paper's 0.999 averages over ~1,000 steps, two of these short phases: its
    # samples would mix the last phase's weights (and the initial ones early on).
    c.ema_decay = 0.99
    c.total_steps = 3_500
    c.log_every, c.sample_every, c.checkpoint_every = 50, 500, 500
  elif arg.preset == 'cifar':
    c.dataset = arg.dataset or 'cifar10'
    c.image_size = 32
    c.generator.update(latent_dim=128, fmap_base=4096, fmap_max=128)
    # The paper's Theano code took the statistic over the whole minibatch.
    c.discriminator.update(fmap_base=4096, fmap_max=128, mbstd_group_size=16)
    c.batch_size = 16
    c.stabilize_kimg = c.fade_kimg = 400.0
    c.gp_target = 750.0
    c.total_steps = 20_000_000 // 16
    c.log_every, c.sample_every, c.checkpoint_every = 1000, 20_000, 20_000
  elif arg.preset in ('celeba', 'celebahq'):
    hq = arg.preset == 'celebahq'
    c.dataset = arg.dataset or ('celeb_a_hq/1024' if hq else 'celeb_a')
    c.image_size = 1024 if hq else 128
    base = 8192 if hq else 2048
    c.generator.update(latent_dim=512, fmap_base=base, fmap_max=512)
    c.discriminator.update(fmap_base=base, fmap_max=512, mbstd_group_size=4)
    c.batch_size = 16
    c.stabilize_kimg = c.fade_kimg = 800.0
    c.total_steps = (19_000_000 if hq else 10_000_000) // 16
    c.log_every, c.sample_every, c.checkpoint_every = 1000, 20_000, 20_000
  else:
    raise ValueError(f"preset={arg.preset!r} is not 'offline', 'cifar', 'celeba' or 'celebahq'.")
  if c.dataset in ('mnist5k', 'digits'):
    c.train_split = configs.HOLDOUT_SPLITS[c.dataset][0]
    c.evals.samples.update(every=500, num_samples=2000, kid_subsets=10)
  else:
    c.evals.samples.update(features='inception', num_samples=50_000, every=0)
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.image_size = 8
    c.generator.update(latent_dim=16, fmap_base=32, fmap_max=16)
    c.discriminator.update(fmap_base=32, fmap_max=16)
    # Plain XLA convolutions: half the compile time of fast_conv's.
    c.generator.fast_conv = c.discriminator.fast_conv = False
    # Batch 16: step 0 at 4x4 (8 images), steps 1-2 fade in 8x8 (alpha 0.25, 0.75),
    # step 3 stabilizes 8x8; a run stopped at step 1 or 2 resumes inside the fade-in.
    c.stabilize_kimg, c.fade_kimg = 0.008, 0.032
    c.total_steps = 4
  return c
