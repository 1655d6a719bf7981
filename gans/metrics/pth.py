"""Read PyTorch ``torch.save`` state dicts into NumPy arrays, without PyTorch.

A state dict is a (possibly ordered) mapping from names to tensors. ``torch.save``
writes it in one of two layouts, and :func:`read_state_dict` reads both:

* **zip archive** (the default since PyTorch 1.6): ``<prefix>/data.pkl`` holds a
  pickle of the mapping in which every tensor's storage is replaced by a persistent
  id ``('storage', StorageType, key, location, numel)``; the raw little-endian bytes
  of storage ``key`` are the record ``<prefix>/data/<key>``. ``<prefix>/byteorder``
  (``little`` or ``big``) is present in files written by PyTorch >= 2.1.
* **legacy stream** (``_use_new_zipfile_serialization=False``, and every file
  written before 1.6): a sequence of pickles -- magic number, protocol version,
  system info (endianness, type sizes), the object itself with persistent ids
  ``('storage', StorageType, key, location, numel, view_metadata)`` -- then a
  pickled sorted list of storage keys, and for each key an 8-byte little-endian
  element count followed by the storage's raw bytes.

Tensors are rebuilt from (storage, offset, size, stride) with NumPy strides, so views
(transposes, slices, shared storages) come back exactly; every result is a fresh
C-contiguous array that owns its memory.

Security: a pickle can call any importable function. The unpickler here resolves only
the handful of globals a state dict needs (tensor rebuild functions, storage types,
dtypes, ``collections.OrderedDict``) and refuses everything else with an error naming
the global, so reading an untrusted file cannot execute code.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from zlib import error as zlib_error
from typing import Any, Mapping

import numpy as np

__all__ = ['PthError', 'read_state_dict', 'load_pickled_object']

# The legacy format starts with this pickled integer (torch/serialization.py).
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001


class PthError(ValueError):
  """A ``torch.save`` file that cannot be read: corrupt, truncated or unsupported."""


def _bfloat16():
  try:
    import ml_dtypes  # ships with jax
  except ImportError:  # pragma: no cover - jax always brings ml_dtypes
    return None
  return np.dtype(ml_dtypes.bfloat16)


# Storage class name (as pickled: ``torch.<Name>``) -> NumPy dtype (little-endian).
_STORAGE_DTYPES: dict[str, np.dtype | None] = {
  'DoubleStorage': np.dtype('<f8'),
  'FloatStorage': np.dtype('<f4'),
  'HalfStorage': np.dtype('<f2'),
  'BFloat16Storage': _bfloat16(),
  'LongStorage': np.dtype('<i8'),
  'IntStorage': np.dtype('<i4'),
  'ShortStorage': np.dtype('<i2'),
  'CharStorage': np.dtype('i1'),
  'ByteStorage': np.dtype('u1'),
  'BoolStorage': np.dtype('?'),
  'ComplexFloatStorage': np.dtype('<c8'),
  'ComplexDoubleStorage': np.dtype('<c16'),
  # Untyped storages (PyTorch >= 2.0, with _rebuild_tensor_v3) are plain bytes.
  'UntypedStorage': np.dtype('u1'),
}

# ``torch.<dtype name>`` globals, pickled by _rebuild_tensor_v3 -> NumPy dtype.
_TORCH_DTYPES: dict[str, np.dtype | None] = {
  'float64': np.dtype('<f8'),
  'double': np.dtype('<f8'),
  'float32': np.dtype('<f4'),
  'float': np.dtype('<f4'),
  'float16': np.dtype('<f2'),
  'half': np.dtype('<f2'),
  'bfloat16': _bfloat16(),
  'int64': np.dtype('<i8'),
  'long': np.dtype('<i8'),
  'int32': np.dtype('<i4'),
  'int': np.dtype('<i4'),
  'int16': np.dtype('<i2'),
  'short': np.dtype('<i2'),
  'int8': np.dtype('i1'),
  'uint8': np.dtype('u1'),
  'uint16': np.dtype('<u2'),
  'uint32': np.dtype('<u4'),
  'uint64': np.dtype('<u8'),
  'bool': np.dtype('?'),
  'complex64': np.dtype('<c8'),
  'complex128': np.dtype('<c16'),
}


class _StorageType:
  """Stand-in for a ``torch.<Name>Storage`` class found in the pickle."""

  def __init__(self, name: str):
    self.name = name
    self.dtype = _STORAGE_DTYPES[name]

  def __repr__(self):
    return f'torch.{self.name}'


class _TorchDtype:
  """Stand-in for a ``torch.<dtype>`` object found in the pickle."""

  def __init__(self, name: str):
    self.name = name
    self.dtype = _TORCH_DTYPES[name]

  def __repr__(self):
    return f'torch.{self.name}'


class _Storage:
  """A storage referenced by the pickle; its bytes are attached after unpickling."""

  def __init__(self, key: str, dtype: np.dtype | None, numel: int, type_name: str):
    self.key = key
    self.dtype = dtype
    self.numel = numel
    self.type_name = type_name
    self.data: bytes | memoryview | None = None
    self.byteorder = 'little'


class _StorageView:
  """A legacy-format view into a root storage: ``numel`` elements from ``offset``."""

  def __init__(self, root: _Storage, offset: int, numel: int):
    self.root = root
    self.offset = offset
    self.numel = numel
    self.dtype = root.dtype
    self.type_name = root.type_name
    self.key = root.key


class _LazyTensor:
  """A tensor whose storage bytes may not have been read yet."""

  def __init__(self, storage, offset: int, size, stride, dtype: np.dtype | None = None):
    if isinstance(storage, _StorageView):
      offset = offset + storage.offset
      storage = storage.root
    if not isinstance(storage, _Storage):
      raise PthError(f'tensor storage is {type(storage).__name__}, expected a storage')
    self.storage = storage
    self.offset = int(offset)
    self.size = tuple(int(s) for s in size)
    self.stride = tuple(int(s) for s in stride)
    self.dtype = dtype if dtype is not None else storage.dtype

  def materialize(self, where: str) -> np.ndarray:
    storage = self.storage
    if self.dtype is None:
      raise PthError(f'{where}: dtype of {storage.type_name} is not supported')
    if storage.data is None:
      raise PthError(f'{where}: the bytes of storage {storage.key!r} are missing')
    itemsize = self.dtype.itemsize
    nbytes = len(storage.data)
    if nbytes % itemsize:
      raise PthError(
        f'{where}: storage {storage.key!r} has {nbytes} bytes, '
        f'not a multiple of the element size {itemsize}'
      )
    count = nbytes // itemsize
    if any(s < 0 for s in self.size) or any(s < 0 for s in self.stride) or self.offset < 0:
      raise PthError(f'{where}: negative size, stride or offset')
    if 0 in self.size:
      return np.zeros(self.size, self.dtype.newbyteorder('='))
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
    if last >= count:
      raise PthError(
        f'{where}: tensor of size {self.size}, stride {self.stride}, offset '
        f'{self.offset} reaches element {last} of storage {storage.key!r}, which '
        f'holds only {count} elements (file truncated or corrupt?)'
      )
    dtype = self.dtype
    if storage.byteorder == 'big' and dtype.itemsize > 1:
      dtype = dtype.newbyteorder('>')
    flat = np.frombuffer(storage.data, dtype=dtype, count=count)
    if not self.size:  # as_strided treats shape=() as "keep the input's shape"
      return np.array(flat[self.offset], dtype=dtype.newbyteorder('='))
    view = np.lib.stride_tricks.as_strided(
      flat[self.offset :],
      shape=self.size,
      strides=tuple(s * itemsize for s in self.stride),
      writeable=False,
    )
    return np.array(view, dtype=dtype.newbyteorder('='), order='C', copy=True)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
  return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, *unused):
  if not isinstance(dtype, _TorchDtype):
    raise PthError(f'_rebuild_tensor_v3 got dtype {dtype!r}')
  return _LazyTensor(storage, storage_offset, size, stride, dtype=dtype.dtype)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
  return data


def _rebuild_from_type_v2(func, new_type, args, state):
  # Plain tensors and parameters only; subclass state is dropped.
  return func(*args)


class _TensorType:
  """Stand-in for ``torch.Tensor`` / ``torch.nn.Parameter`` used as a rebuild type."""

  def __init__(self, name):
    self.name = name


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
  ('collections', 'OrderedDict'): collections.OrderedDict,
  ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
  ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
  ('torch._utils', '_rebuild_tensor_v3'): _rebuild_tensor_v3,
  ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
  ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
  ('torch._tensor', '_rebuild_from_type_v2'): _rebuild_from_type_v2,
  ('torch._tensor', 'Tensor'): _TensorType('torch.Tensor'),
  ('torch', 'Tensor'): _TensorType('torch.Tensor'),
  ('torch.nn.parameter', 'Parameter'): _TensorType('torch.nn.Parameter'),
}
for _name in _STORAGE_DTYPES:
  _ALLOWED_GLOBALS[('torch', _name)] = _StorageType(_name)
_ALLOWED_GLOBALS[('torch.storage', 'UntypedStorage')] = _StorageType('UntypedStorage')
for _name in _TORCH_DTYPES:
  _ALLOWED_GLOBALS[('torch', _name)] = _TorchDtype(_name)


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickler that resolves only state-dict globals and collects storage references."""

  def __init__(self, file, path: str, legacy: bool):
    super().__init__(file)
    self.path = path
    self.legacy = legacy
    self.storages: dict[str, _Storage] = {}
    self.views: dict[str, _StorageView] = {}

  def find_class(self, module, name):
    try:
      return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
      raise PthError(
        f'{self.path}: refusing to load global {module}.{name}: only tensors, '
        'storages and OrderedDicts of a state dict are allowed '
        '(is this a pickled module or optimizer rather than a state dict?)'
      ) from None

  def persistent_load(self, pid):
    if not isinstance(pid, tuple) or not pid:
      raise PthError(f'{self.path}: unexpected persistent id {pid!r}')
    kind = pid[0].decode('ascii') if isinstance(pid[0], bytes) else pid[0]
    if kind != 'storage':
      raise PthError(f'{self.path}: unsupported persistent id of kind {kind!r}')
    expected = 6 if self.legacy else 5
    if len(pid) != expected:
      raise PthError(f'{self.path}: malformed storage id {pid!r}')
    storage_type, key, _location, numel = pid[1:5]
    if not isinstance(storage_type, _StorageType):
      raise PthError(f'{self.path}: storage id names {storage_type!r}, not a storage type')
    key = str(key)
    storage = self.storages.get(key)
    if storage is None:
      storage = _Storage(key, storage_type.dtype, int(numel), storage_type.name)
      self.storages[key] = storage
    if self.legacy and pid[5] is not None:
      view_key, offset, view_numel = pid[5]
      view_key = str(view_key)
      if view_key not in self.views:
        self.views[view_key] = _StorageView(storage, int(offset), int(view_numel))
      return self.views[view_key]
    return storage


