#!/usr/bin/env bash
# One-shot GPU check: training (G step + D step) and inference speed of the U-Net and ResNet-9
# CycleGANs at batch 1, 8 and 32 in bf16 on one CUDA GPU, printed as one table (under 5 minutes
# on a recent GPU).
#
#   bash benchmarks/gpu_check.sh            # on a machine with a CUDA GPU
#   bash benchmarks/gpu_check.sh --dry-run  # the same code path on the CPU at tiny sizes
#
# PYTHON selects the interpreter (default: .venv/bin/python if present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

if [[ "${1:-}" == "--dry-run" ]]; then
  args=(--accelerator cpu --dry-run)
else
  if ! "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_check: no CUDA GPU visible to $PYTHON (use --dry-run to check the code path)" >&2
    exit 1
  fi
  "$PYTHON" -c "import torch; p = torch.cuda.get_device_properties(0); \
print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}')"
  args=(--accelerator gpu --warmup 3 --iters 10)
fi

start=$SECONDS
"$PYTHON" benchmarks/train_step.py "${args[@]}" \
  --tasks train infer --batches 1 8 32 --models unet resnet --modes default
echo "gpu_check: done in $((SECONDS - start)) s"
