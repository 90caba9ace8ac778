"""stylemotion: videos and animations with optimization-based neural style transfer.

Tensor convention everywhere: images are ``(B, 3, H, W)`` float32 RGB in [0, 1]; affine
matrices are ``(B, 2, 3)`` in normalized coordinates (see :mod:`stylemotion.animation.warp`).
"""

__version__ = "0.1.0"
