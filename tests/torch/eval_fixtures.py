#!/usr/bin/python3
"""Writes the datasets, checkpoints and reference outputs that eval_end_to_end_test.cc uses.

Usage: /usr/bin/python3 eval_fixtures.py OUTPUT_DIR [THREADS]
       /usr/bin/python3 eval_fixtures.py OUTPUT_DIR THREADS --photos PHOTOS_DIR

The reference is timm's validate.py on the same files: PIL open + convert('RGB'), torchvision
Resize(floor(224 / 0.875) = 256, bicubic), CenterCrop(224), ToTensor, Normalize(ImageNet mean and
std), batches of 8 in the dataset's sorted relative-path order, the model under
torch.inference_mode with THREADS intra-op threads (default 2, what the test gives
`transferwatch eval --threads`). Every random draw is seeded, so a failure reproduces.

OUTPUT_DIR receives:
  parity/<wnid>/img_NNN.{jpg,png}   the parity dataset (wnid folders, ImageNet-like sizes, JPEG
                                    q90 and PNG, one greyscale JPEG, one progressive JPEG, one
                                    RGBA PNG, one palette PNG)
  model.pt                          TorchScript CNN, 1000 logits, random weights with BN statistics
                                    measured on the parity images (so predictions vary per image)
  model_state_dict.pt               torch.save(model.state_dict()) of the same weights
  arch.pt                           the same architecture scripted with another random init
  model10.pt                        a TorchScript CNN with 10 outputs
  nan_model.pt                      a TorchScript model whose logits are all NaN
  not_a_model.pt                    a text file
  reference.json                    {"n", "top1", "top5", "nll", "batch_size", "threads",
                                     "images": [{"path", "label", "top5", "true_prob",
                                     "gap5"}]} in the dataset's order; top-1/top-5 in percent,
                                    true_prob the softmax probability of the true class (float64
                                    from the float32 logits), gap5 = 5th minus 6th largest logit
  reference_logits.f32              the logits, float32 little-endian, [n, 1000] row-major
  bad_truncated/, bad_empty/, bad_bomb/, bad_classes/, small/
                                    small wnid-folder datasets for the bad-input tests (two good
                                    images each plus the bad one; small/ has only the two good
                                    ones: the tests copy it when they change a file)

With --photos (run after the first form, on the same OUTPUT_DIR: it reuses model.pt), OUTPUT_DIR
receives instead:
  photos/<wnid>/NAME                every photograph of PHOTOS_DIR (*.png, *.jpg, *.jpeg: the real
                                    photographs that scripts/setup copies from scikit-image's data
                                    folder) as it is, byte for byte
  photos/<wnid>/STEM_q90.jpg        and re-encoded: PIL convert('RGB'), JPEG quality 90, 4:2:0
  photos_reference.json             the reference on photos/, in reference.json's format
  photos_reference_logits.f32       its logits, like reference_logits.f32
Each photograph's two files share a class folder, chosen like the parity images' from the
model's ranking of the original (its 1st, 3rd or a far class in turn), so that top-1 and top-5
are not trivially 0.

Exit status 3 with a message when numpy, PIL, torch or torchvision is missing; 4 when PHOTOS_DIR
holds no photograph.
"""

import io
import json
import math
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'testing'))

# transferwatch eval runs the evaluator with this; the reference does the same.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    import synthetic_images  # tests/testing: needs numpy, so inside the check
    import numpy as np
    import torch
    import torch.nn as nn
    from PIL import Image
    from torchvision import transforms
    from torchvision.transforms import InterpolationMode
except ImportError as e:  # The C++ test prints this and fails.
    sys.stderr.write(
        "eval_fixtures.py: %s: %s needs numpy, PIL, torch and torchvision; run scripts/setup "
        "(python3-numpy python3-pil python3-torch python3-torchvision; use /usr/bin/python3)\n"
        % (e, sys.executable))
    sys.exit(3)

SEED = 20240601
NUM_IMAGES = 60
BATCH_SIZE = 8
IMG_SIZE = 224
CROP_PCT = 0.875
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SYNSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data",
                       "imagenet", "imagenet_synsets.txt")


