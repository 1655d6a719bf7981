"""Sweep tools: `python -m gans.sweep summarize WORKDIR [--metrics a,b] [--no_plots]`.

Writes WORKDIR/summary.md, summary.json and summary_plots/ (gans.sweep.summarize) and
prints the table. A bad input prints one line `error: ...` and exits with status 2.
"""

import argparse
import sys

from gans import errors
from gans.sweep import summarize


def main(argv=None):
  parser = argparse.ArgumentParser(prog='python -m gans.sweep')
  sub = parser.add_subparsers(dest='command', required=True)
  s = sub.add_parser('summarize', help='table and plots over the seeds of a sweep')
  s.add_argument('workdir', help='the --workdir of launch.py --sweep')
  s.add_argument('--metrics', default='', help='comma-separated metric names (default all)')
  s.add_argument('--no_plots', action='store_true', help='write the table only')
  args = parser.parse_args(argv)
  try:
    metrics = [m for m in args.metrics.split(',') if m] or None
    rows = summarize.write(args.workdir, metrics=metrics, plots=not args.no_plots)
  except errors.UserInputError as e:
    print(f'error: {errors.one_line(e)}', file=sys.stderr)
    return errors.EXIT_STATUS
  print(summarize.table(rows), end='')
  return 0


if __name__ == '__main__':
  sys.exit(main())
