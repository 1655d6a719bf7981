"""Why a vectorised sweep of DCGANs is slow on XLA's CPU backend: one conv layer timed.

The layer is the mnist5k DCGAN critic's second convolution (batch 128, 16x16x64 ->
8x8x128, 4x4 kernel, stride 2, 'SAME'), forward and backward (gradients of the
weights and the input of sum(output^2)), for M members that each have their own
weights and inputs, three ways, each one jitted program:
  vmap:     jax.vmap over the members (XLA sees one grouped convolution,
            feature_group_count = M, as gans.sweep.vectorised's program does);
  unrolled: a Python loop of M plain convolutions inside one program;
  alone:    one member's plain convolution, called M times (the sequential sweep).
Prints milliseconds per member-step (median of --repeats timings) and, with --json, a
JSON line.

  python benchmarks/vmap_conv.py --members 8 --repeats 5
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np


def conv(x, w):
  """x [B, H, W, C] float32, w [4, 4, C, K] -> [B, H/2, W/2, K] (stride 2, 'SAME')."""
  return jax.lax.conv_general_dilated(
    x, w, (2, 2), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')
  )


def loss(w, x):
  return jnp.sum(conv(x, w) ** 2)


grad = jax.grad(loss, argnums=(0, 1))


def _time(fn, args, repeats):
  jax.block_until_ready(fn(*args))  # Compile and warm up.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument('--members', type=int, default=8)
  parser.add_argument('--batch', type=int, default=128)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--json', action='store_true')
  args = parser.parse_args(argv)
  m, b = args.members, args.batch
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((m, b, 16, 16, 64)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((m, 4, 4, 64, 128)) * 0.05, jnp.float32)
  vmapped = jax.jit(jax.vmap(grad))
  unrolled = jax.jit(lambda w, x: [grad(w[i], x[i]) for i in range(m)])
  alone = jax.jit(grad)
  seconds = dict(
    vmap=_time(vmapped, (w, x), args.repeats),
    unrolled=_time(unrolled, (w, x), args.repeats),
    alone=m * _time(alone, (w[0], x[0]), args.repeats),
  )
  per_member_ms = {k: 1e3 * v / m for k, v in seconds.items()}
  result = dict(
    members=m,
    batch=b,
    backend=jax.default_backend(),
    ms_per_member_step=per_member_ms,
    vmap_over_alone=per_member_ms['vmap'] / per_member_ms['alone'],
  )
  if args.json:
    print(json.dumps(result))
  else:
    for k, v in per_member_ms.items():
      print(f'{k:9s} {v:8.2f} ms per member-step')
    print(f'vmap / alone: {result["vmap_over_alone"]:.2f}x the time')


if __name__ == '__main__':
  main()
