"""2-D convolutions whose gradients, and gradients of gradients, stay on fast kernels.

Why: autodiff of `lax.conv_general_dilated` builds each gradient from the
convolution's transpose rules, and differentiating those again (the WGAN-GP gradient
penalty differentiates the critic w.r.t. its input, then that w.r.t. the parameters;
a transposed convolution's kernel gradient is already such a case) yields
convolutions with a window reversal (from the flipped kernel), which XLA's CPU
backend has no fast kernel for: it runs them in a naive loop 10-40x slower than the
forward (WGAN-GP DCGAN, batch 64: ~0.3-0.4 s per such convolution, most of the
step). Exact rewrites that use only stride-1 convolutions (a transposed convolution
as a convolution + depth-to-space, a strided one as space-to-depth + convolution) do
not help: their second-order kernel gradients carry the same reversal, and XLA's
ConvOperandSwapper introduces one whenever a kernel-gradient window (the output)
exceeds the input, as with padded stride-1 convolutions.

How: a strided convolution y = F(x, w) (input x, kernel w, strides s, padding p)
comes with two other bilinear maps, its adjoints
  A(g, w) = dF/dx^T g  (input gradient; a transposed convolution), and
  K(x, g) = dF/dw^T g  (kernel gradient),
all three slices of one trilinear form <F(x, w), g> = <x, A(g, w)> = <w, K(x, g)>.
Their derivatives are again F, A and K with the arguments permuted:
  F(x, w): dx = A(g, w), dw = K(x, g)
  A(g, w): dg = F(c, w), dw = K(c, g)
  K(x, g): dx = A(g, c), dg = F(x, c)
Each of the three is a `jax.custom_vjp` with those rules, and each is evaluated by
its own first-order XLA form, all of which run on fast CPU kernels: F the plain
strided convolution, A the input-dilated convolution with the (materialized)
flipped kernel, K the window-dilated correlation of input and output gradient (the
forms JAX itself emits for first-order gradients). Derivatives of any order never
leave these three forms, and compute the same sums as plain autodiff (f32, equal up
to float reassociation; conv2d's forward and first-order gradients use exactly the
convolutions of the plain op).

A transposed convolution (`lax.conv_transpose`, flax `ConvTranspose`) is A of the
strided convolution it is the gradient of, with the kernel flipped and its in/out
channels swapped, so it is covered by the same three maps.

Restrictions (a clear error otherwise): 2-D, NHWC inputs, HWIO kernels, no kernel
(rhs) dilation, `feature_group_count == 1`, and window strides or input dilation but
not both. Any kernel size, stride, input size (odd too) and padding ('SAME',
'VALID', explicit (lo, hi) pairs, negative allowed). Forward-mode differentiation
(`jax.jvp`, `jax.jacfwd`, `jax.hessian`) is not available (a `custom_vjp`
limitation); reverse mode to any order is.

Use:
  * functional: `conv2d(x, kernel, strides, padding)` equals
    `lax.conv_general_dilated(x, kernel, strides, padding,
    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))`; `conv_transpose2d(x, kernel,
    strides, padding)` equals `lax.conv_transpose(x, kernel, strides, padding,
    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))`; `conv_general_dilated` is a drop-in
    for `lax.conv_general_dilated` under the restrictions above.
  * modules: `Conv` and `ConvTranspose` are `flax.linen.Conv`/`ConvTranspose` with the
    same fields, parameter names (`kernel` HWIO, `bias`), shapes and initializers, so a
    network switches with `Conv = fast_conv.Conv if fast else nn.Conv` and the same
    parameters work in either.

Written for the XLA CPU backend; on GPU/TPU it computes the same values.
"""

import functools
import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ('NHWC', 'HWIO', 'NHWC')

__all__ = ['conv2d', 'conv_transpose2d', 'conv_general_dilated', 'Conv', 'ConvTranspose']