def _materialize(obj, path: str, where: str = ''):
  """Replace every lazy tensor in a nested container by a NumPy array."""
  if isinstance(obj, _LazyTensor):
    return obj.materialize(f'{path}: {where}' if where else path)
  if isinstance(obj, Mapping):
    return {k: _materialize(v, path, f'{where}.{k}' if where else str(k)) for k, v in obj.items()}
  if isinstance(obj, list):
    return [_materialize(v, path, f'{where}[{i}]') for i, v in enumerate(obj)]
  if isinstance(obj, tuple):
    return tuple(_materialize(v, path, f'{where}[{i}]') for i, v in enumerate(obj))
  return obj


def _tensor_keys(obj, storage_key: str, where: str = '') -> list[str]:
  """Names (dotted paths) of the tensors in ``obj`` that use storage ``storage_key``."""
  if isinstance(obj, _LazyTensor):
    return [where] if obj.storage.key == storage_key else []
  found: list[str] = []
  if isinstance(obj, Mapping):
    for k, v in obj.items():
      found += _tensor_keys(v, storage_key, f'{where}.{k}' if where else str(k))
  elif isinstance(obj, (list, tuple)):
    for i, v in enumerate(obj):
      found += _tensor_keys(v, storage_key, f'{where}[{i}]')
  return found


