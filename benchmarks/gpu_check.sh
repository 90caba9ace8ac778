#!/usr/bin/env bash
# The GPU checks in one script, sized for a short loan of a CUDA machine (about 10 minutes on one
# H200 with the install). Run from the repository root:  bash benchmarks/gpu_check.sh
# Figures go to stdout and to $OUT/gpu_check.txt when $OUT is set.
set -uo pipefail
log="${OUT:-/tmp}/gpu_check.txt"
exec > >(tee "$log") 2>&1
python -c "import torch; assert torch.cuda.is_available()" 2>/dev/null || {
  python -m pip install -q torch==2.14.1 torchvision==0.29.1 && python -m pip install -q -e ".[test]" h5py; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
echo "== CUDA-only tests (no host sync between two reads; precision)"
timeout 120 python -m pytest -q tests/test_optimize.py tests/test_backbone.py -k "cuda" -p no:cacheprovider
echo "== engine speed: plain VGG, reference loop, engine; zoom per frame"
timeout 240 python benchmarks/engine_speed.py --device cuda --sizes 512 1024 --iters 10 --precision auto fp32 --zoom 512 1920x1080
echo "== time to a finished picture: the default image against neural-style-pt's 1000 iterations (200 timed)"
timeout 150 python benchmarks/time_to_quality.py --device cuda --sizes 512 --pairs summer_palace:starry_night --ref-iterations 200
echo "== hires patches one at a time against batches"
timeout 150 python benchmarks/patch_batch.py --device cuda --patches 256 512 --batches 1 4 --steps 8 --iterations 20