class _Geometry(NamedTuple):
  """Static description of a strided 2-D convolution F: (N, H, W, C) -> (N, Ho, Wo, O)."""

  in_hw: tuple  # (H, W) of F's input
  kernel_hw: tuple  # (kh, kw)
  strides: tuple  # (sh, sw)
  pads: tuple  # ((top, bottom), (left, right)), may be negative
  precision: object  # lax precision (hashable) or None

  @property
  def out_hw(self):
    return tuple(
      (n + lo + hi - k) // s + 1
      for n, k, s, (lo, hi) in zip(self.in_hw, self.kernel_hw, self.strides, self.pads)
    )


# ---------------------------------------------------------------------------
# The three maps, evaluated by their first-order XLA forms.


def _avoid_operand_swap(x, window_hw, pads, lhs_dilation=(1, 1)):
  """Materializes the padding / input dilation of x when XLA would swap operands.

  XLA's ConvOperandSwapper swaps a convolution's input and kernel, adding a window
  reversal (no fast CPU kernel), when the product of the window sizes exceeds the
  product of the (undilated, unpadded) input sizes: K's window is the output
  gradient, which can exceed the input at unit stride with large padding, and A's
  or F's kernel can exceed a tiny input. Padding and dilating x explicitly, behind a
  barrier so that XLA cannot fold that back into the convolution, makes the input at
  least as large as the window. Returns (x, pads, lhs_dilation) to convolve with.
  """
  window_area = input_area = 1
  for n, k, (lo, hi), d in zip(x.shape[1:3], window_hw, pads, lhs_dilation):
    if not (k == n and lo == hi == 0 and d == 1):  # Not a pure contraction.
      window_area *= k
      input_area *= n
  if window_area <= input_area:
    return x, pads, lhs_dilation
  config = (
    ((0, 0, 0),) + tuple((lo, hi, d - 1) for (lo, hi), d in zip(pads, lhs_dilation)) + ((0, 0, 0),)
  )
  x = lax.optimization_barrier(lax.pad(x, jnp.zeros((), x.dtype), config))
  return x, ((0, 0), (0, 0)), (1, 1)


def _f_impl(geo, x, w):
  """F: the strided convolution itself."""
  x, pads, _ = _avoid_operand_swap(x, geo.kernel_hw, geo.pads)
  return lax.conv_general_dilated(
    x, w, geo.strides, pads, dimension_numbers=_NHWC, precision=geo.precision
  )


def _a_impl(geo, g, w):
  """A: input gradient of F; the input-dilated convolution of g, flipped kernel."""
  pads = []
  for n, m, k, s, (lo, _) in zip(geo.in_hw, geo.out_hw, geo.kernel_hw, geo.strides, geo.pads):
    pads.append((k - 1 - lo, n - 1 - (m - 1) * s + lo))
  g, pads, dilation = _avoid_operand_swap(g, geo.kernel_hw, pads, geo.strides)
  # Flip spatially; the 'HWOI' spec swaps in/out channels without a copy. The barrier
  # keeps XLA from folding the flip into the convolution as a window reversal (which
  # has no fast CPU kernel).
  w_flip = lax.optimization_barrier(lax.rev(w, (0, 1)))
  return lax.conv_general_dilated(
    g,
    w_flip,
    (1, 1),
    pads,
    lhs_dilation=dilation,
    dimension_numbers=('NHWC', 'HWOI', 'NHWC'),
    precision=geo.precision,
  )


# K's convolution contracts the batch: input (N, H, W, C) read with C as batch and
# N as features, output gradient (N, Ho, Wo, O) as a kernel with N as its input
# features; the result (kh, kw, C, O) comes out directly in HWIO layout.
_K_DIMS = lax.ConvDimensionNumbers(
  lhs_spec=(3, 0, 1, 2), rhs_spec=(3, 0, 1, 2), out_spec=(2, 3, 0, 1)
)


