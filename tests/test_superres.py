import pytest
import torch

from stylemotion.engine.color import color_stats, match_color, rgb_to_yiq
from stylemotion.errors import UserError
from stylemotion.engine.optimize import OptimConfig, StyleConfig, StyleEngine, Targets
from stylemotion.engine.measure import laplacian_energy
from stylemotion.engine.optimize import resize
from stylemotion.stills.superres import (
    CoarseLevelsTerm,
    ReconstructConfig,
    UpscaleConfig,
    consistency_loss,
    downsample,
    psnr,
    reconstruct,
    reconstruct_objective,
    upscale,
)
from stylemotion.engine.terms import TVL1Term

from .conftest import sample


def test_metrics():
    x = torch.rand(1, 3, 16, 16)
    assert psnr(x, x) > 100
    assert float(laplacian_energy(torch.full((1, 3, 8, 8), 0.3))) == 0
    assert float(laplacian_energy(x)) > 0.1
    assert consistency_loss(torch.full((1, 3, 8, 8), 0.5), torch.full((1, 3, 2, 2), 0.5)) < 1e-12


def test_upscale_keeps_downsample_and_adds_detail(backbone):
    full = sample("chelsea.png", 128)
    low = downsample(full, (full.shape[-2] // 4, full.shape[-1] // 4))  # 32 x 21
    out, bicubic = upscale(StyleEngine(backbone), low, full, UpscaleConfig(scale=4), OptimConfig(iterations=30, tol=0))
    assert out.shape[-2:] == (low.shape[-2] * 4, low.shape[-1] * 4)
    hw = tuple(low.shape[-2:])
    assert psnr(downsample(out, hw), low) > 32  # consistent with the input
    assert float(laplacian_energy(out)) > 1.3 * float(laplacian_energy(bicubic))  # more fine detail


def test_reconstruct_content_loss_falls(backbone, cat64):
    engine = StyleEngine(backbone)
    losses_seen = []
    res = reconstruct(engine, cat64, "relu4_1", OptimConfig(iterations=30, tol=0), lambda p: losses_seen.append(p.parts["content"]))
    assert res.image.shape == cat64.shape and res.restart == 0 and len(res.losses) == 1
    assert losses_seen[-1] < 0.5 * losses_seen[0]


def test_reconstruct_runs_coarse_to_fine_from_grey(backbone, cat64):
    """The pyramid starts small (layout first) and ends at the photo's size; no photo pixels in the init."""
    engine = StyleEngine(backbone)
    seen = []
    cfg = OptimConfig(iterations=3, tol=0, pyramid_min=24, pyramid_step=2**0.5, pyramid_iter_factor=1.0)
    out = reconstruct(engine, cat64, "relu4_1", cfg, lambda p: seen.append((p.level, tuple(p.image.shape[-2:])))).image
    assert out.shape == cat64.shape
    sizes = [hw for _, hw in sorted(set(seen))]
    assert sizes[0][1] <= 32 and sizes[-1] == (43, 64) and len(sizes) == 3
    assert [lvl for lvl, _ in seen].count(0) == 3  # pyramid_iter_factor 1: the same iterations per level


def test_reconstruct_restarts_keep_the_lowest_final_loss(backbone, cat64):
    """Run k starts from seed + k; the kept run is the one with the lowest final loss, and it is
    the very image that run alone gives (restarts only choose, they do not mix)."""
    engine = StyleEngine(backbone)
    optim = OptimConfig(iterations=4, tol=0, pyramid_min=0, seed=5)
    started = []
    res = reconstruct(engine, cat64, "relu4_1", optim, cfg=ReconstructConfig(restarts=3),
                      on_restart=lambda k, kept: started.append((k, kept)))
    assert len(res.losses) == 3
    # before run k: the best of runs 0..k-1 (ties keep the earlier one)
    assert started == [(1, 0), (2, 0 if res.losses[0] <= res.losses[1] else 1)]
    assert len(set(res.losses)) == 3  # different seeds, different runs
    assert res.restart == min(range(3), key=lambda k: res.losses[k]) and res.loss == min(res.losses)
    alone = reconstruct(engine, cat64, "relu4_1", OptimConfig(iterations=4, tol=0, pyramid_min=0, seed=5 + res.restart))
    assert torch.equal(alone.image, res.image) and alone.loss == res.loss
    with pytest.raises(UserError, match="reconstruct.restarts must be in \\[1, 64\\], got 0"):
        reconstruct(engine, cat64, "relu4_1", optim, cfg=ReconstructConfig(restarts=0))


def test_reconstruct_takes_the_photos_colours_unless_colors_free(backbone):
    """colors='photo' (the default) ends with the photo's luminance and chroma means and spreads;
    'free' keeps whatever the layer gave. Luminance moves by an affine map only, so the edges of
    the same run stay where they were."""
    engine = StyleEngine(backbone)
    photo = sample("the_scream.jpg", 64)  # strongly coloured: orange sky, blue water
    optim = OptimConfig(iterations=6, tol=0, pyramid_min=0)
    free = reconstruct(engine, photo, "relu4_1", optim, cfg=ReconstructConfig(colors="free")).image
    ours = reconstruct(engine, photo, "relu4_1", optim).image
    mean_gap = lambda x: float((color_stats(x)[0] - color_stats(photo)[0]).abs().max())  # noqa: E731
    assert mean_gap(ours) < 0.02 < mean_gap(free)
    assert torch.equal(ours, match_color(free, photo, "yiq"))  # one colour map of the same run, nothing else
    y = lambda x: rgb_to_yiq(x)[:, 0].flatten()  # noqa: E731
    assert torch.corrcoef(torch.stack([y(ours), y(free)]))[0, 1] > 0.97  # up to clamping to [0, 1]
    with pytest.raises(UserError, match="reconstruct.colors 'grey' is not one of photo, free"):
        ReconstructConfig(colors="grey").check()


def test_coarse_levels_term_is_zero_at_the_photo_and_pulls_toward_it(backbone, cat64):
    """The term compares the layer at coarser sizes of x with the photo's at those sizes: zero for
    the photo itself, positive for noise, and its gradient moves noise toward the photo."""
    sizes = [(22, 32), (32, 48)]
    targets = [backbone(resize(cat64, s), ("relu4_1",))["relu4_1"] for s in sizes]
    term = CoarseLevelsTerm(backbone, "relu4_1", sizes, targets)
    assert float(term(cat64, {})) < 1e-6
    x = torch.rand(cat64.shape, generator=torch.Generator().manual_seed(0)).requires_grad_()
    loss = term(x, {})
    assert float(loss.detach()) > 0.1
    (g,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        assert float(term(x - 0.5 * g / g.abs().max() * 0.02, {})) < float(loss.detach())
    assert len(list(term.parameters())) == 0  # the backbone is the objective's, not the term's
    with pytest.raises(ValueError, match="one target per size"):
        CoarseLevelsTerm(backbone, "relu4_1", sizes, targets[:1])


def test_reconstruct_levels_hold_the_coarser_levels_targets(backbone, cat64):
    """With coarse_levels=N each level after the first also scores the N coarser levels' targets
    (a 'coarse' part), and the result is closer to the photo's activations at those sizes than a
    run with coarse_levels=0 from the same seed."""
    engine = StyleEngine(backbone)
    optim = OptimConfig(iterations=8, tol=0, pyramid_min=24, pyramid_step=2**0.5, pyramid_iter_factor=1.0)
    parts: dict[int, set] = {}
    held = reconstruct(engine, cat64, "relu4_1", optim, lambda p: parts.setdefault(p.level, set()).update(p.parts),
                       cfg=ReconstructConfig(coarse_levels=2, colors="free")).image
    assert "coarse" not in parts[0] and all("coarse" in parts[k] for k in (1, 2))
    alone_parts: set = set()
    alone = reconstruct(engine, cat64, "relu4_1", optim, lambda p: alone_parts.update(p.parts),
                        cfg=ReconstructConfig(coarse_levels=0, colors="free")).image
    assert "coarse" not in alone_parts
    sizes = [(22, 32), (32, 48)]  # the two levels below 43 x 64
    targets = [backbone(resize(cat64, s), ("relu4_1",))["relu4_1"] for s in sizes]
    term = CoarseLevelsTerm(backbone, "relu4_1", sizes, targets)
    with torch.no_grad():
        assert float(term(held, {})) < 0.9 * float(term(alone, {}))
    with pytest.raises(UserError, match="reconstruct.coarse_levels must be in \\[0, 8\\], got 9"):
        ReconstructConfig(coarse_levels=9).check()


def test_reconstruct_objective_matches_the_layer_alone_plus_the_l1_tv(backbone, cat64):
    """The objective reconstruct minimizes: the layer's activations (zero at the photo itself) and
    an L1 TV of weight tv_weight / 20; no prior at TV 0; an unknown layer is a UserError."""
    eng, prior = reconstruct_objective(StyleEngine(backbone, StyleConfig(tv_weight=40.0)), "relu4_1")
    assert eng.style.content_layers == ("relu4_1",) and eng.style.style_layers == () and eng.style.tv_weight == 0
    assert [type(t) for t in prior] == [TVL1Term] and float(prior[0].weight) == 2.0
    optim = OptimConfig(iterations=3, tol=0, pyramid_min=0)
    targets = Targets(eng.content_targets(cat64), {})
    res = eng.optimize(cat64.clone(), targets, optim, 3, extra=prior)
    assert res.loss > 0  # the photo pays the TV
    bare = eng.optimize(cat64.clone(), targets, optim, 3)
    assert bare.loss < 1e-6 and torch.equal(bare.image, cat64)  # and nothing for the layer
    _, none = reconstruct_objective(StyleEngine(backbone, StyleConfig(tv_weight=0.0)), "relu4_1")
    assert none == []
    with pytest.raises(UserError, match="relu9_9"):
        reconstruct_objective(StyleEngine(backbone), "relu9_9")