class SmallCnn(nn.Module):
    """conv-BN-ReLU x3 (stride 2) + global average pool + BN + fc: a resnet in miniature."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(64)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.bn_feat = nn.BatchNorm1d(64)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.relu(self.bn3(self.conv3(x)))
        x = self.bn_feat(torch.flatten(self.pool(x), 1))
        return self.fc(x) * 3.0


class NanLogits(nn.Module):
    """[N, 1000] logits that are all NaN (input-dependent, so freezing cannot fold them)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.mean(dim=[1, 2, 3]).unsqueeze(1) * float("nan")).expand(x.shape[0], 1000)


def synthetic(rng, width, height, noise=12.0):
    return synthetic_images.synthetic(rng, width, height, noise)


def encode(array, kind):
    """(bytes, extension) of the RGB array in one of the dataset's encodings."""
    image = Image.fromarray(array, "RGB")
    out = io.BytesIO()
    if kind == "jpeg":
        image.save(out, "JPEG", quality=90)
        return out.getvalue(), "jpg"
    if kind == "jpeg-grey":
        image.convert("L").save(out, "JPEG", quality=90)
        return out.getvalue(), "jpg"
    if kind == "jpeg-progressive":
        image.save(out, "JPEG", quality=90, progressive=True)
        return out.getvalue(), "jpg"
    if kind == "png":
        image.save(out, "PNG")
        return out.getvalue(), "png"
    if kind == "png-rgba":
        alpha = Image.fromarray(array[..., 0])  # varying alpha: convert('RGB') must drop it
        rgba = image.copy()
        rgba.putalpha(alpha)
        rgba.save(out, "PNG")
        return out.getvalue(), "png"
    if kind == "png-palette":
        image.convert("P", palette=Image.ADAPTIVE, colors=200).save(out, "PNG")
        return out.getvalue(), "png"
    raise ValueError(kind)


def eval_transform():
    """timm's transforms_imagenet_eval for img_size 224, crop_pct 0.875, bicubic."""
    scale_size = math.floor(IMG_SIZE / CROP_PCT)
    return transforms.Compose([
        transforms.Resize(scale_size, interpolation=InterpolationMode.BICUBIC),
        transforms.CenterCrop(IMG_SIZE),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])


def load_rgb(source):
    with Image.open(source) as image:
        return image.convert("RGB")


def optimized(path):
    # transferwatch-eval loads the file and applies torch::jit::optimize_for_inference, which
    # freezes the module (folding BN into the convolutions) and may swap in MKLDNN kernels. With
    # random weights many logits are near-ties, so comparing per image (top-5 equal) is only
    # meaningful with the SAME graph on both sides: plain eager forward would differ in the last
    # bits and reorder near-ties. Hence freeze + optimize_for_inference here too.
    scripted = torch.jit.load(path)
    return torch.jit.optimize_for_inference(torch.jit.freeze(scripted.eval()))


