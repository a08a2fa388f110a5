#!/usr/bin/env bash
# Screen several variants of one config over seeds on a single GPU: one `loopthink sweep` per
# variant, all side by side on the one device (each training process is bound by kernel launches,
# not by the GPU, so many fit beside each other). Run in the repository root:
#   CONFIG=configs/text.yaml SEEDS=0..2 DEADLINE=420 bash scripts/gpu_screen.sh \
#     "base=" "wd01=train.weight_decay=0.1" "lr2e3=train.lr=2e-3"
# Each argument is NAME=OVERRIDES (space-separated key=value; empty for the config as written).
# At DEADLINE seconds the runs still training are stopped; each variant's runs (weights, metrics,
# config and last checkpoint, so `loopthink train --resume` can finish them on any machine) come
# back as $OUT/NAME.tar. Evaluate them anywhere, e.g. `loopthink eval runs/screen/NAME --data FILE`.
# The environment is the project's own (`make setup`, scripts/_gpu_env.sh); it needs PyTorch with CUDA.
set -u
T0=$(date +%s)
CONFIG=${CONFIG:?CONFIG=path/to/config.yaml}
SEEDS=${SEEDS:-0..2}
DEADLINE=${DEADLINE:-420}
OUT=${OUT:-out/gpu_screen}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT" runs/screen
source "$(dirname "$0")/_gpu_env.sh"

names=()
pids=()
for spec in "$@"; do
  name=${spec%%=*}
  overrides=${spec#*=}
  names+=("$name")
  # one process per seed on the one GPU; one CPU thread each, so the processes do not fight for cores
  # shellcheck disable=SC2086
  setsid python -m loopthink.cli sweep "$CONFIG" $overrides train.threads=1 --seeds "$SEEDS" --device "$DEVICE" \
    --jobs 99 --out "runs/screen/$name" > "$OUT/sweep_$name.log" 2>&1 &
  pids+=($!)
done

while :; do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  if [ $(( $(date +%s) - T0 )) -ge "$DEADLINE" ]; then
    echo "deadline: stopping the runs still training"
    for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done; sleep 8; break  # each sweep's own process group
  fi
  sleep 30
  for name in "${names[@]}"; do
    echo "$(( $(date +%s) - T0 )) s $name: $(for m in runs/screen/$name/*/metrics.jsonl; do tail -n 1 "$m" 2>/dev/null | grep -o '"iter": [0-9]*' ; done | tr '\n' ' ')"
  done
done
for name in "${names[@]}"; do
  tail -n 3 "$OUT/sweep_$name.log"
  tar -C runs/screen -cf "$OUT/$name.tar" "$name"
done
ls -la "$OUT"
echo "done at $(( $(date +%s) - T0 )) s"
