"""Run outputs: scalars to metrics.jsonl and TensorBoard, image grids to PNG, progress."""

import glob
import json
import os
import time

from absl import logging
import numpy as np

from gans import files
from gans.data import images as image_lib


def drop_rows_after(workdir, step):
  """Drops the rows of every WORKDIR/*.jsonl log whose 'step' is after `step`.

  For a run resumed from the checkpoint at `step`: it logs the later steps again, so
  each step stays in each log once. A last line cut by a kill (no newline, not JSON)
  is dropped too; other rows, with or without 'step', are kept as they are. Each
  file is rewritten atomically. Returns {path: rows dropped} of the files changed.
  """
  changed = {}
  for path in sorted(glob.glob(os.path.join(workdir, '*.jsonl'))):
    with open(path) as f:
      lines = f.readlines()
    kept = []
    for i, line in enumerate(lines):
      try:
        row = json.loads(line)
      except ValueError:
        if i == len(lines) - 1 and not line.endswith('\n'):
          continue  # Cut by a kill while it was written.
        kept.append(line)
        continue
      if isinstance(row, dict) and isinstance(row.get('step'), int) and row['step'] > step:
        continue
      kept.append(line)
    if len(kept) != len(lines):
      with files.atomic_open(path, 'w') as f:
        f.writelines(kept)
      changed[path] = len(lines) - len(kept)
  return changed


class Writer:
  """Writes scalars and images of one run; a no-op on processes other than 0.

  `purge_step` (a resumed run: the restored step + 1) makes TensorBoard hide the
  events of earlier sessions from that step on, as drop_rows_after does for the
  JSONL logs.
  """

  def __init__(self, workdir, enabled=True, purge_step=None):
    self.workdir = workdir
    self.enabled = enabled
    self._tb = None
    if enabled:
      os.makedirs(os.path.join(workdir, 'samples'), exist_ok=True)
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top

      # The pid in the name: a session started within a second of the last one would
      # otherwise reuse its file name (seconds and host) and overwrite it.
      self._tb = SummaryWriter(
        os.path.join(workdir, 'tensorboard'),
        flush_secs=30,
        purge_step=purge_step,
        filename_suffix=f'.{os.getpid()}',
      )

  def write_scalars(self, step, scalars):
    if not self.enabled:
      return
    record = {'step': int(step), **{k: float(v) for k, v in scalars.items()}}
    with open(os.path.join(self.workdir, 'metrics.jsonl'), 'a') as f:
      f.write(json.dumps(record) + '\n')
    for k, v in scalars.items():
      self._tb.add_scalar(k, float(v), int(step))

  def write_image(self, step, name, image):
    """Saves a uint8 HWC image as samples/<name>_<step>.png and to TensorBoard."""
    if not self.enabled:
      return None
    path = os.path.join(self.workdir, 'samples', f'{name}_{int(step):07d}.png')
    image_lib.save_png(path, image)
    self._tb.add_image(name, np.asarray(image), int(step), dataformats='HWC')
    return path

  def flush(self):
    if self._tb is not None:
      self._tb.flush()

  def close(self):
    if self._tb is not None:
      self._tb.close()


def scatter_image(points, reference=None, size=320, lim=None):
  """Renders 2D samples (and optionally reference points) as a uint8 RGB image."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig = plt.figure(figsize=(size / 80, size / 80), dpi=80)
  ax = fig.add_axes((0, 0, 1, 1))
  if reference is not None:
    ax.scatter(reference[:, 0], reference[:, 1], s=2, c='tab:gray', alpha=0.3)
  ax.scatter(points[:, 0], points[:, 1], s=2, c='tab:blue')
  if lim is not None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
  ax.set_aspect('equal')
  fig.canvas.draw()
  image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
  plt.close(fig)
  return image


class Progress:
  """Logs 'step s/N | x steps/s | ETA | losses' lines."""

  def __init__(self, total_steps, start_step):
    self.total = total_steps
    self.last_step = start_step
    self.last_time = time.time()

  def log(self, step, scalars):
    now = time.time()
    rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
    self.last_step, self.last_time = step, now
    eta = (self.total - step) / rate if rate > 0 else float('inf')
    losses = ' '.join(f'{k} {v:.4g}' for k, v in scalars.items())
    logging.info(
      'step %d/%d | %.2f steps/s | ETA %s | %s', step, self.total, rate, _duration(eta), losses
    )
    return rate


def _duration(seconds):
  if not np.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'
