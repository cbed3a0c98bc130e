#!/usr/bin/env bash
# The full quality tier of docs/quality.md: experiment=kaggle_tutorial against experiment=monet,
# 256x256, 7,500 iterations each (25 epochs of the 300 Monets), scored like the quick tier
# (benchmarks/quality.py), with MiFID on 500 photos every 5 epochs logged for the
# iterations-to-target comparison (val/mifid, stored in each row's result.json as "curve").
#
#   benchmarks/full_tier.sh gpu        # on a GPU machine (bf16-mixed)
#   benchmarks/full_tier.sh cpu        # on a CPU with AMX, nothing else heavy running
#   SEED=1 EXTRA="trainer.max_steps=8" benchmarks/full_tier.sh cpu   # a smoke test of the script
set -euo pipefail
cd "$(dirname "$0")/.."
ACCELERATOR=${1:-auto}
SEED=${SEED:-0}
PYTHON=${PYTHON:-python}
read -r -a EXTRA <<< "${EXTRA:-}"
for recipe in kaggle_tutorial monet; do
  "$PYTHON" benchmarks/quality.py run "full_${recipe}_s${SEED}" --sheet -- \
    "experiment=${recipe}" "accelerator=${ACCELERATOR}" "seed=${SEED}" \
    callbacks=mifid callbacks.mifid.every_n_epochs=5 callbacks.mifid.num_photos=500 "${EXTRA[@]}"
done
"$PYTHON" benchmarks/quality.py table baseline_photos baseline_reinhard \
  "full_kaggle_tutorial_s${SEED}" "full_monet_s${SEED}"
