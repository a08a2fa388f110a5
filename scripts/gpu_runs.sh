#!/usr/bin/env bash
# One prepared command for a machine with one GPU, run in the repository root:
#   bash scripts/gpu_runs.sh            # results under $OUT (default out/gpu_runs)
# 1. The seed paper's logic and text settings with loopthink's model (no depth embedding,
#    input injection), trained side by side in the background on the one GPU: each process is bound
#    by kernel launches, not by the GPU, and batches come from worker processes (train.data_workers).
# 2. Meanwhile the GPU speed paths, fp32 / bf16 autocast / autocast + torch.compile (scripts/gpu_paths.py).
# 3. At DEADLINE seconds a run still training is stopped; its last checkpoint (every 500 iterations)
#    comes back in its tar, so `loopthink train --resume` can finish it elsewhere.
# VARIANT=paper trains the paper-faithful model instead (its depth embedding, no input injection):
#   VARIANT=paper DEADLINE=780 bash scripts/gpu_runs.sh
# The environment is the project's own (`make setup`, scripts/_gpu_env.sh); it needs PyTorch with CUDA.
set -u
T0=$(date +%s)
DEADLINE=${DEADLINE:-480}
TASKS=${TASKS:-logic text}
OUT=${OUT:-out/gpu_runs}
VARIANT=${VARIANT:-loopthink}
case "$VARIANT" in
  loopthink) MODEL_OVERRIDES="model.depth_embedding=0 model.injection=add" ;;
  paper) MODEL_OVERRIDES="" ;;  # the configs as written: the paper's own model
  *) echo "VARIANT must be loopthink or paper, got $VARIANT" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
source "$(dirname "$0")/_gpu_env.sh"

pids=()
for task in $TASKS; do
  python -m loopthink.cli train configs/paper/$task.yaml $MODEL_OVERRIDES \
    train.device=cuda train.amp=true train.data_workers=3 ${EXTRA:-} --no-progress \
    --out runs/paper/${task}_$VARIANT > "$OUT/train_$task.log" 2>&1 &
  pids+=($!)
done
python scripts/gpu_paths.py --iters ${PATH_ITERS:-60} --json "$OUT/gpu_paths.json" ${PATH_EXTRA:-} > "$OUT/gpu_paths.log" 2>&1
echo "gpu_paths rc=$? at $(( $(date +%s) - T0 )) s"; tail -c 1500 "$OUT/gpu_paths.log"

while :; do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  if [ $(( $(date +%s) - T0 )) -ge "$DEADLINE" ]; then echo "deadline: stopping the runs still training"; kill "${pids[@]}" 2>/dev/null; sleep 5; break; fi
  sleep 20
  for task in $TASKS; do echo "$(( $(date +%s) - T0 )) s $task: $(tail -n 1 runs/paper/${task}_$VARIANT/metrics.jsonl 2>/dev/null | cut -c 1-150)"; done
done
for task in $TASKS; do
  tail -n 3 "$OUT/train_$task.log"
  # the checkpoint, not the top-level copy of its weights: the tar stays under the 16 MiB a file may have
  tar -C runs/paper -cf "$OUT/${task}_$VARIANT.tar" ${task}_$VARIANT/{checkpoint,metrics.jsonl,config.yaml}
done
echo "done at $(( $(date +%s) - T0 )) s"
