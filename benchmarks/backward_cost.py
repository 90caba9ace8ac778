"""What one engine iteration asks of the network: forward, the input's gradient, and what it avoids.

    python benchmarks/backward_cost.py                  # 256 px, fp32 and bf16 (where the CPU has it)
    python benchmarks/backward_cost.py --size 384 --precision fp32

Rows, each the median of ``--calls`` calls after a warm-up:

* forward to relu5_1 (no gradient);
* forward + the input's gradient: what the engine computes (the backbone's weights never
  require gradients);
* forward + input and weight gradients: what a backward through trainable weights would cost;
* forward + input gradient, stopping at relu4_2: a run whose deepest term is the content layer.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stylemotion.engine.backbone import cpu_has_native_bf16, load_backbone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--precision", nargs="+", default=None, choices=["fp32", "bf16"])
    args = ap.parse_args()
    precisions = args.precision or (["fp32", "bf16"] if cpu_has_native_bf16() else ["fp32"])
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    print(f"{args.size}x{args.size}, {torch.get_num_threads()} threads, median of {args.calls} calls")
    for prec in precisions:
        bb = load_backbone(precision=prec)

        def grad(layer: str, weights: bool = False) -> None:
            xi = x.clone().requires_grad_(True)
            bb.requires_grad_(weights)
            try:
                out = bb(xi, [layer])[layer].float().sum()
                torch.autograd.grad(out, [xi, *bb.parameters()] if weights else [xi], allow_unused=True)  # conv5_2.. unused
            finally:
                bb.requires_grad_(False)

        def forward() -> None:
            with torch.no_grad():
                bb(x, ["relu5_1"])

        rows = {"forward to relu5_1": forward,
                "forward + input gradient (the engine)": lambda: grad("relu5_1"),
                "forward + input and weight gradients": lambda: grad("relu5_1", True),
                "forward + input gradient, to relu4_2": lambda: grad("relu4_2")}
        for label, fn in rows.items():
            fn()
            times = []
            for _ in range(args.calls):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            print(f"  {prec}  {label:40s} {statistics.median(times) * 1e3:7.0f} ms")


if __name__ == "__main__":
    main()
