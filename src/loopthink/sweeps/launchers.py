"""``loopthink sweep --launcher submitit``: each run of a sweep as a Slurm job, through submitit.

The plan, the run layout (``OUT/seed0/`` ..., ``OUT/sweep.json``) and the resume rule are the local
launcher's (``sweep.py``): a job trains ``loopthink train CONFIG ... --out RUN``, with ``--resume``
when ``RUN`` holds a checkpoint *when the job starts*, so a requeued job continues where it
stopped. On a time-out or preemption submitit calls :meth:`TrainJob.checkpoint`, which requeues
the same job; it resumes from the run's last checkpoint (every ``train.checkpoint_every``).

Jobs are submitted as one array (``--partition``, ``--time`` minutes, ``--gpus-per-job``,
``--cpus-per-job``); submitit's logs go to ``OUT/submitit/``. ``--wait`` blocks until every job
ends and records each run's status and validation accuracy in ``sweep.json``; without it the runs
are ``submitted``, and the same command run again after the jobs end records the finished runs and
resubmits the rest. With several GPUs per job the job starts one task per GPU and trains with DDP
(effective batch = GPUs x ``train.batch_size``). ``--cluster local`` runs the jobs as local processes
(submitit's local executor; what the tests use), ``debug`` in this process.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loopthink.config import ConfigError
from loopthink.training.rundir import latest_checkpoint

SUBMITIT_DIR = "submitit"


class TrainJob:
    """One run as a submitit job: a picklable callable (``__call__`` trains, ``checkpoint`` requeues)."""

    def __init__(self, config: str, run_dir: str, overrides: list[str], tasks: int = 1):
        self.config, self.run_dir, self.overrides, self.tasks = config, run_dir, overrides, tasks

    def argv(self) -> list[str]:
        resume = ["--resume"] if latest_checkpoint(Path(self.run_dir)) is not None else []
        return ["train", self.config, *self.overrides, "--out", self.run_dir, "--no-progress", *resume]

    def __call__(self) -> dict[str, float]:
        from loopthink.sweeps.runner import val_of

        if self.tasks > 1:  # one task per GPU: the environment torch.distributed reads (RANK, MASTER_ADDR, ...)
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        # the job runs the command line as a user would (a process of its own, the same argv)
        rc = subprocess.run([sys.executable, "-m", "loopthink.cli", *self.argv()]).returncode
        if rc:
            raise RuntimeError(f"loopthink {' '.join(self.argv())} exited with status {rc}")
        return val_of(Path(self.run_dir))

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(TrainJob(self.config, self.run_dir, self.overrides, self.tasks))


def make_executor(out: Path, args: Any) -> Any:
    try:
        import submitit
    except ImportError:
        raise ConfigError("--launcher submitit needs submitit: pip install 'loopthink[slurm]'") from None
    executor = submitit.AutoExecutor(folder=str(out / SUBMITIT_DIR), cluster=args.cluster)
    gpus = args.gpus_per_job
    params: dict[str, Any] = {"timeout_min": args.time, "name": f"loopthink-{out.name}", "cpus_per_task": args.cpus_per_job}
    if gpus:
        params.update(gpus_per_node=gpus, tasks_per_node=gpus)
    if args.partition:
        params["slurm_partition"] = args.partition
    executor.update_parameters(**params)
    return executor


def job_overrides(run: Any, args: Any, config_device: str) -> list[str]:
    extra = list(run.overrides)
    if args.gpus_per_job and not config_device.startswith("cuda"):
        extra.append("train.device=cuda")
    if not args.gpus_per_job and not any(o.startswith("train.threads=") for o in extra):
        extra.append(f"train.threads={args.cpus_per_job}")
    return extra


def submit(config: str, runs: list[Any], out: Path, meta: dict[str, Any], args: Any, write: Any) -> None:
    """Submit every pending run as one job array; with ``args.wait`` wait and record the results."""
    executor = make_executor(out, args)
    todo = [r for r in runs if r.status == "pending"]
    jobs_of: list[tuple[Any, Any]] = []
    tasks = max(1, args.gpus_per_job)
    with executor.batch():
        for r in todo:
            (out / r.dir).mkdir(parents=True, exist_ok=True)
            job = TrainJob(config, str(out / r.dir), job_overrides(r, args, meta["config_device"]), tasks)
            r.action = "resumed" if latest_checkpoint(out / r.dir) is not None else "trained"
            jobs_of.append((r, executor.submit(job)))
    meta.update(launcher="submitit", cluster=executor.cluster, submitit_dir=str(out / SUBMITIT_DIR))
    for r, job in jobs_of:
        r.status, r.started, r.device, r.job_id = "submitted", time.time(), executor.cluster, str(job.job_id)
        r.attempts += 1
    write(out, meta, runs)
    print(
        f"sweep {out}: submitted {len(jobs_of)} job(s) to {executor.cluster}: {', '.join(str(j.job_id) for _, j in jobs_of)}",
        file=sys.stderr,
    )
    if args.wait:
        for r, job in jobs_of:
            record(r, job, out)
            write(out, meta, runs)


def record(run: Any, job: Any, out: Path) -> None:
    """Wait for ``job`` and record its run's outcome (status by the run directory, as locally)."""
    from loopthink.sweeps.dirs import run_finished
    from loopthink.sweeps.runner import val_of

    try:
        job.result()
        error = None
    except Exception as e:  # the job's exception, or submitit's report of a failed job
        error = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    run.ended = time.time()
    run.wall_s = round(run.ended - (run.started or run.ended), 3)
    run.val = val_of(out / run.dir)
    run.status = "finished" if error is None and run_finished(out / run.dir, run.iters) else "failed"
    run.error = None if run.status == "finished" else (error or "the job ended before train.iters") + f" (logs: {job.paths.stderr})"
    run.returncode = 0 if run.status == "finished" else 1
