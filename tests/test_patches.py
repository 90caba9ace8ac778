import pytest
import torch

from stylemotion.engine import losses
from stylemotion.engine.color import color_stats
from stylemotion.errors import UserError
from stylemotion.engine.optimize import OptimConfig, StyleConfig, StyleEngine
from stylemotion.stills.patches import REMIX, REMIX_STYLE, PatchConfig, PatchRenderer, blurred_start, crop_relative, feather_mask, overlaps

from .conftest import sample

OPT = OptimConfig(iterations=4, tol=0, pyramid_min=0)


def test_feather_mask_shape_and_ramp():
    m = feather_mask(20, 30, 5)
    assert m.shape == (1, 1, 20, 30)
    assert m[0, 0, 0, 0] < 0.02 and m[0, 0, 10, 15] == 1
    assert torch.allclose(m, m.flip(-1)) and torch.allclose(m, m.flip(-2))
    assert (m[0, 0, 10, :6].diff() >= 0).all()  # monotone ramp
    assert torch.equal(feather_mask(4, 4, 0), torch.ones(1, 1, 4, 4))
    # no ramp on sides that lie on the canvas border
    edge = feather_mask(20, 30, 5, sides=(False, True, False, True))
    assert edge[0, 0, 0, 0] == 1 and edge[0, 0, -1, -1] < 0.02


def test_crop_relative_takes_the_same_region():
    img = torch.zeros(1, 3, 100, 200)
    img[..., 50:, 100:] = 1  # bottom-right quarter
    assert crop_relative(img, 0.5, 0.5, 0.5, 0.5, (10, 10)).min() > 0.999
    assert crop_relative(img, 0.0, 0.0, 0.5, 0.5, (10, 10)).max() == 0


def run(engine, content, style, **kw):
    cfg = PatchConfig(**{"canvas": 160, "patch": 64, "steps": 10, "iterations": 3, "init": "content", **kw})
    r = PatchRenderer(engine, content, style, cfg, OPT)
    seen = []
    real = engine.optimize

    r.batch_sizes = []  # images per optimize call

    def spy(init, *a, **k):
        seen.append(tuple(init.shape[-2:]))
        r.batch_sizes.append(init.shape[0])
        return real(init, *a, **k)

    engine.optimize = spy
    try:
        steps = list(r.steps())
    finally:
        del engine.optimize
    return r, steps, seen


def test_memory_bounded_by_patch_and_multiscale_regions(backbone, cat64):
    engine = StyleEngine(backbone)
    style = sample("starry_night.jpg", 128)
    r, steps, seen = run(engine, cat64, style, scales=(1, 2), steps=12, canvas=200)
    assert r.canvas.shape[-1] == 200  # canvas larger than the content photo (64 px)
    assert max(max(s) for s in seen) <= 64  # the network only ever sees patch-sized images
    sizes = {st.box[2] for st in steps}
    assert {64, 128} <= sizes  # both scales were drawn
    assert 0 <= r.canvas.min() and r.canvas.max() <= 1


def test_canvas_borders_are_optimized_too(backbone):
    engine = StyleEngine(backbone, StyleConfig(content_weight=0.0))
    style = sample("coffee.png", 96)
    r, _, _ = run(engine, None, style, style_mode="localized", init="noise", canvas=128, patch=64, steps=12, iterations=3)
    noise = PatchRenderer(engine, None, style, PatchConfig(canvas=128, patch=64, steps=1, init="noise"), OPT).canvas
    changed = (r.canvas - noise).abs().mean(1)[0]  # (H, W)
    # (a feathered edge on the canvas border left the border rows at < 1% of the mean change;
    # zero padding still makes borders move less than the middle)
    assert changed[0].mean() > 0.1 * changed.mean() and changed[:, 0].mean() > 0.1 * changed.mean()


def edge_vs_nearby_gradient(canvas, boxes):
    """Mean |horizontal difference| across the boxes' left/right edges, and 2-4 px beside them."""
    g = (canvas[..., :, 1:] - canvas[..., :, :-1]).abs().mean(1)[0]  # (H, W-1): g[:, c] is between c and c+1
    w = g.shape[1]
    edge, near = [], []
    for top, left, ph, pw in boxes:
        for col in (left - 1, left + pw - 1):
            cols = [col + d for d in (-4, -3, -2, 2, 3, 4)]
            if 0 <= col < w and all(0 <= c < w for c in cols):
                edge.append(g[top:top + ph, col].mean())
                near.append(g[top:top + ph, cols].mean())
    return torch.stack(edge).mean().item(), torch.stack(near).mean().item()


