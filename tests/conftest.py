"""Shared fixtures: the real bundled backbone, tiny images from samples/."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def backbone():
    from stylemotion.engine.backbone import load_backbone

    return load_backbone("vgg16-hed", "max")


def sample(name: str, size: int) -> torch.Tensor:
    from stylemotion.io.images import load_image, resize_long_side, to_tensor

    return to_tensor(resize_long_side(load_image(SAMPLES / name), size))


@pytest.fixture(scope="session")
def cat64() -> torch.Tensor:
    return sample("chelsea.png", 64)


@pytest.fixture(scope="session")
def starry96() -> torch.Tensor:
    return sample("starry_night.jpg", 96)


@pytest.fixture(scope="session")
def scream96() -> torch.Tensor:
    return sample("the_scream.jpg", 96)
