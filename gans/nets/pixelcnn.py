"""Gated PixelCNN over discrete pixels, and a cached sampler for it.

Follows van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders"
(Gated PixelCNN), with the RGB channel masks of van den Oord et al. 2016, "Pixel
Recurrent Neural Networks" (PixelCNN, masks 'A' and 'B').

Order. Positions are (pixel, channel): pixels in raster-scan order (row by row, left to
right), and within a pixel channels 0, 1, ..., C-1 (R, G, B). The logits of channel c
of pixel (r, col) depend exactly on every channel of the earlier pixels and on channels
< c of pixel (r, col) (within the receptive field): nothing at or after that position.

Layers (all NHWC; F = `features`, k = `kernel_size`, kv = k // 2 + 1). Each of the
`num_layers` gated layers carries two stacks:
  * vertical: a [kv, k] convolution over the rows above. v_i at row r sees only rows
    < r: the first layer reads input rows r-kv..r-1 (the paper's convolution followed by
    its one-row down shift), the later ones rows r-kv+1..r of v_{i-1}. No masks: any
    channel of those rows may be seen.
  * horizontal: a [1, kv] convolution over columns col-kv+1..col of the current row.
    At the centre tap (col itself) the features are split into C contiguous channel
    groups (group g is the part of the features that predicts / may see channel g), and
    group g of the output sees input groups < g (mask 'A', first layer: the image
    itself, so a pixel does not see itself) or <= g (mask 'B', later layers). The
    1x1 convolutions of this stack and of the output head carry mask 'B' too.
  Each layer computes, with [a, b] the two halves of a 2F-wide pre-activation and
  gate([a, b]) = tanh(a) * sigmoid(b) (the paper's gated activation):
    pv = conv_v(v) ;  v' = gate(pv + e[y])
    h' = h + conv1x1_B(gate(conv_h(h) + pv W_link + e[y]))      (no `h +` in layer 0)
  where pv W_link is the vertical-to-horizontal link (1x1, unmasked: the vertical
  features only see rows above) and e[y] [2F] is a class embedding per layer added to
  both stacks when num_classes > 0 (the paper's V^T h with a one-hot h). Because the
  vertical stack sees whole rows above, including pixels to the right, there is no blind
  spot. The output head is ReLU, 1x1 'B' to `head_features`, ReLU, 1x1 'B' to
  C * num_levels logits.

Size: the default model (F 64, 8 layers, k 5, head 128, 256 levels) has 1,242,240
parameters at 32x32x1 (1,312,896 at 32x32x3; 1,252,480 at 32x32x1 with 10 classes).

Sampling. `make_sampler` returns a function that draws pixels and channels in the
order above from the model's categorical distributions. It does not run the whole
network once per position (1024 forward passes for 32x32x1) but caches, as in
Ramachandran et al. 2017 ("Fast Generation for Convolutional Autoregressive Models"):
each layer's vertical features are computed one row at a time when that row starts
(every row above is then known), and each layer's horizontal features one pixel at a
time, so drawing a batch costs about one forward pass plus per-position overhead. The
result equals sampling with the full network (up to float rounding in the logits): the
draw at position p = (r * W + col) * C + c is
`jax.random.categorical(jax.random.fold_in(key, p), logits[:, r, col, c])`.
Strategies (`strategy=`):
  * 'fori': one jit; `lax.fori_loop` over rows, within it over the row's positions;
  * 'rows': a Python loop over rows, each row one jitted call (its vertical
    convolutions, then a `lax.fori_loop` over the row's positions), state donated;
  * 'host': a Python loop over rows and positions, one jitted call per row start and
    one per position, state donated;
  * 'auto' (default): 'rows' on CPU (its convolutions stay outside while loops, where
    XLA CPU can run them slower, and it dispatches 32 calls, not 1056), 'fori'
    elsewhere (one dispatch; not measured on GPU or TPU).
Measured on this project's 2-core x86 CPU, shared with other jobs (load average 4-6),
JAX 0.10.2, float32, 100 unconditional samples of 32x32x1 from the default model, best
of 3 compiled calls each (compilation adds 6-8 s per sampler), two runs:
    'rows' 5.2 s, 3.6 s    'host' 5.0 s, 4.0 s    'fori' 5.2 s, 4.8 s
(single calls ranged 3.6-7.0 s), i.e. 35-50 ms per sample; the differences are within
the noise of the machine. About half is the vertical convolutions (the work of the
vertical stack in one forward pass), half the 1024 per-position steps (~2 ms each for
the batch, 0.4-0.7 ms of it drawing the Gumbel noise of `jax.random.categorical`). One
forward pass of the 100 images takes 2.6 s, so rerunning the network per position would
take ~45 min.
Command:
    python -c "from gans.nets import pixelcnn; pixelcnn.benchmark()"
"""