def _describe_storage(obj, key: str) -> str:
  names = _tensor_keys(obj, key)
  if not names:
    return f'storage {key!r}'
  plural = 's' if len(names) > 1 else ''
  return f'storage {key!r} (tensor{plural} {", ".join(repr(n) for n in names)})'


def _read_zip(data: bytes, path: str):
  try:
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
  except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
    raise PthError(f'{path}: not a readable zip archive ({e}); file truncated or corrupt?') from e
  pickles = [n for n in names if n.endswith('data.pkl') and n.count('/') == 1]
  if len(pickles) != 1:
    raise PthError(
      f"{path}: zip archive without a single '<prefix>/data.pkl' record; not a torch.save file"
    )
  prefix = pickles[0][: -len('data.pkl')]

  def record(name: str, what: str) -> bytes:
    try:
      return archive.read(prefix + name)
    except KeyError:
      raise PthError(f'{path}: record {prefix + name!r} ({what}) is missing') from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib_error) as e:
      raise PthError(f'{path}: record {prefix + name!r} ({what}) is corrupt: {e}') from e

  byteorder = 'little'
  if prefix + 'byteorder' in names:
    byteorder = record('byteorder', 'byte order').decode('ascii', 'replace').strip()
    if byteorder not in ('little', 'big'):
      raise PthError(f'{path}: unknown byte order {byteorder!r}')
  unpickler = _RestrictedUnpickler(
    io.BytesIO(record('data.pkl', 'object pickle')), path, legacy=False
  )
  obj = _unpickle(unpickler, path, 'data.pkl')
  for key, storage in unpickler.storages.items():
    what = _describe_storage(obj, key)
    raw = record(f'data/{key}', what)
    if storage.dtype is not None and len(raw) < storage.numel * storage.dtype.itemsize:
      raise PthError(
        f'{path}: {what} has {len(raw)} bytes, expected {storage.numel * storage.dtype.itemsize}'
      )
    storage.data = raw
    storage.byteorder = byteorder
  return obj


