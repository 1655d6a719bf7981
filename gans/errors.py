"""The one exception type for inputs a user can fix, as opposed to bugs of ours.

A config key or value, a dataset name or split, a file path, a checkpoint: when one of
them is wrong, raise `UserInputError` (or `MissingInputError` for something that does
not exist) with a message that names the culprit and, where it helps, what to do.
`launch.py` prints such an error as one line, `error: <message>`, and exits with
status 2 (the status argparse and the metrics CLI give bad input); every other
exception keeps its traceback, since it is a bug. Both derive from the built-in types
the code raised before (ValueError, FileNotFoundError), so callers that catch those
keep working.

This module imports nothing, so every layer (metrics included) may use it.
"""


class UserInputError(ValueError):
  """A bad input the user can fix; the message names it (first line: the summary)."""


class MissingInputError(UserInputError, FileNotFoundError):
  """A file, directory, dataset or checkpoint the user named does not exist (or is unprepared)."""


EXIT_STATUS = 2  # Of a command that stopped on a UserInputError.


def one_line(error):
  """The message of `error` as one line: its lines joined with '; ' (a space after a line
  ending in ':', ';' or ','), spaces squeezed."""
  text = ''
  for line in str(error).splitlines():
    line = ' '.join(line.split())
    if line:
      text += ('' if not text else ' ' if text[-1] in ':;,' else '; ') + line
  return text