import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gans.nets import layers

STRATEGIES = ('auto', 'fori', 'rows', 'host')
_KERNEL_INIT = nn.initializers.lecun_normal()
_ZEROS = nn.initializers.zeros_init()


# Masks. Feature i of a D-wide feature vector belongs to channel group i * C // D.


def _groups(size, channels):
  return np.arange(size) * channels // size


def _gate_groups(features, channels):
  """Groups of a 2F-wide pre-activation: both halves [a, b] split like F features."""
  return np.concatenate([_groups(features, channels)] * 2)


def _channel_mask(in_groups, out_groups, mask_type):
  """[in, out] 0/1 float32: 'A' lets output group g see input groups < g, 'B' <= g."""
  if mask_type == 'A':
    return (in_groups[:, None] < out_groups[None, :]).astype(np.float32)
  return (in_groups[:, None] <= out_groups[None, :]).astype(np.float32)


def _mask_layer(p, channels, first):
  """The parameters of a gated layer with their masks applied (a new dict)."""
  features = p['h_out_kernel'].shape[-1]
  h_kernel = p['h_kernel']  # [1, kv, in, 2F]
  centre = _channel_mask(
    _groups(h_kernel.shape[2], channels), _gate_groups(features, channels), 'A' if first else 'B'
  )
  mask = np.ones(h_kernel.shape, np.float32)
  mask[0, -1] = centre
  feature_groups = _groups(features, channels)
  return {
    **p,
    'h_kernel': h_kernel * mask,
    'h_out_kernel': p['h_out_kernel'] * _channel_mask(feature_groups, feature_groups, 'B'),
  }


def _mask_head(p, channels):
  """The output head's parameters with their 'B' masks applied (a new dict)."""
  f_in, f_hidden = p['hidden_kernel'].shape
  f_out = p['out_kernel'].shape[-1]
  hidden = p['hidden_kernel'] * _channel_mask(
    _groups(f_in, channels), _groups(f_hidden, channels), 'B'
  )
  out = p['out_kernel'] * _channel_mask(_groups(f_hidden, channels), _groups(f_out, channels), 'B')
  return {**p, 'hidden_kernel': hidden, 'out_kernel': out}


# Computation shared by the full network and the sampler (masked parameters).


def _conv(x, kernel, padding):
  return jax.lax.conv_general_dilated(
    x, kernel, (1, 1), padding, dimension_numbers=('NHWC', 'HWIO', 'NHWC')
  )


def _gate(z):
  a, b = jnp.split(z, 2, axis=-1)
  return jnp.tanh(a) * jax.nn.sigmoid(b)


def _vertical_tail(p, pv, cond):
  """pv [..., 2F] vertical convolution (with bias) -> (v' [..., F], link [..., 2F])."""
  return _gate(pv + cond), pv @ p['link']


def _horizontal_tail(p, ph, link, h, cond, first):
  """ph [..., 2F] horizontal convolution (with bias), h [..., F] layer input -> h'."""
  out = _gate(ph + link + cond) @ p['h_out_kernel'] + p['h_out_bias']
  return out if first else h + out


