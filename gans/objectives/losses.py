"""Adversarial loss pairs on discriminator outputs (logits or critic values).

Each loss is a pair (discriminator loss, generator loss), means over the batch.
- minimax (Goodfellow et al. 2014): D maximises log D(x) + log(1 - D(G(z)));
  G minimises log(1 - D(G(z))).
- non_saturating (same paper, Sec. 3): G maximises log D(G(z)) instead.
- wasserstein (Arjovsky et al. 2017): D maximises E[D(x)] - E[D(G(z))]; G maximises
  E[D(G(z))]. Needs a Lipschitz constraint (weight clipping or gradient penalty).
- hinge (Lim & Ye 2017; Miyato et al. 2018): D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];
  G: -E[D(G(z))].
- least_squares (Mao et al. 2017, Eq. 2): D: 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2];
  G: 1/2 E[(D(G(z)) - c)^2] on the raw output (no sigmoid). Codings (a, b, c):
  (0, 1, 1), the paper's Eq. 10 "0-1 binary coding" (the default), and (-1, 1, 0),
  Eq. 9, which satisfies b - c = 1, b - a = 2 and so minimises the Pearson chi^2
  divergence.
With D(x) = sigmoid(logit), log D = -softplus(-logit), log(1 - D) = -softplus(logit).

The discriminator losses of minimax, non_saturating and least_squares take optional
targets `real_label`, `fake_label` (scalars or one per example, 1 = real, 0 = fake):
one-sided label smoothing, noisy labels and label flips (gans.train.tricks) change
them. Soft labels enter the cross entropy as t log D + (1 - t) log(1 - D) and the
least squares loss as the target a + t (b - a).
"""

import functools

import jax.numpy as jnp
from jax import nn

LABEL_LOSSES = ('minimax', 'non_saturating', 'least_squares')


def sigmoid_cross_entropy(logits, labels):
  """-[t log sigmoid(l) + (1 - t) log(1 - sigmoid(l))], elementwise."""
  return labels * nn.softplus(-logits) + (1.0 - labels) * nn.softplus(logits)


def minimax_discriminator(real, fake, real_label=1.0, fake_label=0.0):
  return jnp.mean(sigmoid_cross_entropy(real, real_label)) + jnp.mean(
    sigmoid_cross_entropy(fake, fake_label)
  )


def minimax_generator(fake):
  return -jnp.mean(nn.softplus(fake))


def non_saturating_generator(fake):
  return jnp.mean(nn.softplus(-fake))


def wasserstein_discriminator(real, fake):
  return jnp.mean(fake) - jnp.mean(real)


def wasserstein_generator(fake):
  return -jnp.mean(fake)


def hinge_discriminator(real, fake):
  return jnp.mean(nn.relu(1.0 - real)) + jnp.mean(nn.relu(1.0 + fake))


def least_squares_discriminator(real, fake, real_label=1.0, fake_label=0.0, *, a=0.0, b=1.0):
  real_target = a + real_label * (b - a)
  fake_target = a + fake_label * (b - a)
  return 0.5 * jnp.mean((real - real_target) ** 2) + 0.5 * jnp.mean((fake - fake_target) ** 2)


def least_squares_generator(fake, *, c=1.0):
  return 0.5 * jnp.mean((fake - c) ** 2)


LS_CODINGS = {'0,1,1': (0.0, 1.0, 1.0), '-1,1,0': (-1.0, 1.0, 0.0)}


def parse_coding(coding):
  """'a,b,c' (any three numbers; '0,1,1' and '-1,1,0' are the paper's) -> floats."""
  if isinstance(coding, (tuple, list)):
    values = coding
  else:
    values = str(coding).replace(' ', '').split(',')
  try:
    a, b, c = (float(v) for v in values)
  except ValueError:
    raise ValueError(
      f"config.ls_coding={coding!r} is not 'a,b,c' (e.g. '0,1,1' or '-1,1,0')."
    ) from None
  if a == b:
    raise ValueError(
      f'config.ls_coding={coding!r}: the fake label a must differ from the real label b.'
    )
  return a, b, c


LOSSES = {
  'minimax': (minimax_discriminator, minimax_generator),
  'non_saturating': (minimax_discriminator, non_saturating_generator),
  'wasserstein': (wasserstein_discriminator, wasserstein_generator),
  'hinge': (hinge_discriminator, wasserstein_generator),
  'least_squares': (least_squares_discriminator, least_squares_generator),
}


def get(name, ls_coding='0,1,1'):
  """Returns (discriminator_loss(real, fake), generator_loss(fake)) for `name`.

  `ls_coding` ('a,b,c') picks the labels of least_squares; other losses ignore it.
  """
  if name not in LOSSES:
    raise ValueError(f'config.loss={name!r} is not a loss; known: {", ".join(LOSSES)}.')
  if name == 'least_squares':
    a, b, c = parse_coding(ls_coding)
    return (
      functools.partial(least_squares_discriminator, a=a, b=b),
      functools.partial(least_squares_generator, c=c),
    )
  return LOSSES[name]