def write_png_bomb(path, width, height):
    """A valid PNG signature and IHDR claiming width x height RGB, with a tiny IDAT."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) +
                chunk(b"IEND", b""))


def write_small_dataset(root, rng, synsets, extra=None):
    """Two good JPEGs in two class folders; `extra` = (relative path, bytes or None)."""
    for k, wnid in enumerate(synsets[:2]):
        os.makedirs(os.path.join(root, wnid), exist_ok=True)
        data, _ = encode(synthetic(rng, 160, 120), "jpeg")
        with open(os.path.join(root, wnid, "good_%d.jpg" % k), "wb") as f:
            f.write(data)
    if extra is not None:
        rel, data = extra
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    return root


def write_reference(net, transform, root, synsets, threads, out, prefix):
    """timm's validate.py loop over the wnid-folder dataset `root` (sorted relative paths, batches
    of BATCH_SIZE): writes PREFIXreference.json and PREFIXreference_logits.f32 into `out`."""
    index = {wnid: k for k, wnid in enumerate(synsets)}
    files = sorted(os.path.relpath(os.path.join(d, name), root)
                   for d, _, names in os.walk(root) for name in names)
    all_logits = []
    with torch.inference_mode():
        for start in range(0, len(files), BATCH_SIZE):
            batch = torch.stack([transform(load_rgb(os.path.join(root, rel)))
                                 for rel in files[start:start + BATCH_SIZE]])
            all_logits.append(net(batch).float().contiguous())
    logits = torch.cat(all_logits)
    assert logits.shape == (len(files), 1000), logits.shape
    log_probs = torch.log_softmax(logits.double(), dim=1)
    images = []
    correct1 = correct5 = 0
    nll = 0.0
    for row, rel in enumerate(files):
        label = index[rel.split("/")[0]]
        values, top = torch.topk(logits[row], 6)
        top5 = [int(c) for c in top[:5]]
        correct1 += top5[0] == label
        correct5 += label in top5
        nll -= float(log_probs[row, label])
        images.append({"path": rel, "label": label, "top5": top5,
                       "true_prob": math.exp(float(log_probs[row, label])),
                       "gap5": float(values[4] - values[5])})
    n = len(files)
    reference = {"n": n, "top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n,
                 "nll": nll / n, "batch_size": BATCH_SIZE, "threads": threads,
                 "torch": torch.__version__, "images": images}
    with open(os.path.join(out, prefix + "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
    logits.numpy().astype("<f4").tofile(os.path.join(out, prefix + "reference_logits.f32"))
    return reference, logits


PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg")


def photos_main(out, threads, photos_dir):
    """The --photos form: photos/ and its reference, with the model.pt already in `out`."""
    names = sorted(name for name in (os.listdir(photos_dir) if os.path.isdir(photos_dir) else [])
                   if name.lower().endswith(PHOTO_EXTENSIONS))
    if not names:
        sys.stderr.write("eval_fixtures.py: no photograph (*.png, *.jpg) in %s: run scripts/setup: "
                         "it fetches the test photographs\n" % photos_dir)
        return 4
    with open(SYNSETS) as f:
        synsets = [line.strip() for line in f]
    assert len(synsets) == 1000, SYNSETS
    transform = eval_transform()
    net = optimized(os.path.join(out, "model.pt"))
    # Each photograph's class: from the model's ranking of the original (deterministic).
    with torch.inference_mode():
        inputs = torch.stack([transform(load_rgb(os.path.join(photos_dir, name)))
                              for name in names])
        ranked = torch.argsort(net(inputs), dim=1, descending=True)
    root = os.path.join(out, "photos")
    for i, name in enumerate(names):
        label = int(ranked[i, (0, 2, 100 + i)[i % 3]])
        folder = os.path.join(root, synsets[label])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(photos_dir, name), "rb") as f:
            original = f.read()
        with open(os.path.join(folder, name), "wb") as f:
            f.write(original)
        q90 = io.BytesIO()
        load_rgb(io.BytesIO(original)).save(q90, "JPEG", quality=90, subsampling="4:2:0")
        with open(os.path.join(folder, os.path.splitext(name)[0] + "_q90.jpg"), "wb") as f:
            f.write(q90.getvalue())
    reference, _ = write_reference(net, transform, root, synsets, threads, out, "photos_")
    print("eval_fixtures --photos: %d photographs, %d images, reference top-1 %.2f%%, "
          "top-5 %.2f%%, NLL %.4f, smallest 5th-6th logit gap %.3g"
          % (len(names), reference["n"], reference["top1"], reference["top5"], reference["nll"],
             min(im["gap5"] for im in reference["images"])))
    return 0


def main():
    if len(sys.argv) == 5 and sys.argv[3] == "--photos":
        torch.set_num_threads(int(sys.argv[2]))
        return photos_main(sys.argv[1], int(sys.argv[2]), sys.argv[4])
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: eval_fixtures.py OUTPUT_DIR [THREADS] [--photos PHOTOS_DIR]\n")
        return 2
    out = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) == 3 else 2
    torch.set_num_threads(threads)
    os.makedirs(out, exist_ok=True)
    with open(SYNSETS) as f:
        synsets = [line.strip() for line in f]
    assert len(synsets) == 1000, SYNSETS

    rng = np.random.default_rng(SEED)
    torch.manual_seed(SEED)

    # 1. The images, encoded in memory (what goes to disk is exactly these bytes).
    sizes = [(500, 375), (375, 500), (333, 500), (500, 333), (500, 400), (400, 500)]
    special = {3: "jpeg-grey", 7: "png-rgba", 11: "png-palette", 15: "jpeg-progressive"}
    encoded = []
    for i in range(NUM_IMAGES):
        kind = special.get(i, "png" if i % 5 == 4 else "jpeg")
        width, height = sizes[i % len(sizes)]
        encoded.append(encode(synthetic(rng, width, height), kind))
    transform = eval_transform()
    inputs = torch.stack([transform(load_rgb(io.BytesIO(data))) for data, _ in encoded])

    # 2. The model: BN statistics measured on these images (one train-mode pass), so that the
    # pooled features are standardised and the predictions differ from image to image.
    model = SmallCnn()
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.momentum = None  # cumulative average: the one batch's statistics
    model.train()
    with torch.no_grad():
        model(inputs)
    model.eval()
    torch.jit.save(torch.jit.script(model), os.path.join(out, "model.pt"))
    torch.save(model.state_dict(), os.path.join(out, "model_state_dict.pt"))
    torch.jit.save(torch.jit.script(SmallCnn().eval()), os.path.join(out, "arch.pt"))
    torch.jit.save(torch.jit.script(SmallCnn(10).eval()), os.path.join(out, "model10.pt"))
    torch.jit.save(torch.jit.script(NanLogits().eval()), os.path.join(out, "nan_model.pt"))
    with open(os.path.join(out, "not_a_model.pt"), "w") as f:
        f.write("this is a text file, not a checkpoint\n")

    # 3. Labels: a third of the images in the folder of their predicted class, a third in that
    # of their 3rd-ranked class (top-5 but not top-1 correct), a third elsewhere, so that top-1,
    # top-5 and NLL are not trivially 0.
    net = optimized(os.path.join(out, "model.pt"))
    with torch.inference_mode():
        ranked = torch.argsort(net(inputs), dim=1, descending=True)
    root = os.path.join(out, "parity")
    for i, (data, ext) in enumerate(encoded):
        if i % 3 == 0:
            label = int(ranked[i, 0])
        elif i % 3 == 1:
            label = int(ranked[i, 2])
        else:
            label = int(ranked[i, 100 + i])
        folder = os.path.join(root, synsets[label])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "img_%03d.%s" % (i, ext)), "wb") as f:
            f.write(data)

    # 4. The reference: timm's validate.py loop over the files on disk, in the dataset's order.
    reference, _ = write_reference(net, transform, root, synsets, threads, out, "")
    images = reference["images"]
    n = reference["n"]

    # 5. Small datasets with one bad file each.
    good, _ = encode(synthetic(rng, 160, 120), "jpeg")
    wnid = synsets[0]
    write_small_dataset(os.path.join(out, "bad_truncated"), rng, synsets,
                        (wnid + "/truncated.jpg", good[:len(good) // 2]))
    write_small_dataset(os.path.join(out, "bad_empty"), rng, synsets, (wnid + "/empty.jpg", b""))
    write_small_dataset(os.path.join(out, "bad_bomb"), rng, synsets)
    write_png_bomb(os.path.join(out, "bad_bomb", wnid, "bomb.png"), 100000, 100000)
    write_small_dataset(os.path.join(out, "bad_classes"), rng, synsets,
                        ("n99999999/stray.jpg", good))
    write_small_dataset(os.path.join(out, "small"), rng, synsets)

    print("eval_fixtures: %d images, reference top-1 %.2f%%, top-5 %.2f%%, NLL %.4f, "
          "smallest 5th-6th logit gap %.3g" % (n, reference["top1"], reference["top5"],
                                               reference["nll"],
                                               min(im["gap5"] for im in images)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
