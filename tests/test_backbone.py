import pytest
import torch

from stylemotion.engine.backbone import (
    VGG16_HED_FILE,
    autocast_dtype,
    conv_flops,
    convert_torchvision_state,
    layer_names,
    load_backbone,
    torchvision_vgg_keys,
)
from stylemotion.errors import UserError


def test_bundled_weights_ship_in_package():
    assert VGG16_HED_FILE.is_file()
    assert 25e6 < VGG16_HED_FILE.stat().st_size < 35e6


def test_layer_names_vgg16():
    names = layer_names("vgg16")
    assert names[:3] == ["conv1_1", "relu1_1", "conv1_2"]
    assert "relu4_2" in names and "relu5_3" in names and "relu5_4" not in names
    assert len([n for n in names if n.startswith("conv")]) == 13


def test_features_shapes_and_no_weight_grads(backbone):
    x = torch.rand(1, 3, 64, 48, requires_grad=True)
    feats = backbone(x, ["relu1_1", "relu4_2"])
    assert feats["relu1_1"].shape == (1, 64, 64, 48)
    assert feats["relu4_2"].shape == (1, 512, 8, 6)
    feats["relu4_2"].sum().backward()
    assert x.grad is not None
    assert all(p.grad is None and not p.requires_grad for p in backbone.parameters())


def test_runs_only_up_to_deepest_layer(backbone, monkeypatch):
    called = []
    for name, conv in backbone.convs.items():
        conv.register_forward_hook(lambda m, i, o, name=name: called.append(name))
    try:
        backbone(torch.rand(1, 3, 32, 32), ["relu2_1"])
    finally:
        for conv in backbone.convs.values():
            conv._forward_hooks.clear()
    assert called == ["conv1_1", "conv1_2", "conv2_1"]


def test_weights_are_imagenet_features_not_random(backbone, cat64):
    # Real filters respond sparsely: many relu5_1 units are zero for a natural photo
    f = backbone(cat64, ["relu5_1"])["relu5_1"]
    assert 0.3 < (f == 0).float().mean().item() < 0.99
    # and conv1_1 of Caffe VGG16 has the well-known mean-free color/edge filters
    w = backbone.convs["conv1_1"].weight
    assert w.shape == (64, 3, 3, 3) and w.abs().mean() > 0.05


def test_unknown_layer_is_user_error(backbone):
    with pytest.raises(UserError, match="relu9_9.*valid: conv1_1"):
        backbone(torch.rand(1, 3, 32, 32), ["relu9_9"])


def test_bad_shape_message(backbone):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\), got \(3, 32, 32\)"):
        backbone(torch.rand(3, 32, 32), ["relu1_1"])


def test_torchvision_key_mapping_with_synthetic_state(tmp_path):
    keys = torchvision_vgg_keys("vgg19")
    assert keys["features.0.weight"] == "conv1_1.weight"
    assert keys["features.2.weight"] == "conv1_2.weight"
    assert keys["features.5.weight"] == "conv2_1.weight"  # after pool at 4
    assert keys["features.34.weight"] == "conv5_4.weight"
    # a synthetic torchvision-style state dict (with a classifier) loads and maps every conv
    state = {}
    cin = 3
    for theirs, ours in keys.items():  # in forward order: weight, bias per conv
        cout = (64, 128, 256, 512, 512)[int(ours[4]) - 1]
        if ours.endswith("weight"):
            state[theirs] = torch.full((cout, cin, 3, 3), float(len(state)))
        else:
            state[theirs] = torch.zeros(cout)
            cin = cout
    state["classifier.0.weight"] = torch.zeros(4096, 25088)
    torch.save(state, tmp_path / "vgg19.pth")
    model = load_backbone("vgg19", "max", tmp_path / "vgg19.pth")
    converted = convert_torchvision_state(state)
    assert set(converted) == {f"{n}.{p}" for n in model.convs for p in ("weight", "bias")}
    assert torch.equal(model.convs["conv3_2"].weight, state["features.12.weight"])


def test_vgg19_offline_error_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(UserError, match="vgg19-dcbb9e9d.pth"):
        load_backbone("vgg19")


def test_wrong_weights_file_is_user_error(tmp_path):
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="x.pth"):
        load_backbone("vgg19", weights=bad)


def test_conv_flops_counts_layers(backbone):
    # conv1_1 only: 2 * 3 * 64 * 9 * H * W
    assert conv_flops(backbone, 10, 10, "relu1_1") == 2 * 3 * 64 * 9 * 100


def test_first_conv_pads_by_replication(backbone):
    """A flat image gives flat conv1_1 responses up to the border: no zero-padding edge to fight."""
    flat = torch.full((1, 3, 24, 24), 0.3)
    f = backbone(flat, ["conv1_1"])["conv1_1"]
    assert torch.allclose(f, f[..., 12:13, 12:13].expand_as(f), atol=1e-4)
    deeper = backbone(flat, ["conv1_2"])["conv1_2"]  # later layers keep VGG's zero padding
    assert not torch.allclose(deeper[..., 0, 0], deeper[..., 12, 12], atol=1e-3)


