"""Sweeps: a config over seeds and grid points (plan.py), run as child processes (runner.py) or Slurm
jobs (launchers.py), into sweep directories (dirs.py)."""
