#!/usr/bin/python3
"""Writes the checkpoint fixtures that tests/torch/checkpoint_test.cc reads.

Usage: /usr/bin/python3 make_fixtures.py OUTPUT_DIR

Generated at test time (not checked in) so the files always come from the installed PyTorch;
every random draw is seeded, so the same PyTorch writes the same tensors. Exit status 2 with a
message when PyTorch is missing: the C++ test fails with it rather than skipping, because a
skipped checkpoint test looks like a passing one.
"""

import argparse
import collections
import os
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torchvision
except ImportError as e:  # The C++ test prints this and fails.
    sys.stderr.write(
        f"make_fixtures.py: {sys.executable} cannot import PyTorch ({e}); run scripts/setup, "
        "which installs python3-torch and python3-torchvision (use /usr/bin/python3, not a "
        "pyenv python3)\n")
    sys.exit(2)

from typing import Tuple


class TinyCnn(nn.Module):
    """2 conv + BN + ReLU + pool + fc, 10 classes, 32x32 input: 16 state-dict tensors."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class ThreeDimOutput(nn.Module):
    """Returns [N, 10, 2]: not logits."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 20)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(2, 3))).reshape(x.shape[0], 10, 2)


class TupleOutput(nn.Module):
    """Returns (logits, aux), as Inception-style models do."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits = self.fc(x.mean(dim=(2, 3)))
        return logits, logits * 2


class Container(nn.Module):
    """Holds tensors as buffers so C++ reads them with torch::jit::load(path).attr(name)."""

    def __init__(self, tensors):
        super().__init__()
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor)


def randomize_bn(model, seed):
    """Non-trivial running statistics, so a buffer that is not copied changes the output."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            m.num_batches_tracked.fill_(seed + 7)


def make_tiny(seed):
    torch.manual_seed(seed)
    model = TinyCnn()
    randomize_bn(model, seed)
    return model.eval()


def save_script(model, path):
    torch.jit.save(torch.jit.script(model), path)


def patch_zip(path, record, old, new):
    """Rewrites one record of a torch.save zip, replacing bytes `old` (once) by `new`."""
    import zipfile
    with zipfile.ZipFile(path) as z:
        items = [(info, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for info, data in items:
            if info.filename.endswith("/" + record):
                assert data.count(old) == 1, (record, data)
                data = data.replace(old, new)
            z.writestr(info, data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    args = parser.parse_args()
    out = args.out_dir
    os.makedirs(out, exist_ok=True)

    def p(name):
        return os.path.join(out, name)

    start = time.monotonic()
    torch.set_num_threads(1)  # Same reference output whatever the machine.

    # --- tiny CNN: the trained model (seed 0) and a differently initialised arch (seed 1).
    tiny = make_tiny(0)
    save_script(tiny, p("tiny_script.pt"))
    sd = tiny.state_dict()
    assert isinstance(sd, collections.OrderedDict) and hasattr(sd, "_metadata")
    torch.save(sd, p("tiny_sd.pt"))
    torch.save(dict(sd), p("tiny_sd_plain.pt"))
    with open(p("tiny_sd_names.txt"), "w") as f:
        f.write("\n".join(sd.keys()) + "\n")

    # A training script's checkpoint: the OrderedDict nested under "state_dict", beside an
    # optimizer state (int keys, lists, None, bools), a one-element list (APPEND), a one-key
    # dict (SETITEM) and an int beyond 32 bits (LONG1 of 5 bytes).
    scratch = make_tiny(0)  # sd shares storage with tiny: step a copy, not tiny.
    optimizer = torch.optim.SGD(scratch.parameters(), lr=0.1, momentum=0.9)
    scratch.train()
    scratch(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    torch.save({"epoch": 3, "state_dict": sd, "optimizer": optimizer.state_dict(),
                "best_acc": 0.5, "arch": "tiny", "milestones": [30], "nested": {"k": None},
                "global_step": 5_000_000_000, "neg": -5_000_000_000},
               p("tiny_sd_nested.pt"))
    torch.save({"model": sd}, p("tiny_sd_model_key.pt"))
    torch.save({"epoch": 3, "loss": 0.25}, p("no_tensors.pt"))
    torch.save(collections.OrderedDict((k, v.half() if v.is_floating_point() else v)
                                       for k, v in sd.items()), p("tiny_sd_half.pt"))
    torch.save(sd, p("tiny_sd_legacy.pt"), _use_new_zipfile_serialization=False)
    save_script(make_tiny(1), p("tiny_arch.pt"))

    bad = collections.OrderedDict(sd)
    del bad["bn2.running_var"]                           # missing
    bad["head.weight"] = torch.zeros(3)                  # unexpected
    bad["conv1.weight"] = torch.zeros(8, 3, 5, 5)        # shape
    bad["fc.bias"] = torch.zeros(10, dtype=torch.int64)  # integer into a float parameter
    torch.save(bad, p("tiny_sd_bad.pt"))

    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        y = tiny(x)
    torch.jit.save(torch.jit.script(Container({"input": x, "output": y})), p("tiny_io.pt"))

    # A damaged file: the pickle says the tensor has 64 elements, its record holds 4.
    torch.save({"w": torch.zeros(4)}, p("oversized_view.pt"))
    patch_zip(p("oversized_view.pt"), "data.pkl", b"K\x04\x85", b"K\x40\x85")

    # --- output-shape fixtures.
    torch.manual_seed(2)
    save_script(ThreeDimOutput().eval(), p("out3d.pt"))
    save_script(TupleOutput().eval(), p("tuple_out.pt"))

    # --- a pickled arbitrary Python object: must be refused, never run.
    torch.save(argparse.Namespace(a=1), p("namespace.pt"))
    # A whole pickled nn.Module (a common mistake) under the usual key.
    torch.save({"epoch": 1, "model": TinyCnn()}, p("pickled_module.pt"))

    # --- resnet18: the realistic state-dict copy (122 tensors).
    torch.manual_seed(0)
    r18 = torchvision.models.resnet18(weights=None)
    randomize_bn(r18, 0)
    r18.eval()
    save_script(r18, p("resnet18_script.pt"))
    torch.save(r18.state_dict(), p("resnet18_sd.pt"))
    torch.manual_seed(1)
    save_script(torchvision.models.resnet18(weights=None).eval(), p("resnet18_arch.pt"))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(43))
    with torch.no_grad():
        y = r18(x)
    torch.jit.save(torch.jit.script(Container({"input": x, "output": y})), p("resnet18_io.pt"))

    print(f"make_fixtures.py: wrote {len(os.listdir(out))} files to {out} in "
          f"{time.monotonic() - start:.1f} s (torch {torch.__version__})")


if __name__ == "__main__":
    main()
