"""pytorch-fid's Inception feature extraction, timed the way `gans.benchmark` times ours.

The reference for images/s: `pytorch_fid.inception.InceptionV3([3])` (pool3, 2048-d)
in eval mode under `torch.no_grad()`, with its own preprocessing (bilinear resize to
299x299 and scaling to [-1, 1]); each timed call includes the uint8 -> float [0, 1]
conversion, as our timed call includes ours. layout 'nchw' is what pytorch-fid runs:
its data loader stacks `ToTensor()` images into contiguous NCHW batches. Layout
'channels_last' (NHWC memory, faster oneDNN kernels on CPU) is faster than
pytorch-fid itself; both are reported by `gans.benchmark --compare-torch`.
Weights are random unless `--weights` names pytorch-fid's .pth (speed does not depend
on them).

  python benchmarks/torch_inception.py --batch 50 --batches 5
"""

import argparse
import json
import os
import time

import numpy as np
import torch

from gans.metrics import torch_reference


def time_torch_inception(
  batch=50, batches=3, size=32, threads=None, weights=None, seed=0, layout='nchw'
):
  """Returns dict(torch_feature_images_per_second, torch_feature_first_call_seconds)."""
  if layout not in ('nchw', 'channels_last'):
    raise ValueError(f"layout {layout!r}: use 'nchw' or 'channels_last'.")
  from pytorch_fid import inception as fid  # pylint: disable=g-import-not-at-top

  torch.manual_seed(seed)
  torch.set_num_threads(threads or os.cpu_count())
  original = fid.fid_inception_v3
  fid.fid_inception_v3 = lambda: torch_reference.fid_inception_network(weights)
  try:
    net = fid.InceptionV3([3], resize_input=True, normalize_input=True).eval()
    if layout == 'channels_last':
      net = net.to(memory_format=torch.channels_last)
  finally:
    fid.fid_inception_v3 = original
  images = np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)

  def run():
    with torch.no_grad():
      x = torch.from_numpy(images).permute(0, 3, 1, 2)  # NHWC memory.
      fmt = torch.channels_last if layout == 'channels_last' else torch.contiguous_format
      x = x.contiguous(memory_format=fmt).float() / 255.0
      return net(x)[0]

  t = time.perf_counter()
  run()
  first = time.perf_counter() - t
  times = []
  for _ in range(batches):
    t = time.perf_counter()
    run()
    times.append(time.perf_counter() - t)
  return dict(
    torch_feature_images_per_second=batch / float(np.median(times)),
    torch_feature_first_call_seconds=first,
    torch_feature_layout=layout,
  )


def main():
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument('--batch', type=int, default=50)
  parser.add_argument('--batches', type=int, default=3)
  parser.add_argument('--threads', type=int, default=None)
  parser.add_argument('--weights', default=None)
  parser.add_argument('--layout', default='nchw', choices=['nchw', 'channels_last'])
  args = parser.parse_args()
  print(
    json.dumps(
      time_torch_inception(
        args.batch, args.batches, threads=args.threads, weights=args.weights, layout=args.layout
      )
    )
  )


if __name__ == '__main__':
  main()
