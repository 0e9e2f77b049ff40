"""The Overpaint demo model: a procedural shapes dataset, its training and its evaluation.

The shipped result lives in resources/models/overpaint-demo/ (a normal diffusers folder).
Only `dataset` is light (numpy + Pillow); the other modules import torch/diffusers.
"""
