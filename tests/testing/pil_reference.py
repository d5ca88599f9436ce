#!/usr/bin/python3
"""Writes test images and the Pillow/torchvision reference outputs for imaging_parity_test.

Usage: /usr/bin/python3 pil_reference.py OUT_DIR

Everything is deterministic (fixed numpy seed), so a failure reproduces. Outputs are raw arrays
(uint8 HWC or float32 CHW, native little-endian) described by OUT_DIR/manifest.txt, one record a
line, fields separated by single spaces (names never contain spaces):

  image   NAME FILE WIDTH HEIGHT                   the encoded test image
  error   NAME FILE                                Pillow refuses FILE (damaged)
  decoded NAME MODE RAW_FILE WIDTH HEIGHT CHANNELS Image.open(FILE).convert(MODE), MODE RGB or L
  resize  NAME INTERP WIDTH HEIGHT RAW_FILE        decoded RGB .resize((W, H), INTERP)
  eval    NAME INTERP IMG_SIZE CROP_PCT RAW_FILE   timm's eval transform, float32 [3, S, S]

Exit status 3 with a message when PIL, numpy, torch or torchvision is missing.
"""

import io
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import synthetic_images  # tests/testing: needs numpy, so inside the check
    import numpy as np
    import torch
    from PIL import Image
    from torchvision import transforms
    from torchvision.transforms import InterpolationMode
except ImportError as e:
    sys.stderr.write(
        "pil_reference.py: %s: %s needs numpy, PIL, torch and torchvision; run scripts/setup "
        "(installs python3-numpy python3-pil python3-torch python3-torchvision)\n"
        % (e, sys.executable))
    sys.exit(3)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
INTERP = {"bilinear": (Image.BILINEAR, InterpolationMode.BILINEAR),
          "bicubic": (Image.BICUBIC, InterpolationMode.BICUBIC)}


def synthetic(rng, width, height, noise=24.0):
    return synthetic_images.synthetic(rng, width, height, noise)


