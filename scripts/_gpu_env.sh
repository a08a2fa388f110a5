# Sourced by scripts/gpu_*.sh in the repository root, with OUT set: the project's own environment
# (`make setup`: .venv with loopthink and its pinned dependencies; a machine whose torch build is not
# the pinned one installs loopthink into its own environment first, as README says, and sets
# NO_SETUP=1), its python first on PATH, and a record of the GPU in $OUT/gpu.txt; stops the script
# when torch cannot be imported.
if [ -z "${NO_SETUP:-}" ]; then
  make setup >/dev/null || { echo "make setup failed" >&2; exit 1; }
  export PATH="$PWD/.venv/bin:$PATH"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
python -c "import torch, loopthink; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 1
