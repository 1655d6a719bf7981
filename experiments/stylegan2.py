r"""StyleGAN2: Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN".

Style-based generator (mapping network, modulated and demodulated convolutions, noise
inputs, skip toRGB outputs), residual discriminator with minibatch stddev,
non-saturating logistic loss, lazy R1 (every 16 D steps) and path-length
regularization (every 4 G steps), style mixing, generator EMA in thousands of images
and truncation psi; gans/families/stylegan2, gans/nets/stylegan2.py.

Default (offline, 2-core CPU): mnist5k at 32x32 (train[:4000]); widths 64-16
(channel_base 512, channel_max 64), z and w 128, 2 mapping layers (stylegan2-ada's
`auto`/`cifar` depth), batch 32, Adam 0.0025 with betas (0, 0.99) for G and 10x that
for D (`d_lr_scale`), R1 gamma 1, path length weight 2, style mixing 0.9, EMA
half-life 2 kimg with ramp-up 0.05, 3,000 steps (96 kimg).
  python launch.py --config experiments/stylegan2.py --workdir runs/stylegan2
Measured 2026-11-30 on the 2-core CPU (shared with another job): 14 minutes with the
evaluations; fid_classifier 322 / 79 / 23.9 at steps 1,000 / 2,000 / 3,000 (2,000 EMA
samples against all 5,000 mnist5k digits; seed 1: 495 / 109 / 34.8), varied,
recognisable digits. With D at G's learning rate (`--config.d_lr_scale=1`, the paper's
setting) the samples collapse to one or two digit shapes (fid_classifier 709 at step
1,000), and stylegan2-ada-pytorch's own networks and loss collapse the same way on this
data; see docs/stylegan2.md.
Presets (accelerator; data prepared with TFDS), stylegan2-ada-pytorch's `--cfg`:
  :preset=cifar     CIFAR-10 32x32: widths 512 (channel_base 32768), 2 mapping
                    layers, D without residual skips, mbstd group 32, batch 64, lr
                    0.0025, gamma 0.01, EMA 500 kimg with ramp-up 0.05, no path length
                    or mixing regularization, 100,000 kimg. Published (50k samples
                    against the 50k training images, Inception features): StyleGAN2
                    baseline FID 6.96; with ADA 5.33 unconditional and 2.42
                    class-conditional (Karras et al. 2020b, ADA; REFERENCES.md).
                    Parameters G 19,947,539 and D 20,720,641 (conditional: 20,215,315
                    and 23,089,664), as stylegan2-ada-pytorch's networks count them.
  :preset=paper256  256x256 (FFHQ/LSUN-like; dataset=lsun/church_outdoor by default):
                    channel_base 16384, 8 mapping layers, mbstd group 8, batch 64, lr
                    0.0025, gamma 1, EMA 20 kimg, 25,000 kimg. G 24,767,458 and D
                    24,001,089 parameters.
  conditional=True  class-conditional (mapping embeds the label; projection D).
Arguments: preset (offline | cifar | paper256), dataset, conditional, runlocal.
"""

from gans import configs
from gans.families import stylegan2


def get_config(arg=None):
  arg = configs.parse_arg(arg, preset='offline', dataset='', conditional=False, runlocal=False)
  c = stylegan2.stylegan2_config()
  if arg.preset == 'offline':
    c.dataset = arg.dataset or 'mnist5k'
    c.image_size = 32
    c.generator.update(
      latent_dim=128, w_dim=128, mapping_layers=2, channel_base=512, channel_max=64
    )
    c.discriminator.update(channel_base=512, channel_max=64, mbstd_group_size=4)
    c.batch_size = 32
    c.optimizer.lr = 0.0025
    # D learns 10x faster than G (two time-scale update rule). At G's rate this small
    # pair collapses to one or two digit shapes within 100 kimg -- and so does
    # stylegan2-ada-pytorch's own code on the same data (docs/stylegan2.md).
    c.d_lr_scale = 10.0
    c.r1_gamma = 1.0
    c.ema_kimg, c.ema_rampup = 2.0, 0.05
    c.total_steps = 3_000
    c.log_every, c.sample_every, c.checkpoint_every = 50, 500, 500
  elif arg.preset == 'cifar':
    c.dataset = arg.dataset or 'cifar10'
    c.image_size = 32
    c.generator.update(latent_dim=512, w_dim=512, mapping_layers=2, channel_base=32768)
    c.discriminator.update(channel_base=32768, architecture='orig', mbstd_group_size=32)
    c.batch_size = 64
    c.optimizer.lr = 0.0025
    c.r1_gamma = 0.01
    c.ema_kimg, c.ema_rampup = 500.0, 0.05
    c.pl_weight = 0.0
    c.style_mixing_prob = 0.0
    c.total_steps = 100_000_000 // 64
    c.log_every, c.sample_every, c.checkpoint_every = 1000, 10_000, 10_000
  elif arg.preset == 'paper256':
    c.dataset = arg.dataset or 'lsun/church_outdoor'
    c.image_size = 256
    c.generator.update(latent_dim=512, w_dim=512, mapping_layers=8, channel_base=16384)
    c.discriminator.update(channel_base=16384, mbstd_group_size=8)
    c.batch_size = 64
    c.optimizer.lr = 0.0025
    c.r1_gamma = 1.0
    c.ema_kimg = 20.0
    c.total_steps = 25_000_000 // 64
    c.log_every, c.sample_every, c.checkpoint_every = 1000, 10_000, 10_000
  else:
    raise ValueError(f"preset={arg.preset!r} is not 'offline', 'cifar' or 'paper256'.")
  if c.dataset in ('mnist5k', 'digits'):
    c.train_split = configs.HOLDOUT_SPLITS[c.dataset][0]
    c.evals.samples.update(every=1000, num_samples=2000, kid_subsets=10)
  else:
    c.evals.samples.update(
      features='inception', num_samples=50_000, reference_split='train', every=0
    )
  # Perceptual path length in W at the path ends (the StyleGAN2 paper's PPL; run with
  # --mode eval --evals=ppl_w). LPIPS needs --config.evals.ppl_w.vgg_weights=... and
  # .lpips_weights=...; without them, the offline classifier's features (ppl_classifier).
  offline = c.dataset in ('mnist5k', 'digits')
  c.evals.ppl_w = configs.ppl_eval(
    space='w', sampling='end', num_samples=5000 if offline else 50_000
  )
  if arg.conditional:
    c.conditional = True
    c.num_classes = 10 if c.dataset in ('mnist5k', 'digits', 'cifar10') else c.num_classes
  if arg.runlocal:
    configs.shrink_for_runlocal(c)
    c.image_size = 16
    c.generator.update(latent_dim=16, w_dim=16, channel_base=64, channel_max=16)
    c.discriminator.update(channel_base=64, channel_max=16)
    # Plain XLA convolutions: half the compile time of fast_conv's, which only pays
    # off in steps that run long.
    c.generator.fast_conv = c.discriminator.fast_conv = False
    c.pl_weight, c.style_mixing_prob, c.r1_gamma = 2.0, 0.9, 0.01
    # Both lazy regularizers on even steps: a runlocal run and a resume from step 1
    # cross lazy-regularization steps, with two compiled phases (main, both_reg).
    c.pl_interval = c.r1_interval = 2
  return c
