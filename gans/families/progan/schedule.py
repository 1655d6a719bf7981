"""The ProGAN resolution schedule, in images shown (Karras et al. 2018, Sec. 3; the
official train.py `TrainingSchedule`).

Training starts at `start_resolution` (4) and alternates, for each doubling, a
stabilize phase of S images at the current resolution and a fade-in phase of F images
during which the next resolution's layers blend in with weight alpha rising linearly
from 0 to 1; after the last fade-in it stays at the final resolution. With dur = S + F
and i images shown before a step:

  k = i // dur, within = i - k dur
  within < S:  resolution start 2^k, alpha 1            (stabilize)
  within >= S: resolution start 2^(k+1), alpha (within - S) / F   (fade-in)

capped at the final resolution (alpha 1). So the fade-in of resolution start 2^k runs
over images [(k - 1) dur + S, k dur) and its stabilize phase starts at k dur. A step of
B images starts at i = step * B (the batch size is constant here; the paper lowers it
from 256x256 on). The segment index 2k (stabilize) or 2k + 1 (fade-in) changes exactly
where the official code resets the Adam moments (`reset_opt_for_new_lod`).

Host functions take Python ints; `fade_alpha` and `segment` also take traced int32
images inside a compiled step and give the same float32 values as the host.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from gans.nets import progan as progan_nets


@dataclasses.dataclass(frozen=True)
class Schedule:
  """A resolution schedule: resolutions start..final, S and F in images, batch B."""

  start: int
  final: int
  stabilize_images: int
  fade_images: int
  batch_size: int

  @classmethod
  def from_config(cls, config):
    """From config.start_resolution, image_size, stabilize_kimg, fade_kimg, batch_size."""
    return cls(
      start=int(config.start_resolution),
      final=int(config.image_size),
      stabilize_images=int(round(config.stabilize_kimg * 1000)),
      fade_images=int(round(config.fade_kimg * 1000)),
      batch_size=int(config.batch_size),
    )

  def __post_init__(self):
    progan_nets.resolutions(self.final, self.start)
    if self.fade_images <= 0 or self.stabilize_images < 0:
      raise ValueError(
        f'ProGAN schedule: fade_kimg must be > 0 and stabilize_kimg >= 0, got '
        f'{self.fade_images / 1000} and {self.stabilize_images / 1000}.'
      )

  @property
  def resolutions(self):
    return progan_nets.resolutions(self.final, self.start)

  @property
  def levels(self):
    """Number of doublings from start to final."""
    return len(self.resolutions) - 1

  @property
  def duration(self):
    return self.stabilize_images + self.fade_images

  def fade_start(self, resolution):
    """Images shown when the fade-in of `resolution` (> start) begins."""
    k = self.resolutions.index(resolution)
    return (k - 1) * self.duration + self.stabilize_images

  def stabilize_start(self, resolution):
    """Images shown when `resolution` is fully faded in (0 for the start)."""
    return self.resolutions.index(resolution) * self.duration

  @property
  def growth_images(self):
    """Images shown when the final resolution's last fade-in ends."""
    return self.levels * self.duration

  def first_step_at(self, images):
    """The first step whose images shown before it reach `images`: ceil(images / B)."""
    return -(-int(images) // self.batch_size)

  def segment(self, images):
    """2k during stabilize phase k, 2k + 1 during the fade-in after it, capped at
    2 levels (the final resolution). Works on ints and traced int32."""
    k = images // self.duration
    seg = 2 * k + (images - k * self.duration >= self.stabilize_images)
    if isinstance(seg, (int, np.integer, bool)):
      return min(int(seg), 2 * self.levels)
    return jnp.minimum(seg.astype(jnp.int32), 2 * self.levels)

  def resolution_at(self, images):
    """The resolution trained after `images` images (host int)."""
    seg = self.segment(int(images))
    return self.resolutions[(seg + 1) // 2]

  def fade_alpha(self, images, resolution):
    """alpha of `resolution` after `images` images: clip((i - fade start) / F, 0, 1)
    in float32 (1 for the start resolution). Host ints or traced int32."""
    if resolution == self.start:
      return jnp.float32(1.0) if not isinstance(images, int) else 1.0
    offset = images - self.fade_start(resolution)
    if isinstance(offset, int):
      alpha = np.float32(offset) / np.float32(self.fade_images)
      return float(np.clip(alpha, np.float32(0), np.float32(1)))
    alpha = offset.astype(jnp.float32) / jnp.float32(self.fade_images)
    return jnp.clip(alpha, 0.0, 1.0)

  def at_step(self, step):
    """(resolution, alpha) of step `step` (host int; images step * B before it)."""
    images = int(step) * self.batch_size
    r = self.resolution_at(images)
    return r, self.fade_alpha(images, r)

  def phase(self, step):
    """The compiled phase of step `step`: 'res<r>'."""
    return phase_name(self.at_step(step)[0])

  def boundaries(self):
    """[(images, resolution, 'fade' | 'stabilize')] where each segment begins."""
    out = [(0, self.start, 'stabilize')]
    for r in self.resolutions[1:]:
      out += [(self.fade_start(r), r, 'fade'), (self.stabilize_start(r), r, 'stabilize')]
    return out


def phase_name(resolution):
  return f'res{resolution}'