def _k_impl(geo, x, g):
  """K: kernel gradient of F, the correlation of x with g dilated by the strides."""
  pads = []
  for n, m, k, s, (lo, _) in zip(geo.in_hw, geo.out_hw, geo.kernel_hw, geo.strides, geo.pads):
    pads.append((lo, k + (m - 1) * s - n - lo))
  x, pads, _ = _avoid_operand_swap(x, geo.out_hw, pads)
  return lax.conv_general_dilated(
    x, g, (1, 1), pads, rhs_dilation=geo.strides, dimension_numbers=_K_DIMS, precision=geo.precision
  )


# ---------------------------------------------------------------------------
# The custom-VJP family: each map's derivatives are the other maps.


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _f(geo, x, w):
  return _f_impl(geo, x, w)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _a(geo, g, w):
  return _a_impl(geo, g, w)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _k(geo, x, g):
  return _k_impl(geo, x, g)


def _f_fwd(geo, x, w):
  return _f_impl(geo, x, w), (x, w)


def _f_bwd(geo, res, ct):
  x, w = res
  return _a(geo, ct, w), _k(geo, x, ct)


def _a_fwd(geo, g, w):
  return _a_impl(geo, g, w), (g, w)


def _a_bwd(geo, res, ct):
  g, w = res
  return _f(geo, ct, w), _k(geo, ct, g)


def _k_fwd(geo, x, g):
  return _k_impl(geo, x, g), (x, g)


def _k_bwd(geo, res, ct):
  x, g = res
  return _a(geo, g, ct), _f(geo, x, ct)


_f.defvjp(_f_fwd, _f_bwd)
_a.defvjp(_a_fwd, _a_bwd)
_k.defvjp(_k_fwd, _k_bwd)


# ---------------------------------------------------------------------------
# Public functional ops.


def _pair(v, what):
  if isinstance(v, int):
    return (v, v)
  v = tuple(int(i) for i in v)
  if len(v) != 2:
    raise NotImplementedError(f'fast_conv is 2-D only; {what} must be an int or a pair, got {v}.')
  return v


def _explicit_pads(padding):
  pads = tuple(tuple(int(i) for i in p) for p in padding)
  if len(pads) != 2 or any(len(p) != 2 for p in pads):
    raise ValueError(f'padding must be a string or two (lo, hi) pairs, got {padding}.')
  return pads


def _check_operands(x, kernel):
  if x.ndim != 4 or kernel.ndim != 4:
    raise NotImplementedError(
      f'fast_conv supports 2-D convolutions of NHWC inputs with HWIO kernels; got '
      f'input {x.shape} and kernel {kernel.shape}.'
    )
  if x.shape[-1] != kernel.shape[2]:
    raise ValueError(
      f'input has {x.shape[-1]} channels but the kernel expects '
      f'{kernel.shape[2]} (kernel {kernel.shape} is HWIO).'
    )


def conv2d(x, kernel, strides=(1, 1), padding='SAME', precision=None):
  """Strided 2-D convolution (cross-correlation), NHWC x HWIO -> NHWC.

  Equals `lax.conv_general_dilated(x, kernel, strides, padding,
  dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=precision)`; padding is
  'SAME', 'VALID' or ((top, bottom), (left, right)). Gradients of any order (reverse
  mode) are computed on fast kernels (see the module docstring).
  """
  _check_operands(x, kernel)
  strides = _pair(strides, 'strides')
  kernel_hw = tuple(kernel.shape[:2])
  if isinstance(padding, str):
    pads = tuple(tuple(p) for p in lax.padtype_to_pads(x.shape[1:3], kernel_hw, strides, padding))
  else:
    pads = _explicit_pads(padding)
  geo = _Geometry(tuple(x.shape[1:3]), kernel_hw, strides, pads, precision)
  if any(m <= 0 for m in geo.out_hw):
    raise ValueError(
      f'convolution output would be empty: input {x.shape}, kernel '
      f'{kernel.shape}, strides {strides}, padding {pads}.'
    )
  return _f(geo, x, kernel)


