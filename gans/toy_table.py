r"""The 2D mode-collapse table (kept command): `python -m gans.tables run toy2d` by its old name.

  python -m gans.toy_table                              # the README table (CPU budget)
  python -m gans.toy_table --budget paper --seeds 10    # PacGAN's budget (accelerator)

The table now lives in gans.tables.toy2d (protocol, published numbers, scoring) and
trains each cell as a sweep of experiments/toy.py through gans.sweep (the seeds of a
cell are one vectorised program); this module maps the old flags onto it. --out is
the table's workdir (cells in OUT/<dataset>_<method>/, table.md, results.json, one
scatter plot per cell).
"""

import argparse
import time

from gans.tables import toy2d

TOY_FLAGS = (('setup', str), ('size', str), ('steps', int), ('lr', float), ('b1', float))


def main(argv=None):
  """Runs the table with the old flags; prints it. Returns 0."""
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--datasets', default='ring8,grid25')
  parser.add_argument('--methods', default='', help="comma-separated (default: the budget's)")
  parser.add_argument('--seeds', type=int, default=0, help="0: the budget's")
  parser.add_argument('--budget', default='cpu', choices=('cpu', 'paper'))
  for name, kind in (*TOY_FLAGS, ('decay', str)):
    parser.add_argument('--' + name, type=kind, default=None, help="overrides the budget's " + name)
  parser.add_argument('--out', default='runs/toy_table')
  args = parser.parse_args(argv)
  budget = toy2d.resolve_budget(args.budget, args.seeds or None)
  budget['toy'] = {
    k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in budget['toy'].items()
  }
  budget['datasets'] = tuple(args.datasets.split(','))
  if args.methods:
    budget['methods'] = tuple(args.methods.split(','))
  start = time.time()
  table, _ = toy2d.run(args.out, budget)
  print(table)
  print(f'Total time {time.time() - start:.0f} s; written to {args.out}/')
  return 0


if __name__ == '__main__':
  main()
