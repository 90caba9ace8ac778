"""The one recipe for a run's engine: a cache its owner passes in, nothing in module globals."""

import pytest
import torch

from stylemotion.engine import factory
from stylemotion.animation.framestyle import run_engine
from stylemotion.engine.factory import BackboneSpec, EngineCache, build_engine, load_styles, style_long_side
from stylemotion.errors import UserError
from stylemotion.engine.optimize import StyleConfig
from stylemotion.settings.sections import Settings
from stylemotion.settings.playlist import Entry

from .conftest import SAMPLES


def test_the_cache_holds_one_network_per_kind_and_reads_each_painting_once():
    cache = EngineCache()
    a = cache.backbone(BackboneSpec(), "cpu")
    assert cache.backbone(BackboneSpec(), "cpu") is a
    assert cache.backbone(BackboneSpec(pooling="max"), "cpu") is not a
    styles = load_styles([SAMPLES / "starry_night.jpg", SAMPLES / "the_scream.jpg", SAMPLES / "starry_night.jpg"], 48, cache)
    assert styles[0] is styles[2] and max(styles[0].shape[-2:]) == 48  # kept at the size the run needs
    e1 = build_engine(BackboneSpec(), StyleConfig(), "cpu", cache)
    e2 = build_engine(BackboneSpec(), StyleConfig(style_weight=3.0), "cpu", cache)
    assert e1.backbone is e2.backbone is a  # engines differ in their loss, share the network
    assert EngineCache().backbone(BackboneSpec(), "cpu") is not a  # another owner, another cache


def test_shared_targets_are_computed_once_and_bounded():
    cache = EngineCache()
    calls = []
    for k in [1, 2, 1, 1]:
        cache.targets(k, lambda k=k: calls.append(k) or {"k": k})
    assert calls == [1, 2]
    for k in range(3, 3 + EngineCache.MAX_TARGETS):
        cache.targets(k, lambda k=k: {"k": k})
    cache.targets(1, lambda: calls.append("again") or {})  # the oldest kinds were dropped
    assert calls[-1] == "again"


def test_bad_layers_are_one_line_and_paintings_are_read_before_the_network(monkeypatch):
    with pytest.raises(UserError, match="unknown style layer 'relu9_9'"):
        build_engine(BackboneSpec(), StyleConfig(style_layers=("relu9_9",), style_layer_weights=(1.0,)), "cpu")
    s = Settings()
    s.playlist = [Entry(str(SAMPLES / "missing.jpg"), 10, 0)]

    def no_network(*a, **k):
        raise AssertionError("the network was loaded before the playlist was read")

    monkeypatch.setattr(factory, "load_backbone", no_network)
    with pytest.raises(UserError, match="missing.jpg"):
        run_engine(s, "cpu")


def test_style_long_side_follows_the_run():
    assert style_long_side(256, StyleConfig(style_scale=0.5)) == 128
    assert style_long_side(10, 0.1) == 8  # never below 8 px
    assert isinstance(torch.get_num_threads(), int)