def _transpose_pads(kernel_hw, strides, padding):
  """Padding of the input-dilated convolution, as `lax.conv_transpose` computes it."""
  if not isinstance(padding, str):
    return _explicit_pads(padding)
  pads = []
  for k, s in zip(kernel_hw, strides):
    if padding == 'SAME':
      pad_len = k + s - 2
      pad_a = k - 1 if s > k - 1 else int(math.ceil(pad_len / 2))
    elif padding == 'VALID':
      pad_len = k + s - 2 + max(k - s, 0)
      pad_a = k - 1
    else:
      raise ValueError(f"padding must be 'SAME', 'VALID' or pairs, got {padding!r}.")
    pads.append((pad_a, pad_len - pad_a))
  return tuple(pads)


def _dilated_conv(x, kernel, dilation, pads, precision):
  """conv(dilate(x, dilation), kernel, stride 1, explicit pads) as A of a strided conv.

  With pads (a, b) along a dimension of size n and kernel size k, the output has
  length L = (n - 1) d + a + b - k + 2, and this is A of the convolution with
  strides d and padding (k - 1 - a, k - 1 - b) from length L to length n, taken with
  the kernel flipped and its channels swapped.
  """
  kernel_hw = tuple(kernel.shape[:2])
  out_hw, f_pads = [], []
  for n, k, d, (lo, hi) in zip(x.shape[1:3], kernel_hw, dilation, pads):
    length = (n - 1) * d + lo + hi - k + 2
    if length <= 0:
      raise ValueError(
        f'transposed convolution output would be empty: input '
        f'{x.shape}, kernel {kernel.shape}, strides {dilation}, '
        f'padding {pads}.'
      )
    out_hw.append(length)
    f_pads.append((k - 1 - lo, k - 1 - hi))
  geo = _Geometry(tuple(out_hw), kernel_hw, dilation, tuple(f_pads), precision)
  assert geo.out_hw == tuple(x.shape[1:3]), (geo, x.shape)
  return _a(geo, x, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))


def conv_transpose2d(x, kernel, strides=(1, 1), padding='SAME', precision=None):
  """Transposed 2-D convolution, NHWC x HWIO -> NHWC, as `lax.conv_transpose`.

  Equals `lax.conv_transpose(x, kernel, strides, padding,
  dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=precision)` (flax
  `nn.ConvTranspose` with `transpose_kernel=False`): x dilated by `strides`, padded
  as `lax.conv_transpose` pads it ('SAME', 'VALID', or explicit (lo, hi) pairs used
  as given), correlated with `kernel`. E.g. kernel 4, stride 2, 'SAME' doubles H, W
  (PyTorch `ConvTranspose2d(k=4, s=2, p=1)` up to the kernel layout).
  """
  _check_operands(x, kernel)
  strides = _pair(strides, 'strides')
  pads = _transpose_pads(kernel.shape[:2], strides, padding)
  return _dilated_conv(x, kernel, strides, pads, precision)


