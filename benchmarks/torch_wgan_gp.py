"""The WGAN-GP DCGAN train step of `jax_wgan_gp_prototype.py`, in PyTorch (reference).

Same step: one critic update (mean D(fake) - mean D(real) + 10 * E[(||grad_x D(x_hat)||
- 1)^2], x_hat = eps*real + (1-eps)*fake, eps ~ U[0,1] per example, Gulrajani et al.
2017) then one generator update (-mean D(G(z))), Adam(1e-4, betas (0.5, 0.9)) each,
batch 64 of 32x32x3, f32. Same networks (PyTorch layouts of the same shapes):
  G: Linear 128->4096 -> BN -> ReLU -> 256x4x4 -> [ConvTranspose2d k4 s2 p1 -> BN ->
     ReLU] x2 (128, 64) -> ConvTranspose2d k4 s2 p1 3 -> tanh            (1.19M params)
  D: [Conv2d k4 s2 p1 -> LeakyReLU 0.2] x3 (64, 128, 256) -> flatten -> Linear 1 (0.66M)
ConvTranspose2d(k4, s2, p1) is flax ConvTranspose(4, 2, 'SAME') (output 2x the input)
and Conv2d(k4, s2, p1) is flax Conv(4, 2, padding 1). `channels_last` puts networks
and images in NHWC memory format (the layout the JAX step uses).

  python benchmarks/torch_wgan_gp.py          # NCHW and channels_last, interleaved
  python benchmarks/torch_wgan_gp.py --layout channels_last --steps 50
"""

import argparse
import os
import time

import numpy as np
import torch
from torch import nn

LATENT = 128
GP_WEIGHT = 10.0


def make_generator():
  return nn.Sequential(
    nn.Linear(LATENT, 4 * 4 * 256),
    nn.BatchNorm1d(4 * 4 * 256, momentum=0.1, eps=1e-5),
    nn.ReLU(),
    nn.Unflatten(1, (256, 4, 4)),
    nn.ConvTranspose2d(256, 128, 4, 2, 1),
    nn.BatchNorm2d(128),
    nn.ReLU(),
    nn.ConvTranspose2d(128, 64, 4, 2, 1),
    nn.BatchNorm2d(64),
    nn.ReLU(),
    nn.ConvTranspose2d(64, 3, 4, 2, 1),
    nn.Tanh(),
  )


def make_critic():
  return nn.Sequential(
    nn.Conv2d(3, 64, 4, 2, 1),
    nn.LeakyReLU(0.2),
    nn.Conv2d(64, 128, 4, 2, 1),
    nn.LeakyReLU(0.2),
    nn.Conv2d(128, 256, 4, 2, 1),
    nn.LeakyReLU(0.2),
    nn.Flatten(),
    nn.Linear(256 * 4 * 4, 1),
  )


def make_step(batch_size=64, channels_last=True):
  """Returns (step() -> (d_loss, g_loss), generator, critic)."""
  generator, critic = make_generator(), make_critic()
  fmt = torch.channels_last if channels_last else torch.contiguous_format
  generator.to(memory_format=fmt)
  critic.to(memory_format=fmt)
  g_opt = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.9))
  d_opt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
  real = (torch.rand(batch_size, 3, 32, 32) * 2 - 1).contiguous(memory_format=fmt)

  def step():
    # Critic update.
    with torch.no_grad():
      fake = generator(torch.randn(batch_size, LATENT)).contiguous(memory_format=fmt)
    eps = torch.rand(batch_size, 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).contiguous(memory_format=fmt)
    x_hat.requires_grad_(True)
    d_real, d_fake = critic(real), critic(fake)
    (grads,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = torch.sqrt(grads.reshape(batch_size, -1).pow(2).sum(1) + 1e-12)
    gp = ((norms - 1) ** 2).mean()
    d_loss = d_fake.mean() - d_real.mean() + GP_WEIGHT * gp
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    # Generator update.
    g_loss = -critic(generator(torch.randn(batch_size, LATENT))).mean()
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    return d_loss.detach(), g_loss.detach()

  return step, generator, critic


def time_torch_step(
  batch_size=64, channels_last=True, steps=20, warmup=3, threads=None, seed=0, return_times=False
):
  """Median seconds per WGAN-GP step (critic + generator update) after warm-up.

  `threads` defaults to the number of CPU cores (`torch.set_num_threads`).
  `return_times=True` returns dict(wall=[seconds of each timed step], cpu=process CPU
  seconds per timed step, summed over threads) instead.
  """
  torch.manual_seed(seed)
  torch.set_num_threads(threads or os.cpu_count())
  step, _, _ = make_step(batch_size, channels_last)
  for _ in range(warmup):
    step()
  times = []
  cpu_start = time.process_time()
  for _ in range(steps):
    t0 = time.perf_counter()
    d_loss, _ = step()
    times.append(time.perf_counter() - t0)
  cpu = (time.process_time() - cpu_start) / steps
  if not torch.isfinite(d_loss):
    raise FloatingPointError('non-finite critic loss')
  return dict(wall=times, cpu=cpu) if return_times else float(np.median(times))


def main():
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument(
    '--layout',
    action='append',
    choices=['nchw', 'channels_last'],
    help='repeatable; runs interleaved (default: both)',
  )
  parser.add_argument('--batch-size', type=int, default=64)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--threads', type=int, default=None)
  args = parser.parse_args()
  layouts = args.layout or ['nchw', 'channels_last']
  results = {v: [] for v in layouts}
  for r in range(args.rounds):
    for v in layouts:
      t = time_torch_step(args.batch_size, v == 'channels_last', args.steps, threads=args.threads)
      results[v].append(t)
      print(f'round {r} torch {v}: {t:.4f} s/step', flush=True)
  for v, ts in results.items():
    print(f'torch {v}: median {np.median(ts):.4f} s/step over rounds {[round(t, 4) for t in ts]}')


if __name__ == '__main__':
  main()