def encode(pil_image, fmt, **kwargs):
    buf = io.BytesIO()
    pil_image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def cases(rng):
    """Yields (name, encoded bytes)."""
    sizes = [(500, 375), (375, 500), (333, 500), (500, 333), (640, 480), (2000, 1500),
             (17, 23), (224, 224), (256, 256), (300, 299), (12, 200), (1, 1)]
    for w, h in sizes:
        rgb = Image.fromarray(synthetic(rng, w, h))
        yield "rgb_%dx%d_q90" % (w, h), "jpg", encode(rgb, "JPEG", quality=90)
        yield "rgb_%dx%d" % (w, h), "png", encode(rgb, "PNG")
    base = synthetic(rng, 500, 375)
    rgb = Image.fromarray(base)
    yield "rgb_444_q95", "jpg", encode(rgb, "JPEG", quality=95, subsampling=0)
    yield "rgb_422_q75", "jpg", encode(rgb, "JPEG", quality=75, subsampling=1)
    yield "rgb_progressive", "jpg", encode(rgb, "JPEG", quality=90, progressive=True)
    yield "rgb_optimized_q50", "jpg", encode(rgb, "JPEG", quality=50, optimize=True)
    grey = rgb.convert("L")
    yield "grey_q90", "jpg", encode(grey, "JPEG", quality=90)
    yield "grey", "png", encode(grey, "PNG")
    # Varied K: convert("CMYK") would give K = 0, which hides the rounding of cmyk2rgb.
    cmyk = Image.fromarray(
        np.dstack([synthetic(rng, 320, 240), synthetic(rng, 320, 240)[..., :1]]), "CMYK")
    yield "cmyk_q90", "jpg", encode(cmyk, "JPEG", quality=90)
    alpha = rng.integers(0, 256, (375, 500), dtype=np.uint8)
    yield "rgba", "png", encode(Image.fromarray(np.dstack([base, alpha]), "RGBA"), "PNG")
    yield "grey_alpha", "png", encode(
        Image.fromarray(np.dstack([np.asarray(grey), alpha]), "LA"), "PNG")
    palette = rgb.quantize(colors=200)
    yield "palette", "png", encode(palette, "PNG")
    yield "palette_trns", "png", encode(palette, "PNG", transparency=5)
    yield "palette_4bit", "png", encode(rgb.quantize(colors=16), "PNG", bits=4)
    wide = (base.astype(np.uint16) * 257 + rng.integers(0, 257, base.shape)).astype(np.uint16)
    # Pillow cannot write 16-bit RGB; build the PNGs by hand. Pillow opens 16-bit grey as mode
    # "I" and its convert("RGB") clips to 0..255 instead of taking the high byte: values around
    # the clip point make that visible.
    yield "rgb16", "png", png16(wide, 2)
    yield "grey16", "png", png16(rng.integers(0, 512, (40, 30)).astype(np.uint16), 0)
    # Damaged files: Pillow refuses truncated ones and decodes through libjpeg's warnings.
    jpeg = encode(rgb, "JPEG", quality=90)
    yield "damaged_truncated_half", "jpg", jpeg[:len(jpeg) // 2]
    yield "damaged_truncated_no_eoi", "jpg", jpeg[:-2]
    yield "damaged_trailing_garbage", "jpg", jpeg + b"not image data" * 10
    yield "damaged_extraneous_before_eoi", "jpg", jpeg[:-2] + b"\x12\x34\x56" + jpeg[-2:]
    app0_end = 4 + int.from_bytes(jpeg[4:6], "big")  # SOI, then APP0's marker and length
    yield "damaged_extraneous_in_header", "jpg", jpeg[:app0_end] + b"\x00\x01" + jpeg[app0_end:]
    corrupt = bytearray(jpeg)
    for i in range(len(corrupt) // 2, len(corrupt) // 2 + 16):
        if corrupt[i] != 0xFF and corrupt[i - 1] != 0xFF:
            corrupt[i] = (corrupt[i] * 7 + 3) & 0xFF or 1
            if corrupt[i] == 0xFF:
                corrupt[i] = 0xFE
    yield "damaged_corrupt_entropy", "jpg", bytes(corrupt)
    yield "damaged_corrupt_then_truncated", "jpg", bytes(corrupt[:len(corrupt) * 3 // 4])
    progressive = encode(rgb, "JPEG", quality=90, progressive=True)
    yield "damaged_progressive_truncated", "jpg", progressive[:len(progressive) * 3 // 4]
    png = encode(rgb, "PNG")
    yield "damaged_png_truncated_half", "png", png[:len(png) // 2]
    yield "damaged_png_no_iend", "png", png[:-12]


def png16(array, color_type):
    """A 16-bit PNG (colour type 0 grey or 2 RGB) with filter-0 rows."""
    import struct
    import zlib
    height, width = array.shape[:2]

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def eval_transform(interp, img_size, crop_pct):
    """timm.data.transforms_factory.transforms_imagenet_eval for an int img_size."""
    scale_size = math.floor(img_size / crop_pct)
    return transforms.Compose([
        transforms.Resize(scale_size, interpolation=INTERP[interp][1]),
        transforms.CenterCrop(img_size),
        transforms.ToTensor(),
        transforms.Normalize(mean=torch.tensor(MEAN), std=torch.tensor(STD)),
    ])


def shorter_side(width, height, size):
    """torchvision 0.14 _compute_resized_output_size for an int size."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: pil_reference.py OUT_DIR\n")
        return 2
    out = sys.argv[1]
    torch.set_num_threads(1)
    rng = np.random.default_rng(20240601)
    manifest = []

    def save(array, name):
        np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tofile(
            os.path.join(out, name))
        return name

    evals = [("bicubic", 224, 0.875)]
    for index, (name, ext, data) in enumerate(cases(rng)):
        file_name = name + "." + ext
        with open(os.path.join(out, file_name), "wb") as f:
            f.write(data)
        try:
            pil = Image.open(os.path.join(out, file_name))
            width, height = pil.size
            rgb = pil.convert("RGB")
        except (OSError, SyntaxError, ValueError):
            manifest.append("error %s %s" % (name, file_name))
            continue
        manifest.append("image %s %s %d %d" % (name, file_name, width, height))
        manifest.append("decoded %s RGB %s %d %d 3" % (
            name, save(np.asarray(rgb), name + ".rgb.u8"), width, height))
        grey = Image.open(os.path.join(out, file_name)).convert("L")
        manifest.append("decoded %s L %s %d %d 1" % (
            name, save(np.asarray(grey), name + ".l.u8"), width, height))
        if name.startswith("damaged_"):
            continue  # decoding is what they test
        # Down and up in both axes, and mixed; the big images only get the common targets.
        targets = {shorter_side(width, height, 256), (224, 224)}
        if width * height <= 640 * 480:
            targets.add((width + 7, max(1, height // 2 + 1)))
            targets.add((max(1, width * 3 // 4), max(1, height * 5 // 3)))
        for interp in ("bilinear", "bicubic"):
            for tw, th in sorted(targets):
                resized = rgb.resize((tw, th), INTERP[interp][0])
                raw = save(np.asarray(resized), "%s.%s.%dx%d.u8" % (name, interp, tw, th))
                manifest.append("resize %s %s %d %d %s" % (name, interp, tw, th, raw))
        # Other eval configurations on a few images: bilinear, crop_pct 1 (no crop slack) and
        # crop_pct > 1 (CenterCrop pads the resized image with zeros), another img_size.
        configs = list(evals)
        if index % 3 == 0:
            configs += [("bilinear", 224, 0.95), ("bicubic", 224, 1.0), ("bicubic", 224, 1.15),
                        ("bicubic", 288, 0.95)]
        for interp, img_size, crop_pct in configs:
            tensor = eval_transform(interp, img_size, crop_pct)(rgb)
            raw = save(tensor.numpy().astype(np.float32),
                       "%s.eval.%s.%d.%s.f32" % (name, interp, img_size, crop_pct))
            manifest.append("eval %s %s %d %r %s" % (name, interp, img_size, crop_pct, raw))

    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
