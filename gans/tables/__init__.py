"""Paper tables in one command: `python -m gans.tables run NAME [--budget cpu|paper]`.

Each table trains its members as sweeps of the repository's experiment files through
gans.sweep (members that differ only in seed and numeric hyperparameters run as one
vectorised program; a second invocation resumes or reuses them), evaluates them, and
writes WORKDIR/table.md (ours as mean +- standard error over seeds beside the published
numbers, the protocol, and a verdict column where the protocols are comparable:
gans.tables.report.VERDICT_RULE), WORKDIR/results.json and figures. docs/tables.md
describes every table.

TABLES maps each name to its module (imported when run); each module has
`run(workdir, budget='cpu', seeds=None, ...) -> (markdown, rows)` and BUDGETS.
"""

import importlib

TABLES = {
  'toy2d': 'gans.tables.toy2d',  # PacGAN / VEEGAN ring8 and grid25 (PacGAN Table 1).
  'stacked_mnist': 'gans.tables.stacked_mnist',  # PacGAN Tables 2 and 3.
  'losses': 'gans.tables.losses',  # Lucic et al. 2018, MNIST column, in miniature.
  'parzen': 'gans.tables.parzen',  # Goodfellow et al. 2014 Table 1 protocol.
}


def module(name):
  """The module of table `name`; KeyError naming the known tables otherwise."""
  if name not in TABLES:
    raise KeyError(f'unknown table {name!r}; known: {", ".join(TABLES)}')
  return importlib.import_module(TABLES[name])
