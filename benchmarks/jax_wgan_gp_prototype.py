"""Standalone WGAN-GP DCGAN train step in JAX/Flax, plain vs fast convolutions.

The step: one critic update (WGAN loss + 10 * gradient penalty, Gulrajani et al.
2017) then one generator update, Adam(1e-4, betas 0.5/0.9) each, batch 64 of
32x32x3 images. Networks (the project's DCGAN, 32x32):
  G: z(128) -> Dense 4096 -> BN -> ReLU -> 4x4x256 -> [ConvT 4x4 s2 SAME -> BN -> ReLU]
     x2 (128, 64) -> ConvT 4x4 s2 SAME 3 -> tanh                      (1.19M params)
  D: [Conv 4x4 s2 pad 1 -> LReLU 0.2] x3 (64, 128, 256) -> flatten -> Dense 1 (0.66M)
`make_step(fast=True)` / `--variant jax-fast` swaps `nn.Conv`/`nn.ConvTranspose` for
`gans.nets.fast_conv.Conv`/`ConvTranspose` (same parameters, same values; every
gradient, including the penalty's second order, on fast XLA CPU kernels). The
torch variants run `benchmarks/torch_wgan_gp.py`, the same step in PyTorch.

  # All four, each timed in a fresh process, round-robin (the machine is shared:
  # compare medians of interleaved rounds, and the CPU time per step):
  python benchmarks/jax_wgan_gp_prototype.py --variant jax-plain --variant jax-fast \
      --variant torch-nchw --variant torch-channels_last --rounds 5 --steps 10
  # The same pinned to one core (torch with one thread): per-core efficiency.
  python benchmarks/jax_wgan_gp_prototype.py --variant jax-fast \
      --variant torch-channels_last --cpus 1
  # Penalty as jax.vjp instead of jax.grad; one critic pass over [real; fake].
  python benchmarks/jax_wgan_gp_prototype.py --variant jax-fast --gp vjp --joint-critic
"""

import argparse
import json
import os
import subprocess
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from gans.nets import fast_conv  # pylint: disable=wrong-import-position

LATENT = 128
VARIANTS = ('jax-plain', 'jax-fast', 'torch-nchw', 'torch-channels_last')
GP_WEIGHT = 10.0


class Generator(nn.Module):
  fast: bool = False

  @nn.compact
  def __call__(self, z, train=True):
    conv_t = fast_conv.ConvTranspose if self.fast else nn.ConvTranspose
    bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)
    x = nn.Dense(4 * 4 * 256)(z)
    x = nn.relu(bn()(x)).reshape(z.shape[0], 4, 4, 256)
    for features in (128, 64):
      x = conv_t(features, (4, 4), strides=(2, 2), padding='SAME')(x)
      x = nn.relu(bn()(x))
    x = conv_t(3, (4, 4), strides=(2, 2), padding='SAME')(x)
    return jnp.tanh(x)


class Critic(nn.Module):
  fast: bool = False

  @nn.compact
  def __call__(self, x):
    conv = fast_conv.Conv if self.fast else nn.Conv
    for features in (64, 128, 256):
      x = conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))(x)
      x = nn.leaky_relu(x, 0.2)
    return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]


def _input_grad(critic_fn, x, form):
  """d sum(D(x)) / dx, per example (no batch coupling in the critic)."""
  if form == 'grad':
    return jax.grad(lambda v: jnp.sum(critic_fn(v)))(x)
  if form == 'vjp':
    out, pullback = jax.vjp(critic_fn, x)
    return pullback(jnp.ones_like(out))[0]
  raise ValueError(f'unknown gp form {form!r}')


