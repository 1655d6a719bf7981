"""Atomic file writes: readers see the old file or the new one, never a partial one.

    with files.atomic_open('runs/x/metrics.json', 'w') as f:
      json.dump(result, f)
    files.atomic_write_bytes('runs/x/classifier.msgpack', payload)

(``json_safe`` makes a result strict JSON: NaN and inf become null.)

The data goes to a temporary file in the destination's directory (so the final
``os.replace`` is a rename within one file system, atomic on POSIX and Windows),
which is flushed and fsync'ed, given the permissions a plain ``open`` would give,
and renamed over the destination. If writing raises (including KeyboardInterrupt),
the temporary file is removed and the destination is left as it was.
"""

import contextlib
import hashlib
import math
import os
import tempfile

_MODES = ('w', 'wb', 'wt')


def _default_permissions(path):
  """Permission bits for ``path``: those of the file it replaces, else 0o666 & ~umask."""
  try:
    return os.stat(path).st_mode & 0o7777
  except OSError:
    pass
  try:  # Linux >= 4.7 reports the umask without changing it.
    with open('/proc/self/status', encoding='ascii') as f:
      for line in f:
        if line.startswith('Umask:'):
          return 0o666 & ~int(line.split()[1], 8)
  except (OSError, ValueError):
    pass
  umask = os.umask(0o022)  # Elsewhere: read it by setting it, and restore it.
  os.umask(umask)
  return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(path, mode='wb', *, fsync=True, **open_kwargs):
  """Opens a temporary file that replaces ``path`` when the block exits normally.

  Args:
    path: str or os.PathLike, the destination. Missing parent directories are
      created. An existing file is replaced (keeping its permission bits; a new
      file gets 0o666 & ~umask, as ``open`` would); a symlink at ``path`` is
      replaced by the file, not followed.
    mode: 'wb' (bytes) or 'w' / 'wt' (text).
    fsync: whether to fsync the data before the rename (durable across a crash,
      not only atomic).
    **open_kwargs: passed to ``os.fdopen`` (e.g. encoding='utf-8', newline='').

  Yields:
    The open file object of the temporary file (``.<name>.<random>.tmp`` in the
    destination's directory).

  Raises:
    ValueError: ``mode`` is not one of 'w', 'wb', 'wt'.
    OSError: the directory cannot be created or written, or the rename fails
      (e.g. ``path`` is a directory); the temporary file is removed.
    Any exception raised inside the block, after removing the temporary file;
    ``path`` is then unchanged.
  """
  if mode not in _MODES:
    raise ValueError(f'atomic_open mode must be one of {_MODES}; got {mode!r}')
  path = os.path.abspath(os.fspath(path))
  directory, name = os.path.split(path)
  os.makedirs(directory, exist_ok=True)
  permissions = _default_permissions(path)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{name}.', suffix='.tmp')
  try:
    f = os.fdopen(fd, mode, **open_kwargs)
  except BaseException:  # E.g. an `encoding` with mode 'wb'.
    os.close(fd)
    os.unlink(tmp)
    raise
  try:
    with f:
      yield f
      f.flush()
      if fsync:
        os.fsync(f.fileno())
    os.chmod(tmp, permissions)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)
    raise


def atomic_write_bytes(path, data, *, fsync=True):
  """Writes ``data`` (bytes-like) to ``path`` atomically (see ``atomic_open``).

  Args:
    path: str or os.PathLike; parent directories are created.
    data: bytes, bytearray or memoryview.
    fsync: whether to fsync before the rename.

  Raises:
    TypeError: ``data`` is not bytes-like (the destination is unchanged).
    OSError: as ``atomic_open``.
  """
  with atomic_open(path, 'wb', fsync=fsync) as f:
    f.write(data)


def json_safe(value):
  """``value`` with every NaN or infinite float replaced by None, for strict JSON.

  ``json.dumps`` writes NaN and Infinity by default, which are not JSON (other readers
  reject the file); pass the result with ``allow_nan=False``. Recurses into dicts,
  lists and tuples (tuples become lists); NumPy scalars and 0-d arrays become Python
  numbers; other values are returned as they are.
  """
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  if hasattr(value, 'dtype') and getattr(value, 'ndim', None) == 0:
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def sha256(path):
  """Hex sha256 digest of the file at `path` (hashlib.file_digest); OSError if unreadable."""
  with open(path, 'rb') as f:
    return hashlib.file_digest(f, 'sha256').hexdigest()
