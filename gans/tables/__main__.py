"""`python -m gans.tables run NAME [--budget cpu|paper] [--workdir W] [--seeds N]`.

Trains (or resumes, or reuses) the table's members and writes W/table.md (default
W = runs/tables/NAME), results.json and figures; prints the table and the wall time.
`python -m gans.tables list` names the tables. Bad input prints one line `error: ...`
on stderr and exits with status 2.
"""

import argparse
import sys
import time

from gans import errors
from gans import tables


def main(argv=None):
  parser = argparse.ArgumentParser(prog='python -m gans.tables')
  sub = parser.add_subparsers(dest='command', required=True)
  sub.add_parser('list', help='the tables')
  r = sub.add_parser('run', help='train, evaluate and write one table')
  r.add_argument('name', choices=sorted(tables.TABLES))
  r.add_argument(
    '--budget',
    default='cpu',
    choices=('cpu', 'paper'),
    help="cpu (default): what fits a 2-core CPU; paper: the paper's protocol (an accelerator)",
  )
  r.add_argument('--workdir', default='', help='default runs/tables/NAME')
  r.add_argument('--seeds', type=int, default=0, help="seeds per setting (0: the budget's)")
  args = parser.parse_args(argv)
  if args.command == 'list':
    for name, path in tables.TABLES.items():
      doc = (tables.module(name).__doc__ or '').strip().splitlines()
      print(f'{name}: {doc[0] if doc else path}  ({path}; docs/tables.md)')
    return 0
  if args.seeds < 0:
    parser.error('argument --seeds: must be >= 0')
  workdir = args.workdir or f'runs/tables/{args.name}'
  start = time.time()
  try:
    text, _ = tables.module(args.name).run(workdir, budget=args.budget, seeds=args.seeds or None)
  except (errors.UserInputError, ValueError, OSError) as e:
    print(f'error: {errors.one_line(e) or type(e).__name__}', file=sys.stderr)
    return errors.EXIT_STATUS
  print(text)
  print(f'Total time {time.time() - start:.0f} s; written to {workdir}/')
  return 0


if __name__ == '__main__':
  sys.exit(main())