def test_pooling_floors_odd_maps_and_tiny_inputs_still_reach_relu5_1():
    from stylemotion.engine.backbone import pool

    h = torch.rand(1, 4, 9, 7)
    assert pool(h, "avg").shape[-2:] == (4, 3)
    assert pool(h, "max").shape[-2:] == (4, 3)
    assert pool(torch.rand(1, 4, 1, 5), "avg").shape[-2:] == (1, 3)  # ceil only where floor leaves nothing
    bb = load_backbone("vgg16-hed", "avg")
    assert bb(torch.rand(1, 3, 8, 8), ["relu5_1"])["relu5_1"].shape[-2:] == (1, 1)


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_one_extra_pixel_row_and_column_barely_move_the_deep_gram(pooling):
    """Regression: ceil-mode pooling turned an odd edge into an artifact row of relu5_1 cells that
    moved the Gram by 150% (avg) and dominated the style target; floor mode moves it by ~2%."""
    from stylemotion.engine.losses import gram

    from tests.conftest import sample

    bb = load_backbone("vgg16-hed", pooling)
    img = sample("woman-with-hat-matisse.jpg", 100)[..., :97, :65]  # 96 + 1 rows, 64 + 1 columns
    even = img[..., :96, :64]
    a = gram(bb(img, ["relu5_1"])["relu5_1"])
    b = gram(bb(even, ["relu5_1"])["relu5_1"])
    assert ((a - b).norm() / b.norm()).item() < 0.1


def test_precision_is_checked_and_auto_follows_the_cpu(backbone, cat64, monkeypatch):
    import stylemotion.engine.backbone as bbmod

    with pytest.raises(UserError, match="precision 'fp16' is not one of auto, bf16, fp32"):
        load_backbone(precision="fp16")
    assert backbone.precision == "auto"
    try:
        backbone.precision = "fp32"
        fp32 = backbone(cat64, ["relu3_1"])["relu3_1"]
        backbone.precision = "bf16"  # an explicit request runs bf16 autocast on any CPU
        bf16 = backbone(cat64, ["relu3_1"])["relu3_1"]
        backbone.precision = "auto"
        # auto = bf16 exactly where the CPU computes it natively, fp32 on an AVX2-only CPU
        monkeypatch.setattr(bbmod, "cpu_has_native_bf16", lambda: True)
        auto_native = backbone(cat64, ["relu3_1"])["relu3_1"]
        assert bbmod.precision_name("cpu", "auto") == "bf16"
        monkeypatch.setattr(bbmod, "cpu_has_native_bf16", lambda: False)
        auto_avx2 = backbone(cat64, ["relu3_1"])["relu3_1"]
        assert bbmod.precision_name("cpu", "auto") == "fp32"
    finally:
        backbone.precision = "auto"
    assert fp32.dtype == auto_avx2.dtype == torch.float32 and torch.equal(auto_avx2, fp32)
    assert bf16.dtype == auto_native.dtype == torch.bfloat16 and torch.equal(auto_native, bf16)
    # bf16 keeps about 3 significant digits: close to fp32, not equal
    rel = ((bf16.float() - fp32).norm() / fp32.norm()).item()
    assert 0 < rel < 0.05, rel
    assert autocast_dtype("cuda", "auto") == torch.bfloat16 and autocast_dtype("cuda", "fp32") is None
    assert autocast_dtype("mps", "bf16") is None  # MPS stays float32


def test_cpu_bf16_detection_matches_the_cpu_flags():
    from pathlib import Path

    import stylemotion.engine.backbone as bbmod

    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").is_file() else None
    if flags is None:
        pytest.skip("no /proc/cpuinfo to compare with")
    assert bbmod.cpu_has_native_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_check_precision_warns_where_bf16_is_emulated_and_refuses_where_impossible(monkeypatch):
    import stylemotion.engine.backbone as bbmod

    cpu = torch.device("cpu")
    monkeypatch.setattr(bbmod, "cpu_has_native_bf16", lambda: False)
    warning = bbmod.check_precision(cpu, "bf16")
    assert warning.startswith("warning: ") and "emulated" in warning and "\n" not in warning
    assert bbmod.check_precision(cpu, "auto") == "" and bbmod.check_precision(cpu, "fp32") == ""
    monkeypatch.setattr(bbmod, "cpu_has_native_bf16", lambda: True)
    assert bbmod.check_precision(cpu, "bf16") == "" and bbmod.check_precision(cpu, "auto") == ""
    # a torch that cannot run a bf16 convolution here: one line, before any work
    monkeypatch.setattr(bbmod, "_BF16_WORKS", {})
    monkeypatch.setattr(bbmod.F, "conv2d", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no bf16 kernel")))
    with pytest.raises(UserError, match="cannot compute bf16 convolutions on cpu; use --precision fp32"):
        bbmod.check_precision(cpu, "bf16")
    assert bbmod.check_precision(cpu, "fp32") == ""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_precision_picks_the_arithmetic(cat64):
    bb = load_backbone(device="cuda")
    x = cat64.cuda()
    assert bb(x, ["relu3_1"])["relu3_1"].dtype == torch.bfloat16
    bb.precision = "fp32"
    assert bb(x, ["relu3_1"])["relu3_1"].dtype == torch.float32
