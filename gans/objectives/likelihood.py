"""Log-likelihoods, KL terms and bounds for the autoencoder, VAE and PixelCNN baselines.

Pure jax.numpy functions. Unless stated otherwise each returns per-example values in
nats (natural-log units), summed over the event dimensions:
- latents z [..., L]: summed over the last axis (the latent axis), so [N, L] -> [N] and
  [K, N, L] (K samples per example) -> [K, N];
- pixels x [N, ...] (e.g. [N, H, W, C]): summed over every axis of x but its first
  (`event_ndims` overrides). The distribution's parameters may carry extra leading
  axes that broadcast against x, e.g. decoder logits [K, N, H, W, C] for K latent
  samples give [K, N].

The ELBO (Kingma & Welling 2014, Eq. 3 and Eq. 10; Rezende et al. 2014) composes from
these pieces, with z ~ q(z|x) = N(mean, diag exp(log_variance)) drawn by
`gaussian_sample`:
  elbo = log p(x|z) - gaussian_kl(mean, log_variance)           (analytic KL, Eq. 10)
       = log p(x|z) + standard_normal_log_density(z)
         - gaussian_log_density(z, mean, log_variance)          (Monte Carlo KL, Eq. 6)
where log p(x|z) is `bernoulli_log_likelihood` (binarized images),
`discretized_gaussian_log_likelihood` / `discretized_logistic_log_likelihood`
(8-bit images in [-1, 1]) or `categorical_log_likelihood` (256-way pixels, PixelCNN).
`iwae_bound` (Burda et al. 2016, Eq. 8) takes the three Monte Carlo terms for K
samples; with K = 1 it is the Monte Carlo ELBO above, exactly.

Units. Images in [-1, 1] here come from uint8 u as x = u / 127.5 - 1. The discrete
likelihoods (Bernoulli, discretized Gaussian or logistic, categorical) are
probabilities of the 2 or 256 levels, so their nats need no change-of-variables term:
`bits_per_dim(-log_likelihood, num_dims)` is the number reported by PixelCNN (van den
Oord et al. 2016), PixelCNN++ (Salimans et al. 2017) and DDPM (Ho et al. 2020). A
continuous density on x in [-1, 1] is not comparable as it is: see
`continuous_to_discrete_nats`.
"""

import math

import jax
import jax.numpy as jnp
from jax.scipy import special

LOG_2PI = math.log(2.0 * math.pi)


def _event_sum(values, x_ndim, event_ndims):
  """Sums `values` over its last `event_ndims` axes (default: x_ndim - 1)."""
  n = x_ndim - 1 if event_ndims is None else event_ndims
  if n < 0 or n > values.ndim:
    raise ValueError(f'Cannot sum over {n} event axes of values of shape {values.shape}.')
  return jnp.sum(values, axis=tuple(range(values.ndim - n, values.ndim)))


def _half_bin(num_levels):
  if int(num_levels) != num_levels or num_levels < 2:
    raise ValueError(f'num_levels must be an integer >= 2, got {num_levels!r}.')
  return 1.0 / (num_levels - 1)


# ---------------------------------------------------------------------------- latents


def gaussian_kl(mean, log_variance):
  """KL(N(mean, diag exp(log_variance)) || N(0, I)) in nats, summed over the last axis.

  Kingma & Welling 2014, Appendix B: -KL = 1/2 sum_j (1 + log s_j^2 - m_j^2 - s_j^2).

  Args:
    mean: float array [..., L], the posterior means.
    log_variance: float array [..., L] (broadcastable with `mean`), log s^2.

  Returns:
    float array [...] (e.g. [N] for [N, L] inputs), >= 0, in nats.
  """
  return 0.5 * jnp.sum(jnp.exp(log_variance) + mean**2 - 1.0 - log_variance, axis=-1)


def gaussian_log_density(z, mean, log_variance):
  """log N(z; mean, diag exp(log_variance)) in nats, summed over the last axis.

  Args:
    z: float array [..., L]; e.g. [K, N, L] for K samples of each of N examples.
    mean, log_variance: float arrays broadcastable against z, e.g. [N, L].

  Returns:
    float array of the broadcast shape without its last axis (e.g. [K, N]), in nats.
  """
  return -0.5 * jnp.sum(LOG_2PI + log_variance + (z - mean) ** 2 * jnp.exp(-log_variance), axis=-1)


def standard_normal_log_density(z):
  """log N(z; 0, I) in nats, summed over the last axis: float [..., L] -> [...]."""
  return -0.5 * jnp.sum(LOG_2PI + z**2, axis=-1)