def _unpickle(unpickler: _RestrictedUnpickler, path: str, what: str):
  try:
    return unpickler.load()
  except PthError:
    raise
  except (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    struct.error,
    UnicodeDecodeError,
  ) as e:
    raise PthError(
      f'{path}: cannot unpickle the {what} ({type(e).__name__}: {e}); file truncated or corrupt?'
    ) from e


def _read_legacy(data: bytes, path: str):
  stream = io.BytesIO(data)

  def header(what):
    return _unpickle(_RestrictedUnpickler(stream, path, legacy=True), path, what)

  magic = header('magic number')
  if magic != LEGACY_MAGIC_NUMBER:
    raise PthError(f'{path}: not a torch.save file (wrong magic number)')
  version = header('protocol version')
  if version != LEGACY_PROTOCOL_VERSION:
    raise PthError(f'{path}: unsupported legacy protocol version {version!r}')
  sys_info = header('system info')
  little = bool(sys_info.get('little_endian', True)) if isinstance(sys_info, dict) else True
  unpickler = _RestrictedUnpickler(stream, path, legacy=True)
  obj = _unpickle(unpickler, path, 'object pickle')
  keys = header('storage key list')
  if not isinstance(keys, list):
    raise PthError(f'{path}: malformed storage key list')
  for key in keys:
    key = str(key)
    storage = unpickler.storages.get(key)
    if storage is None:
      raise PthError(f'{path}: storage {key!r} is listed but never referenced')
    what = _describe_storage(obj, key)
    head = stream.read(8)
    if len(head) != 8:
      raise PthError(f'{path}: file ends before the data of {what} (truncated?)')
    (numel,) = struct.unpack('<q', head)
    itemsize = storage.dtype.itemsize if storage.dtype is not None else 1
    if numel != storage.numel:
      raise PthError(
        f'{path}: {what} has {numel} elements in its header, '
        f'{storage.numel} in the pickle (corrupt?)'
      )
    raw = stream.read(numel * itemsize)
    if len(raw) != numel * itemsize:
      raise PthError(
        f'{path}: file ends inside the data of {what}: '
        f'{len(raw)} of {numel * itemsize} bytes (truncated?)'
      )
    storage.data = raw
    storage.byteorder = 'little' if little else 'big'
  missing = sorted(set(unpickler.storages) - {str(k) for k in keys})
  if missing:
    raise PthError(f'{path}: no data for {_describe_storage(obj, missing[0])}')
  return obj


