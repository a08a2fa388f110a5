"""Training: the loop (loop.py), its objective (losses.py), the data path (batches.py, data.py), the
run directory with its checkpoints (rundir.py), metric sinks (loggers.py) and progress lines."""