def gaussian_sample(key, mean, log_variance, num_samples=None):
  """Reparameterized z = mean + exp(log_variance / 2) * eps, eps ~ N(0, I).

  Kingma & Welling 2014, Sec. 2.4: gradients flow to mean and log_variance.

  Args:
    key: a jax.random key.
    mean, log_variance: float arrays [N, L] (any equal shapes).
    num_samples: None for one sample per example, or K for K samples.

  Returns:
    z of mean's dtype: [N, L], or [K, N, L] when num_samples is given.
  """
  shape = mean.shape if num_samples is None else (num_samples,) + mean.shape
  eps = jax.random.normal(key, shape, mean.dtype)
  return mean + jnp.exp(0.5 * log_variance) * eps


# ----------------------------------------------------------------------------- pixels


def bernoulli_log_likelihood(logits, x, event_ndims=None):
  """log Bernoulli(x; sigmoid(logits)) in nats, summed over the event axes of x.

  Computed as -(x softplus(-l) + (1 - x) softplus(l)), stable for any logit (no
  sigmoid is formed). Values of x strictly between 0 and 1 give the cross-entropy
  with target x, which is not a normalized log-likelihood.

  Args:
    logits: float array, x's shape possibly with extra leading axes ([K, N, H, W, C]).
    x: float array [N, ...] with values in {0, 1}.
    event_ndims: axes summed (from the end); default x.ndim - 1.

  Returns:
    float array [N] (or [K, N]), <= 0, in nats.
  """
  x = jnp.asarray(x, logits.dtype)
  values = -(x * jax.nn.softplus(-logits) + (1.0 - x) * jax.nn.softplus(logits))
  return _event_sum(values, x.ndim, event_ndims)


def _log1mexp(d):
  """log(1 - exp(d)) for d < 0 (Maechler 2012): accurate near 0 and for d << 0."""
  near = d > -math.log(2.0)
  # Each branch sees only values it is finite at, so neither makes NaN gradients.
  d_near, d_far = jnp.where(near, d, -1.0), jnp.where(near, -1.0, d)
  return jnp.where(near, jnp.log(-jnp.expm1(d_near)), jnp.log1p(-jnp.exp(d_far)))


def _levels(x, mean, log_scale, num_levels, who):
  """Checks and converts the arguments of the discretized likelihoods."""
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(
      f'{who} takes x as floats in [-1, 1] (u / 127.5 - 1 for uint8 u); got {x.dtype}.'
    )
  mean, log_scale = jnp.asarray(mean), jnp.asarray(log_scale)
  return _half_bin(num_levels), x.astype(mean.dtype), mean, log_scale


def _log_normal_bin(t, width):
  """log(Phi(t + width / 2) - Phi(t - width / 2)) for width > 0, elementwise.

  Differences of log-CDFs in the tail that t lies in (by symmetry, the lower tail),
  log Phi(hi) + log(1 - exp(log Phi(lo) - log Phi(hi))), so far tails neither
  underflow nor cancel. When the bin is so narrow that these float32 log-CDFs cancel
  (relative error ~ eps |log Phi| / |log Phi(lo) - log Phi(hi)|), the midpoint rule
  log phi(t) + log(width) is used instead, whose relative error is about
  width^2 (t^2 - 1) / 24; the estimate of each error picks the formula.
  """
  s = jnp.abs(t)  # Phi(t + w/2) - Phi(t - w/2) = Phi(-t + w/2) - Phi(-t - w/2).
  lo, hi = -s - 0.5 * width, -s + 0.5 * width
  log_lo, log_hi = special.log_ndtr(lo), special.log_ndtr(hi)
  d = log_lo - log_hi
  eps = jnp.finfo(t.dtype).eps
  cdf_error = eps * (1.0 + jnp.abs(log_lo)) / jnp.maximum(-d, jnp.finfo(t.dtype).tiny)
  midpoint_error = width**2 * (1.0 + s**2) / 24.0
  use_cdf = cdf_error <= midpoint_error
  safe_d = jnp.where(use_cdf & (d < 0), d, -1.0)  # No log(0) in the branch not taken.
  by_cdf = log_hi + _log1mexp(safe_d)
  by_midpoint = -0.5 * (LOG_2PI + t**2) + jnp.log(width)
  return jnp.where(use_cdf, by_cdf, by_midpoint)


