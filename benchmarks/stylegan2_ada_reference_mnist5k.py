r"""stylegan2-ada-pytorch's own networks and loss trained on our offline StyleGAN2 setup.

The cross-check behind docs/stylegan2.md ("It is not a bug of ours"): NVlabs'
`training.networks.Generator` / `Discriminator` and `training.loss.StyleGAN2Loss`,
imported from a checkout of https://github.com/NVlabs/stylegan2-ada-pytorch (not
vendored: its licence is NVIDIA's non-commercial one), trained on the same data and
settings as `experiments/stylegan2.py`'s offline default: mnist5k train[:4000] at
32x32x1, channel_base 512 / channel_max 64, z and w 128, 2 mapping layers, batch 32,
Adam lr 0.0025 with betas (0, 0.99) and eps 1e-8 for G and `--d_lr_scale` times that
for D, R1 gamma 1, path length 2, style mixing 0.9, EMA half-life 2 kimg with ramp-up
0.05. The loop follows training_loop.py: phases Gmain, Greg (every 4), Dmain, Dreg (every
16), each its own latents and Adam step with gain = interval, lazy lr and betas scaled by
interval / (interval + 1), non-finite gradients zeroed; float32, no augmentation, CPU.

  pip install torch  # any recent version; the reference ops fall back to plain torch on CPU
  python benchmarks/stylegan2_ada_reference_mnist5k.py --stylegan2_ada /path/to/stylegan2-ada-pytorch \
      --out /tmp/ref_sg2 --steps 1000 [--d_lr_scale 10]
  python -m gans.tools.metrics_cli /tmp/ref_sg2/train.npz /tmp/ref_sg2/samples_001000.npz \
      --features classifier --metrics fid,is

Every `--every` steps it writes samples_<step>.npz (2,000 EMA samples, uint8 NHWC under
'images', random noise inputs) and grid_<step>.png (the first 64); train.npz holds the
training digits for the metrics command. Measured 2026-11-30 on the 2-core CPU at
`--d_lr_scale 1` (the paper's equal rates): one digit shape at steps 500 and 750,
fid_classifier 753 at step 750 against the training digits, about 0.4 s/step.
"""

import argparse
import copy
import os
import sys
import time

import numpy as np
from PIL import Image


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--stylegan2_ada', required=True, help='checkout of stylegan2-ada-pytorch')
  parser.add_argument('--out', required=True)
  parser.add_argument('--steps', type=int, default=1000)
  parser.add_argument('--every', type=int, default=250)
  parser.add_argument('--d_lr_scale', type=float, default=1.0)
  parser.add_argument('--r1_gamma', type=float, default=1.0)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  if not os.path.isfile(os.path.join(args.stylegan2_ada, 'training', 'networks.py')):
    sys.exit(
      f'error: {args.stylegan2_ada}: not a stylegan2-ada-pytorch checkout (no training/networks.py)'
    )
  sys.path.insert(0, args.stylegan2_ada)
  import torch  # pylint: disable=g-import-not-at-top
  from training import networks  # pylint: disable=g-import-not-at-top
  from training.loss import StyleGAN2Loss  # pylint: disable=g-import-not-at-top

  from gans import configs  # pylint: disable=g-import-not-at-top
  from gans import data  # pylint: disable=g-import-not-at-top
  from gans.data import images  # pylint: disable=g-import-not-at-top

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  config = configs.load_config_file(os.path.join(root, 'experiments', 'stylegan2.py'))
  dataset = data.load(config, config.train_split)
  x, _ = dataset.get(np.arange(dataset.num_examples))
  os.makedirs(args.out, exist_ok=True)
  np.savez(os.path.join(args.out, 'train.npz'), images=images.to_uint8(x))
  reals = torch.from_numpy(np.asarray(x, np.float32)).permute(0, 3, 1, 2).contiguous()

  torch.manual_seed(args.seed)
  rng = np.random.default_rng(args.seed)
  z_dim, batch = 128, 32
  widths = dict(channel_base=512, channel_max=64, num_fp16_res=0, conv_clamp=None)
  generator = networks.Generator(
    z_dim=z_dim,
    c_dim=0,
    w_dim=z_dim,
    img_resolution=32,
    img_channels=1,
    mapping_kwargs=dict(num_layers=2),
    synthesis_kwargs=widths,
  )
  discriminator = networks.Discriminator(
    c_dim=0, img_resolution=32, img_channels=1, epilogue_kwargs=dict(mbstd_group_size=4), **widths
  )
  g_ema = copy.deepcopy(generator).eval()
  loss = StyleGAN2Loss(
    torch.device('cpu'),
    generator.mapping,
    generator.synthesis,
    discriminator,
    r1_gamma=args.r1_gamma,
    pl_weight=2.0,
    style_mixing_prob=0.9,
  )
  phases = []
  for name, module, interval, scale in (
    ('G', generator, 4, 1.0),
    ('D', discriminator, 16, args.d_lr_scale),
  ):
    ratio = interval / (interval + 1)
    opt = torch.optim.Adam(
      module.parameters(), lr=0.0025 * scale * ratio, betas=(0.0, 0.99**ratio), eps=1e-8
    )
    phases += [(name + 'main', module, opt, 1), (name + 'reg', module, opt, interval)]

  order, pos, start = rng.permutation(len(reals)), 0, time.time()
  no_label = torch.zeros([batch, 0])
  for step in range(args.steps):
    if pos + batch > len(reals):
      order, pos = rng.permutation(len(reals)), 0
    real = reals[order[pos : pos + batch]]
    pos += batch
    for name, module, opt, interval in phases:
      if step % interval:
        continue
      opt.zero_grad(set_to_none=True)
      module.requires_grad_(True)
      loss.accumulate_gradients(
        phase=name,
        real_img=real,
        real_c=no_label,
        gen_z=torch.randn([batch, z_dim]),
        gen_c=no_label,
        sync=True,
        gain=interval,
      )
      module.requires_grad_(False)
      for p in module.parameters():
        if p.grad is not None:
          torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
      opt.step()
    seen = (step + 1) * batch
    beta = 0.5 ** (batch / max(min(2000.0, seen * 0.05), 1e-8))
    with torch.no_grad():
      for p_ema, p in zip(g_ema.parameters(), generator.parameters()):
        p_ema.copy_(p.lerp(p_ema, beta))
      for b_ema, b in zip(g_ema.buffers(), generator.buffers()):
        b_ema.copy_(b)
    if (step + 1) % args.every == 0 or step + 1 == args.steps:
      with torch.no_grad():
        parts = []
        for k in range(0, 2000, 200):
          z = torch.randn([200, z_dim], generator=torch.Generator().manual_seed(k))
          parts.append(g_ema(z, torch.zeros([200, 0]), noise_mode='random'))
      fake = torch.cat(parts).permute(0, 2, 3, 1).numpy()
      u8 = images.to_uint8(np.clip(fake, -1.0, 1.0))
      np.savez(os.path.join(args.out, f'samples_{step + 1:06d}.npz'), images=u8)
      grid = images.grid(u8[:64], rows=8)
      Image.fromarray(grid[..., 0]).save(os.path.join(args.out, f'grid_{step + 1:06d}.png'))
      print(f'step {step + 1}: {time.time() - start:.0f} s, pl_mean {float(loss.pl_mean):.3f}')


if __name__ == '__main__':
  main()
