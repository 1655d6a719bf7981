"""Model families: each package builds a `gans.train.experiment.Experiment`.

`config.family` names one: `gan` (every adversarial model with one generator and one
discriminator), `ae`, `vae`, `vae_gan`, `pixelcnn`, `stylegan2`, `progan`, `paired`
(pix2pix, SRGAN) and `cyclegan`. A family owns its train state
layout (the models in `TrainState.models`, EMA, extras), its step phases, its
sampler and what its evaluators may use; the loop, checkpoints, logging and sharding
in gans/train are shared. See docs/families.md for adding one.
"""
