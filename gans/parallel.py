"""Mesh and shardings: the state is replicated, batches are split on a 'data' axis.

Works unchanged on one CPU, several GPUs or every device of a TPU pod; on several
hosts each process feeds its own slice of the global batch.
"""

import jax
from jax.sharding import NamedSharding, PartitionSpec as P
import numpy as np

from gans import errors


def make_mesh(devices=None):
  """A 1D mesh over all devices (or `devices`) with one axis, 'data'.

  The project's one mesh builder (training, evaluation, feature extraction). The axis
  type is Auto, so shardings propagate through any jitted function.
  """
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh(
    (len(devices),), ('data',), devices=devices, axis_types=(jax.sharding.AxisType.Auto,)
  )


def replicated(mesh):
  return NamedSharding(mesh, P())


def batch_sharding(mesh, batch_axis=0):
  """Sharding that splits axis `batch_axis` over 'data' and keeps the others whole."""
  return NamedSharding(mesh, P(*([None] * batch_axis + ['data'])))


def to_global(local_tree, mesh, batch_axis=0):
  """Assembles each process's slice of a batch into global, sharded arrays."""
  sharding = batch_sharding(mesh, batch_axis)
  return jax.tree.map(
    lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_tree
  )


def check_batch_size(batch_size, mesh):
  n = mesh.devices.size
  if batch_size % n:
    near = [m for m in (batch_size - batch_size % n, batch_size - batch_size % n + n) if m > 0]
    raise errors.UserInputError(
      f'config.batch_size={batch_size} does not split over the {n} devices (it must be '
      f'a multiple of {n}): use --config.batch_size={" or ".join(map(str, near))}.'
    )