def make_step(fast=False, gp_form='grad', batch_size=64, joint_critic=False):
  """Returns (init(key) -> state, step(state, real, key) -> (state, metrics))."""
  generator, critic = Generator(fast=fast), Critic(fast=fast)
  g_tx = optax.adam(1e-4, b1=0.5, b2=0.9)
  d_tx = optax.adam(1e-4, b1=0.5, b2=0.9)

  def init(key):
    gk, dk = jax.random.split(key)
    g_vars = generator.init(gk, jnp.zeros((batch_size, LATENT)))
    d_params = critic.init(dk, jnp.zeros((batch_size, 32, 32, 3)))['params']
    return dict(
      g_params=g_vars['params'],
      g_stats=g_vars['batch_stats'],
      d_params=d_params,
      g_opt=g_tx.init(g_vars['params']),
      d_opt=d_tx.init(d_params),
    )

  def run_g(params, stats, z):
    return generator.apply(
      {'params': params, 'batch_stats': stats}, z, train=True, mutable=['batch_stats']
    )

  def step(state, real, key):
    z_key, eps_key, g_key = jax.random.split(key, 3)
    z = jax.random.normal(z_key, (batch_size, LATENT))
    fake, g_mut = run_g(state['g_params'], state['g_stats'], z)
    fake = jax.lax.stop_gradient(fake)
    eps = jax.random.uniform(eps_key, (batch_size, 1, 1, 1))
    x_hat = eps * real + (1.0 - eps) * fake

    def d_loss_fn(d_params):
      critic_fn = lambda x: critic.apply({'params': d_params}, x)
      if joint_critic:  # One pass over [real; fake]: the critic has no batch coupling.
        out = critic_fn(jnp.concatenate([real, fake]))
        d_real, d_fake = out[:batch_size], out[batch_size:]
      else:
        d_real, d_fake = critic_fn(real), critic_fn(fake)
      grads = _input_grad(critic_fn, x_hat, gp_form)
      norms = jnp.sqrt(jnp.sum(grads.reshape(batch_size, -1) ** 2, axis=1) + 1e-12)
      gp = jnp.mean((norms - 1.0) ** 2)
      return jnp.mean(d_fake) - jnp.mean(d_real) + GP_WEIGHT * gp, gp

    (d_loss, gp), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state['d_params'])
    d_updates, d_opt = d_tx.update(d_grads, state['d_opt'], state['d_params'])
    d_params = optax.apply_updates(state['d_params'], d_updates)

    z2 = jax.random.normal(g_key, (batch_size, LATENT))

    def g_loss_fn(g_params):
      fake2, mut = run_g(g_params, g_mut['batch_stats'], z2)
      return -jnp.mean(critic.apply({'params': d_params}, fake2)), mut

    (g_loss, g_mut2), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state['g_params'])
    g_updates, g_opt = g_tx.update(g_grads, state['g_opt'], state['g_params'])
    new_state = dict(
      g_params=optax.apply_updates(state['g_params'], g_updates),
      g_stats=g_mut2['batch_stats'],
      d_params=d_params,
      g_opt=g_opt,
      d_opt=d_opt,
    )
    return new_state, dict(d_loss=d_loss, g_loss=g_loss, gp=gp)

  return init, step


def time_jax_step(
  fast=True,
  gp_form='grad',
  batch_size=64,
  steps=20,
  warmup=3,
  joint_critic=False,
  seed=0,
  return_times=False,
):
  """Median seconds per WGAN-GP step (critic + generator update) after warm-up.

  The step is jitted with the train state donated. `return_times=True` returns
  dict(wall=[seconds of each timed step], cpu=process CPU seconds per timed step,
  summed over threads) instead.
  """
  init, step = make_step(fast, gp_form, batch_size, joint_critic)
  state = init(jax.random.PRNGKey(seed))
  real = jax.random.uniform(
    jax.random.PRNGKey(seed + 1), (batch_size, 32, 32, 3), minval=-1.0, maxval=1.0
  )
  jstep = jax.jit(step, donate_argnums=0)
  key = jax.random.PRNGKey(seed + 2)
  for i in range(warmup):  # The first call compiles.
    state, metrics = jax.block_until_ready(jstep(state, real, jax.random.fold_in(key, i)))
  times = []
  cpu_start = time.process_time()
  for i in range(warmup, warmup + steps):
    t0 = time.perf_counter()
    state, metrics = jax.block_until_ready(jstep(state, real, jax.random.fold_in(key, i)))
    times.append(time.perf_counter() - t0)
  cpu = (time.process_time() - cpu_start) / steps
  if not np.isfinite(float(metrics['d_loss'])):
    raise FloatingPointError('non-finite critic loss')
  return dict(wall=times, cpu=cpu) if return_times else float(np.median(times))