def discretized_gaussian_log_likelihood(x, mean, log_scale, num_levels=256, event_ndims=None):
  """log P(x) of a Gaussian discretized to `num_levels` levels in [-1, 1], in nats.

  Level k has centre c_k = 2 k / (num_levels - 1) - 1 (for 256 levels, u / 127.5 - 1
  for uint8 u) and bin [c_k - h, c_k + h], h = 1 / (num_levels - 1); the first bin
  extends to -inf and the last to +inf, so the probabilities of the levels sum to 1
  (Ho et al. 2020, Eq. 13; the Gaussian analogue of PixelCNN++'s discretized
  logistic). P = Phi((c + h - mean) / s) - Phi((c - h - mean) / s) is computed from
  log-CDF differences in the tail the bin lies in (jax.scipy.special.log_ndtr), with a
  midpoint-rule fallback for bins much narrower than s, so the log-probability is
  finite and accurate (~1e-5 relative in float32) also many scales into the tails.

  Args:
    x: float array [N, ...] of level centres in [-1, 1] (the level is found by
      comparison with -1 + h and 1 - h, so values within h/2 of a centre are fine).
    mean: float array, x's shape possibly with extra leading axes ([K, N, H, W, C]).
    log_scale: float array broadcastable with mean, log of the standard deviation s
      in the units of x (not the variance).
    num_levels: number of levels (256 for 8-bit images).
    event_ndims: axes summed (from the end); default x.ndim - 1.

  Returns:
    float array [N] (or [K, N]), <= 0, in nats.

  Raises:
    ValueError: num_levels is not an integer >= 2, or x is not a float array.
  """
  h, x, mean, log_scale = _levels(
    x, mean, log_scale, num_levels, 'discretized_gaussian_log_likelihood'
  )
  inv_s = jnp.exp(-log_scale)
  log_cdf_upper = special.log_ndtr((x + h - mean) * inv_s)  # First bin: Phi(b).
  log_sf_lower = special.log_ndtr((mean - (x - h)) * inv_s)  # Last bin: 1 - Phi(a).
  interior = _log_normal_bin((x - mean) * inv_s, 2.0 * h * inv_s)
  values = jnp.where(
    x < -1.0 + 0.5 * h, log_cdf_upper, jnp.where(x > 1.0 - 0.5 * h, log_sf_lower, interior)
  )
  return _event_sum(values, x.ndim, event_ndims)


def discretized_logistic_log_likelihood(x, mean, log_scale, num_levels=256, event_ndims=None):
  """log P(x) of a logistic distribution discretized to `num_levels` levels, in nats.

  PixelCNN++ (Salimans et al. 2017, Eq. 2) with one component: the same levels and
  bins as `discretized_gaussian_log_likelihood`, CDF sigmoid((v - mean) / s). The bin
  probability sigmoid(b) - sigmoid(a) equals sigmoid(b) sigmoid(-a) (1 - exp(a - b)),
  so log P = log_sigmoid(b) + log_sigmoid(-a) + log(1 - exp(-2 h / s)) exactly, with
  no cancellation anywhere (PixelCNN++ needs a midpoint fallback instead).

  Args:
    x: float array [N, ...] of level centres in [-1, 1].
    mean: float array, x's shape possibly with extra leading axes.
    log_scale: float array broadcastable with mean, log s (the logistic scale; the
      standard deviation is s pi / sqrt(3)).
    num_levels: number of levels (256 for 8-bit images).
    event_ndims: axes summed (from the end); default x.ndim - 1.

  Returns:
    float array [N] (or [K, N]), <= 0, in nats.

  Raises:
    ValueError: num_levels is not an integer >= 2, or x is not a float array.
  """
  h, x, mean, log_scale = _levels(
    x, mean, log_scale, num_levels, 'discretized_logistic_log_likelihood'
  )
  inv_s = jnp.exp(-log_scale)
  a = (x - h - mean) * inv_s
  b = (x + h - mean) * inv_s
  log_cdf_upper = jax.nn.log_sigmoid(b)
  log_sf_lower = jax.nn.log_sigmoid(-a)
  interior = log_cdf_upper + log_sf_lower + _log1mexp(-2.0 * h * inv_s)
  values = jnp.where(
    x < -1.0 + 0.5 * h, log_cdf_upper, jnp.where(x > 1.0 - 0.5 * h, log_sf_lower, interior)
  )
  return _event_sum(values, x.ndim, event_ndims)