def test_feathered_patches_leave_no_seams(backbone):
    engine = StyleEngine(backbone, StyleConfig(style_weight=10.0))
    content = torch.full((1, 3, 96, 96), 0.5)  # flat: any seam would stand out
    style = sample("the_scream.jpg", 128)
    soft, steps, _ = run(engine, content, style, steps=10, iterations=8, feather=0.25)
    edge, near = edge_vs_nearby_gradient(soft.canvas, [s.box for s in steps])
    assert edge <= 1.1 * near, (edge, near)  # across a patch border is no sharper than beside it
    hard, steps_h, _ = run(engine, content, style, steps=10, iterations=8, feather=0.0)
    edge_h, near_h = edge_vs_nearby_gradient(hard.canvas, [s.box for s in steps_h])
    assert edge_h / near_h > edge / near, (edge_h, near_h, edge, near)  # a hard paste scores worse


def test_localized_style_differs_by_region_global_does_not(backbone):
    left = sample("starry_night.jpg", 128)[..., :64, :64]  # blue
    right = sample("shipwreck.jpg", 128)[..., :64, :64]  # brown
    style = torch.cat([left, right], dim=-1)  # (1, 3, 64, 128)
    engine = StyleEngine(backbone, StyleConfig(content_weight=0.0))
    stats = {}
    for mode in ("localized", "global"):
        r, _, _ = run(engine, None, style, style_mode=mode, init="noise", canvas=128, patch=64, steps=16, iterations=6)
        c = r.canvas
        half = c.shape[-1] // 2
        lg = engine.style_grams(c[..., :half])["relu1_1"]
        rg = engine.style_grams(c[..., half:])["relu1_1"]
        stats[mode] = losses.relative_mse(lg, rg).item()
        if mode == "localized":
            sl, sr = engine.style_grams(left)["relu1_1"], engine.style_grams(right)["relu1_1"]
            # each half of the output is closer to its own half of the style
            assert losses.relative_mse(lg, sl) < losses.relative_mse(lg, sr)
            assert losses.relative_mse(rg, sr) < losses.relative_mse(rg, sl)
    assert stats["localized"] > 3 * stats["global"], stats


def test_stylized_init_starts_from_a_whole_image_stylization(backbone, cat64):
    engine = StyleEngine(backbone)
    style = sample("starry_night.jpg", 96)
    cfg = PatchConfig(canvas=128, patch=64, steps=1, base=64)
    r = PatchRenderer(engine, cat64, style, cfg, OptimConfig(iterations=15, tol=0, pyramid_min=0))
    plain = PatchRenderer(engine, cat64, style, PatchConfig(canvas=128, patch=64, steps=1, init="content"), OPT)
    target = engine.style_targets([style], None, (64, 43))

    def dist(canvas):
        small = torch.nn.functional.interpolate(canvas, size=(43, 64), mode="bilinear", antialias=True)
        ours = engine.style_targets([small], None, (43, 64))
        return sum(losses.relative_mse(ours[k], target[k]).item() for k in ours)

    assert r.canvas.shape[-1] == 128
    assert dist(r.canvas) < 0.7 * dist(plain.canvas)  # large-scale style is there before any patch


def test_palette_recolours_the_content_once_for_every_patch(backbone, cat64):
    engine = StyleEngine(backbone)
    style = sample("the_scream.jpg", 96)
    cfg = PatchConfig(canvas=128, patch=64, steps=1, init="content")
    own = PatchRenderer(engine, cat64, style, cfg, OptimConfig(iterations=1, palette=0.0))
    full = PatchRenderer(engine, cat64, style, cfg, OptimConfig(iterations=1, palette=1.0))
    mean_gap = lambda x: float((color_stats(x)[0] - color_stats(style)[0]).abs().sum())  # noqa: E731
    assert torch.equal(own.content, cat64)
    assert mean_gap(full.content) < 0.05 < mean_gap(cat64)  # the patches' content targets see the new palette
    assert mean_gap(full.canvas) < 0.05  # and the canvas starts from it
    assert full.optim.palette == 0.0  # not applied a second time by the base stylization
    with pytest.raises(UserError, match="scales must be integers"):
        PatchConfig(scales=(0,)).check()
    with pytest.raises(UserError, match="canvas must be in"):
        PatchConfig(canvas=100, patch=256).check()
    with pytest.raises(UserError, match="style mode 'local'"):
        PatchConfig(style_mode="local").check()


