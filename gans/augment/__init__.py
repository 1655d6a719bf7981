"""Differentiable augmentation of the images a discriminator sees (data-efficient GANs).

`diffaugment`: DiffAugment (Zhao et al. 2020), the `augment` config switch of the
adversarial families.
"""