def _head(p, h, channels):
  """h [..., F] -> logits [..., C, num_levels]."""
  z = nn.relu(h) @ p['hidden_kernel'] + p['hidden_bias']
  z = nn.relu(z) @ p['out_kernel'] + p['out_bias']
  return z.reshape(z.shape[:-1] + (channels, -1))


def _scale(x, num_levels):
  """Levels 0..num_levels-1 -> float32 in [-1, 1]."""
  return x.astype(jnp.float32) * (2.0 / (num_levels - 1)) - 1.0


class _GatedLayer(nn.Module):
  """One gated layer: (v [N, H, W, Cv], h [N, H, W, Ch], labels [N] or None) -> (v', h')."""

  features: int
  kernel_size: int
  channels: int
  first: bool
  num_classes: int = 0

  @nn.compact
  def __call__(self, v, h, labels):
    f2, kv = 2 * self.features, self.kernel_size // 2 + 1

    def param(name, shape, init=_KERNEL_INIT):
      return self.param(name, init, shape, jnp.float32)

    p = {
      'v_kernel': param('v_kernel', (kv, self.kernel_size, v.shape[-1], f2)),
      'v_bias': param('v_bias', (f2,), _ZEROS),
      'h_kernel': param('h_kernel', (1, kv, h.shape[-1], f2)),
      'h_bias': param('h_bias', (f2,), _ZEROS),
      'link': param('link', (f2, f2)),
      'h_out_kernel': param('h_out_kernel', (self.features, self.features)),
      'h_out_bias': param('h_out_bias', (self.features,), _ZEROS),
    }
    cond = 0.0
    if self.num_classes > 0:
      table = param('cond', (self.num_classes, f2), nn.initializers.normal(0.1))
      cond = table[labels][:, None, None, :]
    p = _mask_layer(p, self.channels, self.first)
    pad = self.kernel_size // 2
    # First layer: rows r-kv..r-1 (top padding kv, one row cropped at the bottom).
    rows = (kv, -1) if self.first else (kv - 1, 0)
    pv = _conv(v, p['v_kernel'], (rows, (pad, pad))) + p['v_bias']
    ph = _conv(h, p['h_kernel'], ((0, 0), (kv - 1, 0))) + p['h_bias']
    v_out, link = _vertical_tail(p, pv, cond)
    return v_out, _horizontal_tail(p, ph, link, h, cond, self.first)


class _Head(nn.Module):
  """h [N, H, W, F] -> logits [N, H, W, C, num_levels]."""

  channels: int
  num_levels: int
  head_features: int

  @nn.compact
  def __call__(self, h):
    f_out = self.channels * self.num_levels
    p = {
      'hidden_kernel': self.param(
        'hidden_kernel', _KERNEL_INIT, (h.shape[-1], self.head_features), jnp.float32
      ),
      'hidden_bias': self.param('hidden_bias', _ZEROS, (self.head_features,), jnp.float32),
      'out_kernel': self.param(
        'out_kernel', _KERNEL_INIT, (self.head_features, f_out), jnp.float32
      ),
      'out_bias': self.param('out_bias', _ZEROS, (f_out,), jnp.float32),
    }
    return _head(_mask_head(p, self.channels), h, self.channels)


