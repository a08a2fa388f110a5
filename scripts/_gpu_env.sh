# Sourced by the bench/gpu_*.sh scripts, in the repository root, with OUT set: the Python packages a
# GPU machine lacks (wheels carried in .whl/, unless NO_WHEELS is set), loopthink from src/, and a
# record of the GPU in $OUT/gpu.txt; stops the script when torch or pydantic cannot be imported.
if [ -d .whl ] && [ -z "${NO_WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
python3 -c "import torch, pydantic; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 1