def categorical_log_likelihood(logits, x, event_ndims=None):
  """log softmax(logits)[x] in nats, summed over the event axes of x.

  The 256-way softmax over pixel values of PixelCNN (van den Oord et al. 2016, Sec. 5.1).

  Args:
    logits: float array [..., K]: x's shape (possibly with extra leading axes) then K
      classes.
    x: integer array [N, ...] (e.g. uint8 [N, H, W, C]) with values in [0, K).
      Values outside [0, K), negative ones included, give NaN.
    event_ndims: axes of x summed (from the end); default x.ndim - 1.

  Returns:
    float array [N] (or [K, N]), <= 0, in nats.

  Raises:
    ValueError: x is not an integer array.
  """
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.integer):
    raise ValueError(f'categorical_log_likelihood takes integer x; got {x.dtype}.')
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  index = jnp.broadcast_to(x.astype(jnp.int32)[..., None], log_probs.shape[:-1] + (1,))
  values = jnp.take_along_axis(
    log_probs, index, axis=-1, mode='fill', fill_value=jnp.nan, wrap_negative_indices=False
  )[..., 0]
  return _event_sum(values, x.ndim, event_ndims)


# ----------------------------------------------------------------------------- bounds


def elbo(log_p_x_given_z, kl):
  """The evidence lower bound log p(x|z) - KL(q(z|x) || p(z)) in nats (K&W 2014, Eq. 10).

  Args:
    log_p_x_given_z: float array [N] (or [K, N], averaged over K by the caller), a
      log-likelihood above evaluated at z ~ q(z|x).
    kl: float array [N], e.g. `gaussian_kl(mean, log_variance)`.

  Returns:
    float array, the broadcast of the two, in nats.
  """
  return log_p_x_given_z - kl


def iwae_bound(log_p_x_given_z, log_p_z, log_q_z_given_x):
  """The importance-weighted bound L_K (Burda et al. 2016, Eq. 8), in nats.

  L_K = log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x) independently, computed
  with logsumexp. L_1 is the single-sample ELBO; E[L_K] increases with K towards
  log p(x) (their Theorem 1).

  Args:
    log_p_x_given_z, log_p_z, log_q_z_given_x: float arrays [K, N] (or broadcastable
      to it), the three terms for K samples of each of N examples.

  Returns:
    float array [N], in nats.

  Raises:
    ValueError: the broadcast inputs are not 2-D [K, N].
  """
  log_w = log_p_x_given_z + log_p_z - log_q_z_given_x
  if log_w.ndim != 2:
    raise ValueError(f'iwae_bound takes [K, N] inputs; they broadcast to {log_w.shape}.')
  return special.logsumexp(log_w, axis=0) - math.log(log_w.shape[0])


# ------------------------------------------------------------------------------ units


def nats_per_dim(nats, num_dims):
  """nats / num_dims: the per-dimension value of a per-example total in nats."""
  if num_dims <= 0:
    raise ValueError(f'num_dims must be positive, got {num_dims}.')
  return nats / num_dims


def bits_per_dim(nats, num_dims):
  """nats / (num_dims ln 2): bits per dimension of a per-example total in nats.

  Pass the negative log-likelihood (positive nats) for the usual bits/dim; the sign is
  kept. num_dims is H * W * C for images (3072 for 32x32x3). For discrete likelihoods
  of 8-bit data in [-1, 1] (all of this module's pixel likelihoods) no Jacobian term
  is needed: they already are probabilities of the 256 levels. A continuous density
  on [-1, 1] needs `continuous_to_discrete_nats` first.

  Args:
    nats: float array (any shape) in nats.
    num_dims: positive int.

  Returns:
    float array of nats' shape, in bits per dimension.

  Raises:
    ValueError: num_dims <= 0.
  """
  return nats_per_dim(nats, num_dims) / math.log(2.0)


def continuous_to_discrete_nats(nll, num_dims, num_levels=256):
  """NLL of a continuous density on x in [-1, 1], moved to the scale of the levels.

  x = u / 127.5 - 1 maps the level index u (0..255) to [-1, 1], so a density p_x on
  [-1, 1] is p_x / 127.5 per dimension on the u scale: nll_u = nll_x + D log 127.5
  (in general log((num_levels - 1) / 2)). When the density was fitted to uniformly
  dequantized data (u + U[0, 1) scaled the same way), nll_u upper-bounds the discrete
  NLL of the levels (Theis et al. 2016, Sec. 3.1) and bits_per_dim(nll_u, D) is
  comparable with the discrete models' bits/dim. Without dequantization a continuous
  density on the discrete data is not a bound on anything.

  Args:
    nll: float array (any shape), negative log-density of x in [-1, 1], in nats.
    num_dims: D, the number of dimensions the NLL sums over (positive int).
    num_levels: number of levels (256 for 8-bit data).

  Returns:
    float array of nll's shape, in nats.

  Raises:
    ValueError: num_dims <= 0 or num_levels is not an integer >= 2.
  """
  if num_dims <= 0:
    raise ValueError(f'num_dims must be positive, got {num_dims}.')
  return nll + num_dims * math.log(0.5 / _half_bin(num_levels))