def load_pickled_object(path: str | os.PathLike):
  """Read any ``torch.save`` file made of dicts, lists and tensors, tensors as NumPy.

  Returns the saved object with every tensor replaced by a C-contiguous
  ``np.ndarray`` of the matching dtype (bfloat16 as ``ml_dtypes.bfloat16``).
  Raises :class:`PthError` naming ``path`` (and the tensor, when known) for a
  truncated, corrupt or unsupported file, and :class:`FileNotFoundError` if the
  file does not exist.
  """
  path = os.fspath(path)
  with open(path, 'rb') as f:
    data = f.read()
  if data[:4] == b'PK\x03\x04' or data[:4] == b'PK\x05\x06':
    obj = _read_zip(data, path)
  elif data[:1] == b'\x80':  # pickle protocol >= 2 opcode: legacy stream
    obj = _read_legacy(data, path)
  elif len(data) > 262 and data[257:262] == b'ustar':
    raise PthError(
      f'{path}: tar-format torch file (PyTorch < 0.4) is not supported; '
      're-save it with a current PyTorch'
    )
  else:
    raise PthError(
      f'{path}: not a torch.save file (neither a zip archive nor a pickle)'
      + (' - the file is empty' if not data else '')
    )
  return _materialize(obj, path)


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Read a ``torch.save``-d state dict (zip or legacy format) as NumPy arrays.

  Args:
    path: file written by ``torch.save(module.state_dict(), path)``, with or
      without ``_use_new_zipfile_serialization=False``.

  Returns:
    ``{name: array}`` in file order; each array is C-contiguous, has the tensor's
    shape and dtype (float32/float64/float16/bfloat16/int64/... ), and views of a
    shared storage come back as independent copies.

  Raises:
    PthError: the file is truncated, corrupt, not a ``torch.save`` file, pickles
      anything besides tensors (e.g. a whole ``nn.Module``), or is not a flat
      mapping of names to tensors. The message names the file and, when known,
      the tensor.
  """
  obj = load_pickled_object(path)
  if not isinstance(obj, Mapping):
    raise PthError(f'{os.fspath(path)}: holds a {type(obj).__name__}, not a state dict')
  out: dict[str, np.ndarray] = {}
  for key, value in obj.items():
    if not isinstance(value, np.ndarray):
      raise PthError(
        f'{os.fspath(path)}: entry {key!r} is a {type(value).__name__}, '
        'not a tensor (nested checkpoint? pass its state dict instead)'
      )
    out[str(key)] = value
  return out