def _time_in_subprocess(variant, args):
  """Times one variant in a fresh process; returns time_*_step's dict."""
  here = os.path.dirname(os.path.abspath(__file__))
  if variant.startswith('torch'):
    call = 't.time_torch_step(%d, %r, %d, return_times=True)' % (
      args.batch_size,
      variant == 'torch-channels_last',
      args.steps,
    )
    code = 'import torch_wgan_gp as t; '
  else:
    call = 't.time_jax_step(%r, %r, %d, %d, joint_critic=%r, return_times=True)' % (
      variant == 'jax-fast',
      args.gp,
      args.batch_size,
      args.steps,
      args.joint_critic,
    )
    code = 'import jax_wgan_gp_prototype as t; '
  pin = ''
  if args.cpus:  # Pin before jax/torch start their thread pools; torch gets one per CPU.
    cpus = sorted(int(c) for c in args.cpus.split(','))
    pin = f'import os; os.sched_setaffinity(0, {cpus}); '
    call = call.replace(
      'return_times=True',
      f'return_times=True, threads={len(cpus)}'
      if variant.startswith('torch')
      else 'return_times=True',
    )
  code = f'{pin}import sys, json; sys.path.insert(0, {here!r}); {code} print(json.dumps({call}))'
  out = subprocess.run(
    [sys.executable, '-c', code], check=True, capture_output=True, text=True
  ).stdout
  return json.loads(out.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument(
    '--variant',
    action='append',
    choices=VARIANTS,
    help='repeatable; each timed in a fresh process, round-robin (default: jax-plain and jax-fast)',
  )
  parser.add_argument('--gp', default='grad', choices=['grad', 'vjp'])
  parser.add_argument(
    '--joint-critic', action='store_true', help='one critic pass over [real; fake]'
  )
  parser.add_argument('--batch-size', type=int, default=64)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument(
    '--cpus',
    default='',
    help='comma-separated CPU ids to pin every variant to (e.g. 0: '
    'one core, torch with 1 thread); default: all',
  )
  parser.add_argument(
    '--rounds', type=int, default=3, help='interleaved rounds per variant; reports the median'
  )
  args = parser.parse_args()
  variants = args.variant or ['jax-plain', 'jax-fast']
  results = {v: [] for v in variants}
  for r in range(args.rounds):
    for v in variants:
      res = _time_in_subprocess(v, args)
      results[v].append(res)
      print(
        f'round {r} {v}: median {np.median(res["wall"]):.4f} min '
        f'{np.min(res["wall"]):.4f} cpu {res["cpu"]:.4f} s/step',
        flush=True,
      )
  print(
    f'batch {args.batch_size}, {args.steps} timed steps per round, gp={args.gp}, '
    f'joint_critic={args.joint_critic}, cpus={args.cpus or "all"}. Seconds per '
    'step: median of the per-round medians [per-round medians]; fastest single '
    'step (the least disturbed by other load); process CPU time per step (all '
    'threads):'
  )
  for v, rounds in results.items():
    medians = [float(np.median(r['wall'])) for r in rounds]
    fastest = min(min(r['wall']) for r in rounds)
    cpu = float(np.median([r['cpu'] for r in rounds]))
    print(
      f'  {v:20s} {np.median(medians):.4f} {[round(m, 4) for m in medians]}  '
      f'min {fastest:.4f}  cpu {cpu:.4f}'
    )


if __name__ == '__main__':
  main()
