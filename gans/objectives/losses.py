"""Adversarial loss pairs on discriminator outputs (logits or critic values).

Each loss is a pair (discriminator loss, generator loss), means over the batch.
- minimax (Goodfellow et al. 2014): D maximises log D(x) + log(1 - D(G(z)));
  G minimises log(1 - D(G(z))).
- non_saturating (same paper, Sec. 3): G maximises log D(G(z)) instead.
- wasserstein (Arjovsky et al. 2017): D maximises E[D(x)] - E[D(G(z))]; G maximises
  E[D(G(z))]. Needs a Lipschitz constraint (weight clipping or gradient penalty).
- hinge (Lim & Ye 2017; Miyato et al. 2018): D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];
  G: -E[D(G(z))].
With D(x) = sigmoid(logit), log D = -softplus(-logit), log(1 - D) = -softplus(logit).
"""

import jax.numpy as jnp
from jax import nn


def minimax_discriminator(real, fake):
  return jnp.mean(nn.softplus(-real)) + jnp.mean(nn.softplus(fake))


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


LOSSES = {
    'minimax': (minimax_discriminator, minimax_generator),
    'non_saturating': (minimax_discriminator, non_saturating_generator),
    'wasserstein': (wasserstein_discriminator, wasserstein_generator),
    'hinge': (hinge_discriminator, wasserstein_generator),
}


def get(name):
  """Returns (discriminator_loss(real, fake), generator_loss(fake)) for `name`."""
  if name not in LOSSES:
    raise ValueError(f'config.loss={name!r} is not a loss; known: {", ".join(LOSSES)}.')
  return LOSSES[name]