class PixelCNN(nn.Module):
  """Gated PixelCNN (van den Oord et al. 2016) with 256-way (num_levels) pixel logits.

  Fields:
    features: F, the width of both stacks (>= C; feature i is in channel group i * C // F).
    num_layers: gated layers (>= 1).
    kernel_size: k, odd >= 3; the vertical kernel is [k // 2 + 1, k], the horizontal
      one [1, k // 2 + 1].
    num_classes: > 0 adds a class embedding [2F] per gated layer to both stacks; the
      labels y are then required.
    num_levels: values per channel (>= 2), e.g. 256 for 8-bit images.
    head_features: width of the hidden 1x1 layer of the output head (>= C).

  Parameters: 'layer{i}' (v_kernel [kv, k, Cin, 2F], v_bias, h_kernel [1, kv, Cin, 2F],
  h_bias, link [2F, 2F], h_out_kernel [F, F], h_out_bias, cond [K, 2F] when
  conditional) and 'head' (hidden_kernel [F, head_features], hidden_bias, out_kernel
  [head_features, C * num_levels], out_bias). Masked entries stay in the parameters;
  they get zero gradients.
  """

  features: int = 64
  num_layers: int = 8
  kernel_size: int = 5
  num_classes: int = 0
  num_levels: int = 256
  head_features: int = 128

  def __call__(self, x, y=None, train=False):
    """Returns the logits of every (pixel, channel) given the earlier ones.

    Args:
      x: int32 or uint8 [N, H, W, C], levels in 0..num_levels-1 (scaled to [-1, 1]
        inside: level * 2 / (num_levels - 1) - 1).
      y: int [N] class labels; required when num_classes > 0, ignored otherwise.
      train: unused (no dropout or normalization); accepted for the project's nets API.

    Returns:
      float32 [N, H, W, C, num_levels]: logits[n, r, col, c] are the unnormalized log
      probabilities of x[n, r, col, c], a function of x at earlier positions only.

    Raises:
      ValueError: bad field values, x not 4-D or with more channels than features,
        missing labels of a conditional model.
    """
    del train
    return self.logits_from_float(_scale(jnp.asarray(x), self.num_levels), y)

  @nn.compact
  def logits_from_float(self, x, y=None):
    """As __call__, for inputs already scaled: x float32 [N, H, W, C] in [-1, 1].

    Differentiable in x (used by the tests to check the masks through gradients).
    """
    _check(self, x.shape)
    labels = None
    if self.num_classes > 0:
      labels = layers.require_labels(y, 'PixelCNN', self.num_classes)
    channels = x.shape[-1]
    v = h = x.astype(jnp.float32)
    for i in range(self.num_layers):
      v, h = _GatedLayer(
        self.features, self.kernel_size, channels, i == 0, self.num_classes, name=f'layer{i}'
      )(v, h, labels)
    return _Head(channels, self.num_levels, self.head_features, name='head')(h)


def _check(model, shape):
  """Raises ValueError unless `model` (a PixelCNN) takes images of `shape` [N, H, W, C]."""
  if len(shape) != 4:
    raise ValueError(f'PixelCNN takes images [N, H, W, C]; got shape {tuple(shape)}.')
  channels = shape[-1]
  if model.num_layers < 1 or model.kernel_size < 3 or model.kernel_size % 2 == 0:
    raise ValueError(
      f'PixelCNN needs num_layers >= 1 and an odd kernel_size >= 3; got '
      f'{model.num_layers} and {model.kernel_size}.'
    )
  if model.num_levels < 2:
    raise ValueError(f'PixelCNN needs num_levels >= 2; got {model.num_levels}.')
  if min(model.features, model.head_features) < channels:
    raise ValueError(
      f'PixelCNN with {channels} channels needs features and head_features '
      f'>= {channels}; got {model.features} and {model.head_features}.'
    )


# Sampling.


