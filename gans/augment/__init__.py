"""Augmentation of the images a discriminator sees (data-efficient GAN training).

`diffaugment`: DiffAugment (Zhao et al. 2020), the `augment` config switch.
`ada`: adaptive discriminator augmentation (Karras et al. 2020), the `ada` switch.
`policy`: the two switches as one object the adversarial families' steps call.
"""
