"""The names a run's settings choose between, written once: the settings check them, and the
modules that act on them (:mod:`stylemotion.animation.fx`, :mod:`stylemotion.video.flow`, the
frame loops) read them from here. A leaf: it imports nothing."""

MODES = ("zoom", "drift", "video")  # run.mode
VIDEO_INITS = ("warped", "content")  # video.init: each frame from the last one carried by the flow, or on its own
FLOW_METHODS = ("dis", "farneback")  # dis: fast and accurate; farneback: the fallback
FLOW_QUALITIES = ("ultrafast", "fast", "medium")  # DIS presets (medium: ~10 ms at 256 px on a CPU core)
RUN_COHERENCE = ("none", "meanstd", "histogram")  # run.color_coherence: hold frame 0's colours
COHERENCE_SPACES = ("rgb", "lab", "hsv")  # fx.color_coherence (besides none)
NOISE_TYPES = ("uniform", "perlin")
BORDERS = ("reflect", "replicate")  # how a warp fills the edges
