// Image operations for the demo's distribution shifts and the trainer's augmentation, on 8-bit
// grey images (imaging::Image with channels == 1). Pure functions: deterministic given their
// arguments (and the Rng's state), no I/O.
//
// Every function returns a new image of the same size; pixel values are rounded to the nearest
// integer and clamped to 0..255. An image with channels != 1 is a bug (the result is empty).
//
// Thread safety: all functions may be called concurrently (each Rng from one thread).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "demo/rng.h"
#include "imaging/image.h"

namespace tw::demo {

// 255 - x.
imaging::Image Invert(const imaging::Image& image);

// Rotation by `degrees` (counter-clockwise on screen) about the image centre, bilinear sampling,
// black (0) outside the source. Rotation by 0 returns the image unchanged.
imaging::Image Rotate(const imaging::Image& image, double degrees);

// Adds independent Gaussian noise of standard deviation `sigma` (in pixel units, 0..255).
imaging::Image AddGaussianNoise(const imaging::Image& image, double sigma, Rng& rng);

// Separable Gaussian blur of standard deviation `sigma` pixels (kernel radius ceil(3 sigma)),
// borders replicated, so a constant image stays constant. sigma <= 0 returns a copy.
imaging::Image GaussianBlur(const imaging::Image& image, double sigma);

// Scales every pixel's distance from the image's mean by `factor` (< 1: less contrast).
imaging::Image ScaleContrast(const imaging::Image& image, double factor);

// Replaces each `block` x `block` cell (the last ones may be smaller) by its mean.
// block <= 1 returns a copy.
imaging::Image Pixelate(const imaging::Image& image, int block);

// One corruption of the suite at one severity (1 = mild .. kSeverities = strong).
inline constexpr int kSeverities = 3;

// The suite's corruption names, in the order they are written: noise, blur, rotate, contrast,
// pixelate.
const std::vector<std::string>& CorruptionNames();

// Applies corruption `name` at `severity` (1..kSeverities). `rng` feeds the random ones (noise,
// the rotation's direction). An unknown name or severity is a bug: the result is empty.
imaging::Image ApplyCorruption(const imaging::Image& image, std::string_view name, int severity,
                               Rng& rng);

}  // namespace tw::demo
