"""Deterministic, resumable batching of any random-access dataset.

The example stream is the concatenation of per-epoch permutations drawn from the
seed, so batch number `p` is a pure function of (seed, p): a run restarted at data
position `p` sees exactly the batches an uninterrupted run would have seen. Each
process reads only its own slice of every global batch.
"""

import collections
import concurrent.futures

import numpy as np


def epoch_permutation(seed, epoch, num_examples, stream=0):
  """The order of epoch `epoch`; `stream` > 0 gives another source its own orders."""
  entropy = [seed, epoch] if stream == 0 else [seed, epoch, stream]
  return np.random.default_rng(entropy).permutation(num_examples)


def batch_indices(position, batch_size, num_examples, seed, cache=None, stream=0):
  """Global example indices of batch number `position` (an int64 array [batch_size]).

  `stream` picks the permutations (`epoch_permutation`): 0 for a dataset's own
  examples, 1 for the second domain of a two-domain dataset.
  """
  flat = position * batch_size + np.arange(batch_size, dtype=np.int64)
  epochs, offsets = np.divmod(flat, num_examples)
  out = np.empty(batch_size, np.int64)
  for epoch in np.unique(epochs):
    if cache is not None and epoch in cache:
      perm = cache[epoch]
    else:
      perm = epoch_permutation(seed, int(epoch), num_examples, stream)
      if cache is not None:
        cache.clear()  # Keep one or two epochs: the stream only moves forward.
        cache[epoch] = perm
    mask = epochs == epoch
    out[mask] = perm[offsets[mask]]
  return out


class Batches:
  """Iterator over groups of batches for one process, prefetched in a thread.

  Each item is `(position, batch)` where `batch` maps 'x' to float32 model inputs of
  shape [group, local_batch, ...] and 'y' to int32 labels [group, local_batch], and
  `position` is the data position *after* the item (what a checkpoint stores).
  `group` batches are consumed per item (n_critic discriminator steps per G step).

  A two-domain dataset (gans.data.unpaired: `dataset.extra['domain_b']`, another
  `Dataset`) adds 'x_b' and 'y_b' of the same shapes from its second domain, in that
  domain's own order (stream 1 of `batch_indices`, over its own size): batch `p` of
  each domain is a pure function of (seed, p), so the one position a checkpoint
  stores places both domains.
  """

  def __init__(
    self, dataset, batch_size, seed, start=0, group=1, process_index=0, process_count=1, prefetch=2
  ):
    if batch_size % process_count:
      raise ValueError(
        f'Global batch_size {batch_size} is not divisible by the '
        f'number of processes {process_count}.'
      )
    self.dataset = dataset
    self.batch_size = batch_size
    self.seed = seed
    self.position = start
    self.group = group
    local = batch_size // process_count
    self._slice = slice(process_index * local, (process_index + 1) * local)
    self._cache = {}
    self._cache_b = {}
    self._pool = concurrent.futures.ThreadPoolExecutor(1)
    self._pending = collections.deque()
    self._next_to_submit = start
    for _ in range(prefetch):
      self._submit()

  def _submit(self):
    first = self._next_to_submit
    self._next_to_submit += self.group
    self._pending.append(self._pool.submit(self._load, first))

  def _load(self, first):
    xs, ys, xbs, ybs = [], [], [], []
    domain_b = self.dataset.extra.get('domain_b')
    for position in range(first, first + self.group):
      idx = batch_indices(
        position, self.batch_size, self.dataset.num_examples, self.seed, self._cache
      )[self._slice]
      x, y = self.dataset.get(idx)
      xs.append(x)
      ys.append(y)
      if domain_b is not None:
        idx_b = batch_indices(
          position, self.batch_size, domain_b.num_examples, self.seed, self._cache_b, stream=1
        )[self._slice]
        x_b, y_b = domain_b.get(idx_b)
        xbs.append(x_b)
        ybs.append(y_b)
    batch = {'x': np.stack(xs), 'y': np.stack(ys)}
    if domain_b is not None:
      batch.update(x_b=np.stack(xbs), y_b=np.stack(ybs))
    return first + self.group, batch

  def __iter__(self):
    return self

  def __next__(self):
    position, batch = self._pending.popleft().result()
    self._submit()
    self.position = position
    return position, batch

  def close(self):
    self._pool.shutdown(wait=False, cancel_futures=True)