def make_sampler(model, image_shape, strategy='auto'):
  """Returns sample(variables, key, n_or_labels) -> int32 [N, H, W, C] for `model`.

  Draws position by position in the model's order (pixels raster-scan, channels in
  order) from categorical(logits), with the vertical and horizontal features cached
  (see the module docstring); the draw at position p = (r * W + col) * C + c uses key
  `jax.random.fold_in(key, p)`, so a fixed key gives fixed samples, the same for every
  strategy up to float rounding.

  Args:
    model: a `PixelCNN`.
    image_shape: (H, W, C) of the samples.
    strategy: 'auto', 'fori', 'rows' or 'host' (see the module docstring).

  Returns:
    sample(variables, key, n_or_labels): variables of `model` (with 'params'), a JAX
    PRNG key, and either a count N (unconditional models) or int labels [N]
    (conditional models); returns int32 [N, H, W, C] in 0..num_levels-1. Each new N
    compiles anew.

  Raises:
    ValueError: unknown strategy or bad image_shape (here); a count for a conditional
      model (when sampling).
  """
  if strategy not in STRATEGIES:
    raise ValueError(f'Unknown strategy {strategy!r}; use one of {STRATEGIES}.')
  if strategy == 'auto':
    strategy = 'rows' if jax.default_backend() == 'cpu' else 'fori'
  height, width, channels = image_shape
  _check(model, (1,) + tuple(image_shape))
  num_layers, kernel_size, levels = model.num_layers, model.kernel_size, model.num_levels
  kv, pad = kernel_size // 2 + 1, kernel_size // 2

  def prepare(params, labels):
    """Masked parameters, per-layer class embeddings [L, N, 2F] and the empty state."""
    n = labels.shape[0]
    lp = [_mask_layer(params[f'layer{i}'], channels, i == 0) for i in range(num_layers)]
    head = _mask_head(params['head'], channels)
    f2 = lp[0]['h_bias'].shape[0]
    if model.num_classes > 0:
      cond = jnp.stack([p['cond'][labels] for p in lp])
    else:
      cond = jnp.zeros((num_layers, n, f2), jnp.float32)
    state = {
      'image': jnp.zeros((n, height, width, channels), jnp.int32),
      # The scaled image with the convolutions' zero padding: kv rows on top, pad
      # columns on each side.
      'x': jnp.zeros((n, kv + height, pad + width + pad, channels), jnp.float32),
      # v[i - 1]: the last kv - 1 rows of v_{i-1} (inputs of layer i's vertical conv).
      'v': [
        jnp.zeros((n, kv - 1, pad + width + pad, f2 // 2), jnp.float32)
        for _ in range(num_layers - 1)
      ],
      # h[i - 1]: the last kv - 1 columns of h_i on the current row.
      'h': [jnp.zeros((n, kv - 1, f2 // 2), jnp.float32) for _ in range(num_layers - 1)],
      # The vertical-to-horizontal links of the current row.
      'link': jnp.zeros((num_layers, n, width, f2), jnp.float32),
    }
    return (lp, head, cond), state

  def start_row(model_params, state, r):
    """Vertical features of row r (all rows above are drawn) for every layer."""
    lp, _, cond = model_params
    v, links, v_row = [], [], None
    for i, p in enumerate(lp):
      if i == 0:  # Image rows r-kv..r-1.
        window = jax.lax.dynamic_slice_in_dim(state['x'], r, kv, axis=1)
      else:  # v_{i-1} rows r-kv+1..r.
        window = jnp.concatenate([state['v'][i - 1], v_row[:, None]], axis=1)
        v.append(window[:, 1:])
      pv = _conv(window, p['v_kernel'], 'VALID')[:, 0] + p['v_bias']  # [N, W, 2F]
      v_out, link = _vertical_tail(p, pv, cond[i][:, None])
      v_row = jnp.pad(v_out, ((0, 0), (pad, pad), (0, 0)))
      links.append(link)
    h = [jnp.zeros_like(a) for a in state['h']]  # Zero padding left of the row.
    return {**state, 'v': v, 'h': h, 'link': jnp.stack(links)}

  def step(model_params, state, key, r, j):
    """Draws position j = col * C + c of row r."""
    lp, head, cond = model_params
    col, c = j // channels, j % channels
    n = state['image'].shape[0]
    h_last, h = [], None
    for i, p in enumerate(lp):
      if i == 0:  # Image columns col-kv+1..col.
        window = jax.lax.dynamic_slice(
          state['x'], (0, r + kv, col + pad - kv + 1, 0), (n, 1, kv, channels)
        )[:, 0]
      else:  # h_i columns col-kv+1..col.
        window = jnp.concatenate([state['h'][i - 1], h[:, None]], axis=1)
        # Once its last channel is drawn, the pixel's features are final.
        h_last.append(jnp.where(c == channels - 1, window[:, 1:], state['h'][i - 1]))
      ph = jnp.einsum('nkc,kco->no', window, p['h_kernel'][0]) + p['h_bias']
      link = jax.lax.dynamic_index_in_dim(state['link'][i], col, axis=1, keepdims=False)
      h = _horizontal_tail(p, ph, link, window[:, -1], cond[i], i == 0)
    logits = jax.lax.dynamic_index_in_dim(_head(head, h, channels), c, axis=1, keepdims=False)
    position = (r * width + col) * channels + c
    value = jax.random.categorical(jax.random.fold_in(key, position), logits).astype(jnp.int32)
    image = state['image'].at[:, r, col, c].set(value)
    x = state['x'].at[:, r + kv, col + pad, c].set(_scale(value, levels))
    return {**state, 'image': image, 'x': x, 'h': h_last}

  def row(model_params, state, key, r):
    state = start_row(model_params, state, r)
    return jax.lax.fori_loop(
      0, width * channels, lambda j, s: step(model_params, s, key, r, j), state
    )

  def run_fori(params, key, labels):
    model_params, state = prepare(params, labels)
    return jax.lax.fori_loop(0, height, lambda r, s: row(model_params, s, key, r), state)['image']

  prepare_jit = jax.jit(prepare)
  row_jit = jax.jit(row, donate_argnums=1)
  start_row_jit = jax.jit(start_row, donate_argnums=1)
  step_jit = jax.jit(step, donate_argnums=1)
  fori_jit = jax.jit(run_fori)

  def sample(variables, key, n_or_labels):
    if np.ndim(n_or_labels) == 0:
      if model.num_classes > 0:
        raise ValueError(
          f'The PixelCNN is class-conditional (num_classes={model.num_classes})'
          '; pass int labels [N] instead of a count.'
        )
      labels = jnp.zeros((int(n_or_labels),), jnp.int32)
    else:
      labels = jnp.asarray(n_or_labels, jnp.int32)
    params = variables['params']
    if strategy == 'fori':
      return fori_jit(params, key, labels)
    model_params, state = prepare_jit(params, labels)
    for r in range(height):
      r = np.int32(r)
      if strategy == 'rows':
        state = row_jit(model_params, state, key, r)
        continue
      state = start_row_jit(model_params, state, r)
      for j in range(width * channels):
        state = step_jit(model_params, state, key, r, np.int32(j))
    return state['image']

  return sample


def benchmark(n=100, image_shape=(32, 32, 1), strategies=('rows', 'host', 'fori'), repeats=3):
  """Prints and returns the best seconds per call of each sampler, for the default model.

  Times compiled calls only (the first call of each is reported apart), the strategies
  taking turns so that a busy machine slows them alike; also times one full forward pass
  of n images (the cost per position of sampling without caches).

  Args:
    n: samples per call.
    image_shape: (H, W, C).
    strategies: those of `make_sampler` to time.
    repeats: timed calls per strategy.

  Returns:
    {strategy: seconds}, plus 'forward': seconds per forward pass of n images.
  """
  model = PixelCNN()
  x = jnp.zeros((n,) + tuple(image_shape), jnp.int32)
  variables = jax.jit(model.init)(jax.random.key(0), x[:1])
  count = sum(v.size for v in jax.tree_util.tree_leaves(variables))
  print(f'PixelCNN() at {image_shape}: {count:,} parameters; backend {jax.default_backend()}')

  def timed(fn):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start

  forward = jax.jit(model.apply)
  samplers = {s: make_sampler(model, image_shape, s) for s in strategies}
  calls = {s: (lambda f=f: f(variables, jax.random.key(1), n)) for s, f in samplers.items()}
  calls['forward'] = lambda: forward(variables, x)
  for name, fn in calls.items():
    print(f'{name}: first call (compilation included) {timed(fn):.2f} s')
  times = {name: float('inf') for name in calls}
  for _ in range(repeats):
    for name, fn in calls.items():
      times[name] = min(times[name], timed(fn))
  for name, seconds in times.items():
    print(f'{name}: {seconds:.2f} s' + ('' if name == 'forward' else f' for {n} samples'))
  return times
