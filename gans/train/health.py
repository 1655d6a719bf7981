"""A training-health monitor: warns on the failure signs the seed documents name.

ganhacks ("things to watch"): D's loss going to 0 is a failure mode (D separates real
from fake perfectly and G's gradient vanishes); G's loss falling steadily means D is
not working, G is fooling it with "garbage". The monitor sees the averaged losses at
each log step and G's outputs on fixed latents, and returns warnings:
- `d_collapse`: for losses bounded below by 0 (minimax, non_saturating, least_squares,
  hinge), D's loss below `d_loss_floor` at each of the last `window` logs;
- `g_steady_fall`: G's loss fell at each of the last `window` - 1 log intervals, by
  more than `g_min_fall` in all, while the samples on the fixed latents moved less than
  `sample_change_tol` (root-mean-square change relative to their spread) per interval.
A warning is given once when its condition starts to hold and again only after it
stopped holding. Wasserstein critics have no floor, so only the second check applies.
"""

import dataclasses

import numpy as np

BOUNDED_LOSSES = ('minimax', 'non_saturating', 'least_squares', 'hinge')


@dataclasses.dataclass
class HealthMonitor:
  loss: str = 'non_saturating'
  window: int = 5
  d_loss_floor: float = 1e-2
  g_min_fall: float = 0.05
  sample_change_tol: float = 1e-3
  d_losses: list = dataclasses.field(default_factory=list)
  g_losses: list = dataclasses.field(default_factory=list)
  changes: list = dataclasses.field(default_factory=list)
  steps: list = dataclasses.field(default_factory=list)
  active: set = dataclasses.field(default_factory=set)
  _last_samples: object = None

  def update(self, step, means, samples=None):
    """Records one log step; returns a list of (name, message) warnings.

    `means`: the logged averages (needs 'd_loss' and 'g_loss'); `samples`: G's outputs
    on fixed latents [N, ...] (or a callable returning them), or None.
    """
    if callable(samples):
      samples = samples()
    self.steps.append(int(step))
    self.d_losses.append(float(means['d_loss']))
    self.g_losses.append(float(means['g_loss']))
    if samples is not None:
      samples = np.asarray(samples, np.float64).reshape(len(samples), -1)
      if self._last_samples is not None:
        spread = np.sqrt(np.mean((samples - samples.mean(0)) ** 2)) + 1e-12
        self.changes.append(float(np.sqrt(np.mean((samples - self._last_samples) ** 2)) / spread))
      self._last_samples = samples
    for history in (self.d_losses, self.g_losses, self.changes, self.steps):
      del history[: -self.window]
    return self._warnings()

  def _warnings(self):
    w = self.window
    found = {}
    if (
      self.loss in BOUNDED_LOSSES
      and len(self.d_losses) >= w
      and max(self.d_losses[-w:]) < self.d_loss_floor
    ):
      found['d_collapse'] = (
        f"D's loss stayed below {self.d_loss_floor:g} for the last {w} logs (steps "
        f'{self.steps[-w]}-{self.steps[-1]}; now {self.d_losses[-1]:.3g}): D separates '
        f"real from fake perfectly and G's gradient vanishes; the run has likely "
        f'failed (weaken D: lower its learning rate, add instance noise, label '
        f'smoothing or a gradient penalty).'
      )
    g = self.g_losses[-w:]
    if (
      len(g) >= w
      and len(self.changes) >= w - 1
      and all(b < a for a, b in zip(g, g[1:]))
      and g[0] - g[-1] > self.g_min_fall
      and max(self.changes[-(w - 1) :]) < self.sample_change_tol
    ):
      found['g_steady_fall'] = (
        f"G's loss fell at every one of the last {w} logs ({g[0]:.3g} -> {g[-1]:.3g}) "
        f'while its samples on fixed latents barely moved (relative change < '
        f"{self.sample_change_tol:g}): D is likely not working; G's loss no longer "
        f'reflects sample quality.'
      )
    new = [(k, v) for k, v in found.items() if k not in self.active]
    self.active = set(found)
    return new


def from_config(config):
  """A HealthMonitor for the config, or None when config.health_checks is off."""
  if not config.health_checks:
    return None
  return HealthMonitor(loss=config.loss)