def conv_general_dilated(
  lhs,
  rhs,
  window_strides,
  padding,
  lhs_dilation=None,
  rhs_dilation=None,
  dimension_numbers=None,
  feature_group_count=1,
  batch_group_count=1,
  precision=None,
  preferred_element_type=None,
):
  """Drop-in for `lax.conv_general_dilated` (the `flax.linen.Conv` hook), 2-D NHWC.

  Supports window strides (no input dilation) or input dilation (unit window
  strides; a transposed convolution); raises for kernel dilation, feature or batch
  groups, other layouts.
  """
  rank = len(window_strides)
  ones = (1,) * rank
  lhs_dilation = tuple(lhs_dilation or ones)
  rhs_dilation = tuple(rhs_dilation or ones)
  dn = dimension_numbers
  if rank != 2 or lhs.ndim != 4 or rhs.ndim != 4:
    dn_ok = False
  elif isinstance(dn, lax.ConvDimensionNumbers):
    dn_ok = dn == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  else:
    dn_ok = dn is not None and tuple(dn) == _NHWC
  problems = []
  if rank != 2 or not dn_ok:
    problems.append(f'2-D NHWC/HWIO/NHWC only (got rank {rank}, dimension_numbers {dn})')
  if rhs_dilation != ones:
    problems.append(f'no kernel dilation (got {rhs_dilation})')
  if feature_group_count != 1 or batch_group_count != 1:
    problems.append('no feature/batch groups')
  if lhs_dilation != ones and tuple(window_strides) != ones:
    problems.append('input dilation and window strides not both')
  if preferred_element_type is not None:
    problems.append('no preferred_element_type')
  if problems:
    raise NotImplementedError(
      'fast_conv.conv_general_dilated supports '
      + '; '.join(problems)
      + '. Use the plain lax/flax op.'
    )
  if lhs_dilation != ones:
    if isinstance(padding, str):  # As lax.conv_general_dilated.
      raise ValueError(
        'String padding is not implemented for input dilation; give '
        'explicit (lo, hi) pairs or use conv_transpose2d.'
      )
    _check_operands(lhs, rhs)
    return _dilated_conv(lhs, rhs, lhs_dilation, _explicit_pads(padding), precision)
  return conv2d(lhs, rhs, window_strides, padding, precision)


# ---------------------------------------------------------------------------
# Flax modules.


class Conv(nn.Conv):
  """`flax.linen.Conv` computed with `fast_conv.conv_general_dilated` (2-D NHWC).

  Same fields, parameters (`kernel` (kh, kw, in, out), `bias` (out,)) and
  initializers as `nn.Conv`; padding modes that flax applies itself
  ('CIRCULAR', 'REFLECT') work too.
  """

  conv_general_dilated: object = staticmethod(conv_general_dilated)


class ConvTranspose(nn.ConvTranspose):
  """`flax.linen.ConvTranspose` computed with `fast_conv.conv_transpose2d` (2-D NHWC).

  Same fields, parameters (`kernel` (kh, kw, in, out), `bias` (out,)) and
  initializers as `nn.ConvTranspose`. Not supported (raise): kernel dilation,
  `transpose_kernel=True`, 'CIRCULAR' padding, `mask`.
  """

  @nn.compact
  def __call__(self, inputs):
    kernel_size = (
      (self.kernel_size,) * 2 if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
    )
    strides = _pair(1 if self.strides is None else self.strides, 'strides')
    dilation = _pair(1 if self.kernel_dilation is None else self.kernel_dilation, 'kernel_dilation')
    problems = []
    if len(kernel_size) != 2:
      problems.append(f'2-D kernels only (got kernel_size {kernel_size})')
    if dilation != (1, 1):
      problems.append('no kernel_dilation')
    if self.transpose_kernel:
      problems.append('no transpose_kernel')
    if self.mask is not None:
      problems.append('no mask')
    if self.padding == 'CIRCULAR':
      problems.append("no 'CIRCULAR' padding")
    if getattr(self, 'preferred_element_type', None) is not None:
      problems.append('no preferred_element_type')
    if problems:
      raise NotImplementedError(
        'fast_conv.ConvTranspose supports ' + '; '.join(problems) + '. Use nn.ConvTranspose.'
      )
    batch_shape = inputs.shape[:-3]
    if len(batch_shape) != 1:
      inputs = inputs.reshape((-1,) + inputs.shape[-3:])
    in_features = inputs.shape[-1]
    kernel = self.param(
      'kernel', self.kernel_init, kernel_size + (in_features, self.features), self.param_dtype
    )
    bias = (
      self.param('bias', self.bias_init, (self.features,), self.param_dtype)
      if self.use_bias
      else None
    )
    inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    padding = nn.linear.canonicalize_padding(self.padding, 2)
    y = conv_transpose2d(inputs, kernel, strides, padding, self.precision)
    if bias is not None:
      y = y + bias.reshape(1, 1, 1, -1)
    if len(batch_shape) != 1:
      y = y.reshape(batch_shape + y.shape[1:])
    return y
