r"""The style-mixing figure of a trained StyleGAN2 (Karras et al. 2019, Fig. 3).

  python -m gans.analysis.style_mixing --config experiments/stylegan2.py \
      --workdir runs/stylegan2 [--rows 4 --cols 6 --cutoff 4 --seed 0]

Reads the latest checkpoint of the run and writes WORKDIR/analysis/style_mixing.png
(first row: the column sources; first column: the row sources; cell (i, j): the styles
of layers before `cutoff` from row i, the rest from column j) and style_mixing.json
(seeds, cutoff, step, truncation_psi). With cutoff 4 (the 4x4 and 8x8 layers) rows give
the coarse styles (pose, shape, the digit's identity) and columns the finer ones.
Uses the EMA generator, the config's truncation_psi (override it with
--config.truncation_psi=0.7) and fixed noise.
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags
from PIL import Image

from gans import errors
from gans import files
from gans.families import stylegan2
from gans.train import loop


def write_figure(config, workdir, rows=4, cols=6, cutoff=4, seed=0):
  """Writes analysis/style_mixing.png and .json into `workdir`; returns the PNG path.

  Raises:
    ValueError: if the run is not a `stylegan2` run or cutoff is out of range.
  """
  if config.get('family') != 'stylegan2':
    raise ValueError(f'style mixing needs a stylegan2 run; config.family={config.get("family")!r}.')
  exp, state = loop.restore_latest(config, workdir)
  row_seeds = list(range(seed, seed + rows))
  col_seeds = list(range(seed + rows, seed + rows + cols))
  grid = stylegan2.style_mixing(exp, state, row_seeds, col_seeds, cutoff, jax.random.PRNGKey(seed))
  out_dir = os.path.join(workdir, 'analysis')
  os.makedirs(out_dir, exist_ok=True)
  png = os.path.join(out_dir, 'style_mixing.png')
  with files.atomic_open(png, 'wb') as f:
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(f, format='PNG')
  info = dict(
    step=int(state.step),
    row_seeds=row_seeds,
    col_seeds=col_seeds,
    cutoff=cutoff,
    num_ws=exp.modules['generator'].num_ws,
    truncation_psi=float(config.truncation_psi),
  )
  with files.atomic_open(os.path.join(out_dir, 'style_mixing.json'), 'w') as f:
    json.dump(info, f, indent=1)
  logging.info('Wrote %s (step %d, cutoff %d)', png, info['step'], cutoff)
  return png


def define_flags():
  """The command's flags and main (defined only when run as a command, so importing
  this module beside another absl command does not define --config twice)."""
  config = config_flags.DEFINE_config_file('config', None, "The run's experiment file.")
  workdir = flags.DEFINE_string('workdir', None, "The run's directory (its checkpoints).")
  rows = flags.DEFINE_integer('rows', 4, 'Latents giving the styles before the cutoff.')
  cols = flags.DEFINE_integer('cols', 6, 'Latents giving the styles from the cutoff on.')
  cutoff = flags.DEFINE_integer('cutoff', 4, 'First layer (w index) taken from the columns.')
  seed = flags.DEFINE_integer('seed', 0, 'Row seeds are seed.., column seeds follow them.')
  flags.mark_flags_as_required(['config', 'workdir'])

  def main(argv):
    del argv
    try:
      write_figure(config.value, workdir.value, rows.value, cols.value, cutoff.value, seed.value)
    except ValueError as e:  # Bad input (UserInputError is one): one line, status 2.
      print(f'error: {errors.one_line(e)}', file=sys.stderr)
      sys.exit(errors.EXIT_STATUS)

  return main


if __name__ == '__main__':
  app.run(define_flags())