def test_blurred_start_keeps_only_the_colour_layout():
    photo = sample("chelsea.png", 128)
    hw = tuple(photo.shape[-2:])
    x = blurred_start(photo, hw, cell=32.0, gen=torch.Generator().manual_seed(0))
    assert x.shape == photo.shape and 0 <= x.min() and x.max() <= 1
    shrink = lambda im: torch.nn.functional.interpolate(im, size=(2, 4), mode="area")  # noqa: E731
    assert (shrink(x) - shrink(photo)).abs().max() < 0.08  # where the colours are: kept
    def detail(im):  # what a 5 px box blur removes
        return (im - torch.nn.functional.avg_pool2d(im, 5, stride=1, padding=2, count_include_pad=False)).flatten()

    assert torch.corrcoef(torch.stack([detail(x), detail(photo)]))[0, 1].abs() < 0.1  # the photo's detail: not
    assert torch.equal(x, blurred_start(photo, hw, 32.0, torch.Generator().manual_seed(0)))
    with pytest.raises(UserError, match="blur must be in"):
        PatchConfig(blur=0).check()
    with pytest.raises(UserError, match="init 'grey' is not one of"):
        PatchConfig(init="grey").check()


def test_remix_defaults_recombine_the_photo_region_by_region(backbone):
    """The remix's defaults on a tiny canvas: each half keeps its own half's colours, and the
    whole is far closer in style to its photo than the unrelated painting is."""
    REMIX.check()
    left, right = sample("starry_night.jpg", 128)[..., :64, :64], sample("shipwreck.jpg", 128)[..., :64, :64]
    photo = torch.cat([left, right], dim=-1)
    engine = StyleEngine(backbone, REMIX_STYLE)
    cfg = PatchConfig(**{**REMIX.__dict__, "canvas": 128, "patch": 32, "iterations": 5, "passes": 1})
    r = PatchRenderer(engine, None, photo, cfg, OPT)
    for _ in r.steps():
        pass
    c = r.canvas
    mean = lambda im: color_stats(im)[0]  # noqa: E731
    assert (mean(c[..., :64]) - mean(left)).abs().max() < 0.08
    assert (mean(c[..., 64:]) - mean(right)).abs().max() < 0.08
    gram = StyleEngine(backbone, StyleConfig(content_weight=0.0))  # measured with Gram matrices
    ours = gram.style_grams(c)
    target = gram.style_grams(photo)
    other = gram.style_grams(sample("the_scream.jpg", 128)[..., :64, :128])
    dist = lambda g: sum(losses.relative_mse(g[k], target[k]).item() for k in g)  # noqa: E731
    assert dist(ours) < 0.3 * dist(other)
    # final_colors: the whole canvas ends with the photo's colour means and spreads
    assert (mean(c) - mean(photo)).abs().max() < 0.02
    ratio = c.std((0, 2, 3)) / photo.std((0, 2, 3))
    assert ((ratio > 0.75) & (ratio < 1.25)).all(), ratio


def test_batched_patches_never_overlap_and_cover_the_same_steps(backbone, cat64):
    engine = StyleEngine(backbone)
    style = sample("starry_night.jpg", 128)
    r, steps, seen = run(engine, cat64, style, scales=(1, 2), steps=12, canvas=256, batch=3)
    assert [s.step for s in steps] == list(range(1, 13))  # every patch is still one step
    assert max(max(s) for s in seen) <= 64  # each batch item is patch-sized
    assert len(seen) < 12  # some patches went through together
    # the patches of one optimize call are one batch: consecutive steps of one scale, disjoint boxes
    k = 0
    batches = []
    for n in r.batch_sizes:
        batches.append(steps[k:k + n])
        k += n
    assert k == 12 and max(len(b) for b in batches) > 1
    for b in batches:
        assert len({s.scale for s in b}) == 1
        for i, a in enumerate(b):
            for c in b[i + 1:]:
                assert not overlaps(a.box, c.box), (a.box, c.box)
    assert 0 <= r.canvas.min() and r.canvas.max() <= 1


def test_a_batch_of_patches_stylizes_like_one_at_a_time(backbone, cat64):
    engine = StyleEngine(backbone, StyleConfig(style_weight=10.0))
    style = sample("the_scream.jpg", 128)
    kw = dict(canvas=192, steps=6, iterations=6, scales=(1,))
    one, _, _ = run(engine, cat64, style, **kw)
    three, _, _ = run(engine, cat64, style, batch=3, **kw)
    start = PatchRenderer(engine, cat64, style, PatchConfig(canvas=192, patch=64, steps=1, init="content"), OPT).canvas
    target = engine.style_grams(style)

    def style_dist(x):
        g = engine.style_grams(x)
        return sum(float(losses.relative_mse(g[k], target[k])) for k in g)

    d0, d1, d3 = style_dist(start), style_dist(one.canvas), style_dist(three.canvas)
    assert d1 < 0.9 * d0 and d3 < 0.9 * d0, (d0, d1, d3)  # both moved toward the painting
    assert abs(d3 - d1) < 0.25 * (d0 - d1), (d0, d1, d3)  # and about as far


def test_patch_batch_is_checked():
    with pytest.raises(UserError, match="batch"):
        PatchConfig(batch=0).check()
