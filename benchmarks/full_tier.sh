#!/usr/bin/env bash
# The full quality tier of docs/quality.md: experiment=kaggle_tutorial against experiment=monet,
# 256x256, 7,500 iterations each (25 epochs of the 300 Monets), scored like the quick tier
# (benchmarks/quality.py), with MiFID on 500 photos every 5 epochs logged for the
# iterations-to-target comparison (val/mifid, stored in each row's result.json as "curve").
#
#   benchmarks/full_tier.sh gpu        # on a GPU machine (bf16-mixed)
#   benchmarks/full_tier.sh cpu        # on a CPU with AMX, nothing else heavy running
#   RECIPES=kaggle_tutorial benchmarks/full_tier.sh cpu   # one recipe: on a 2-core AMX CPU
#                                      # each takes 2 h 10 to 2 h 20 min, the pair more than a session
#   SEED=99 EXTRA="trainer.max_steps=8" benchmarks/full_tier.sh cpu  # a smoke test of the script
#                                      # (then remove docs/quality/full_*_s99)
#   REPLACE=1 benchmarks/full_tier.sh gpu   # re-run recorded rows (without it they are refused)
set -euo pipefail
cd "$(dirname "$0")/.."
ACCELERATOR=${1:-auto}
SEED=${SEED:-0}
PYTHON=${PYTHON:-python}
read -r -a EXTRA <<< "${EXTRA:-}"
read -r -a RECIPE_LIST <<< "${RECIPES:-kaggle_tutorial monet}"
for recipe in "${RECIPE_LIST[@]}"; do
  case "$recipe" in
    kaggle_tutorial | monet) ;;
    *) echo "full_tier.sh: RECIPES names kaggle_tutorial and/or monet, not '$recipe'" >&2; exit 2 ;;
  esac
done
# Each recipe's rows: experiment=monet took the 142x142 PatchGAN with the rows full_monet_d4_s*;
# full_monet_s* ran it with 70x70 (docs/quality.md, "Commands", has their commands for today).
row_of() { case "$1" in monet) echo "full_monet_d4_s${SEED}" ;; *) echo "full_${1}_s${SEED}" ;; esac; }
for recipe in "${RECIPE_LIST[@]}"; do
  "$PYTHON" benchmarks/quality.py run "$(row_of "$recipe")" --sheet ${REPLACE:+--replace} -- \
    "experiment=${recipe}" "accelerator=${ACCELERATOR}" "seed=${SEED}" \
    callbacks=mifid callbacks.mifid.every_n_epochs=5 callbacks.mifid.num_photos=500 "${EXTRA[@]}"
done
rows=(baseline_photos baseline_reinhard)
for recipe in kaggle_tutorial monet; do  # the rows recorded so far, from this run or an earlier one
  if [[ -f "docs/quality/$(row_of "$recipe")/result.json" ]]; then
    rows+=("$(row_of "$recipe")")
  fi
done
"$PYTHON" benchmarks/quality.py table "${rows[@]}"
