"""Command-line tools; shared argument parsing."""

import argparse


def int_at_least(minimum):
  """argparse `type` for an integer >= minimum (ArgumentTypeError otherwise)."""

  def parse(text):
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < minimum:
      raise argparse.ArgumentTypeError(f'{value} is below {minimum}')
    return value

  return parse
