"""Synthetic test images shared by the Python fixture generators of the tests.

Smooth gradients and shapes plus gaussian noise: close to photographs in file entropy (which
drives JPEG decoding time) without shipping any.
"""

import math

import numpy as np


def synthetic(rng, width, height, noise):
    """An RGB uint8 array of height x width from the numpy Generator `rng`."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        fx, fy = rng.uniform(0.5, 4.0, 2) * 2 * math.pi
        phase = rng.uniform(0, 2 * math.pi)
        img[..., c] = 128 + 90 * np.sin(fx * x / width + fy * y / height + phase)
    for _ in range(6):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.3) * min(width, height) + 1
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, 3)
        x0, y0 = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        img[y0:y0 + int(r), x0:x0 + int(r)] = rng.uniform(0, 255, 3)
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
