"""``loopthink sweep CONFIG --seeds 0,1,2 [--grid KEY=V1,V2 ...] --out DIR``: one training run per seed / grid point."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from loopthink.analysis.sweeps import sweep_summary
from loopthink.commands.argtypes import count, parse_seeds
from loopthink.sweeps.dirs import SWEEP_FILE
from loopthink.sweeps.plan import run_sweep
from loopthink.sweeps.runner import LOG

HELP = "train one run per seed / grid point, several at once"
TIMED = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides applied to every run (may also follow the options)")
    p.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2], help="e.g. 0,1,2 or 0..4 (default 0,1,2)")
    p.add_argument(
        "--grid", action="append", default=[], metavar="KEY=V1,V2", help="a config key and its values; repeat for a cartesian grid"
    )
    p.add_argument(
        "--jobs", type=count, default=None, help="runs at once (default CPU: all runs if <= 2x cores, else one per core; CUDA: one per GPU)"
    )
    p.add_argument("--device", default=None, help="cpu, cuda (every visible GPU) or cuda:0,2; default: the config's train.device")
    p.add_argument("--out", required=True, help="sweep directory")
    p.add_argument(
        "--dry-run", action="store_true", help="write sweep.json and print one train command per run (e.g. for a cluster), train nothing"
    )
    p.epilog = "On a Slurm cluster: --launcher submitit --partition P --time MIN --gpus-per-job G (see loopthink/sweeps/launchers.py)."
    add_launcher_arguments(p)


def add_launcher_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("--launcher submitit (Slurm through submitit)")
    g.add_argument("--launcher", choices=["local", "submitit"], default="local", help="local processes, or one submitit job per run")
    g.add_argument(
        "--cluster",
        choices=["slurm", "local", "debug"],
        default=None,
        help="submitit's executor (default: Slurm when sbatch is found, else local)",
    )
    g.add_argument("--partition", default=None, help="Slurm partition")
    g.add_argument("--time", type=int, default=60, help="minutes per job (Slurm time limit; a timed-out job is requeued and resumes)")
    g.add_argument("--gpus-per-job", type=int, default=0, help="GPUs per job; above 1 the run trains with DDP, one task per GPU")
    g.add_argument("--cpus-per-job", type=int, default=1, help="CPUs per job (and train.threads on a CPU job)")
    g.add_argument("--wait", action="store_true", help="wait for the jobs and record their results in sweep.json")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    runs, commands = run_sweep(
        args.config,
        list(args.overrides),
        args.seeds,
        args.grid,
        args.out,
        args.jobs,
        args.device,
        args.dry_run,
        show=sys.stderr.isatty(),
        launcher=args,
    )
    if args.dry_run:
        for cmd in commands:
            print(shlex.join(cmd))
        print(f"{len(commands)} of {len(runs)} runs to do; wrote {out / SWEEP_FILE}", file=sys.stderr)
        return 0
    print(sweep_summary(runs))
    failed = [r for r in runs if r.status == "failed"]
    for r in failed:
        print(f"\nFAILED {out / r.dir} (exit {r.returncode}); see {out / r.dir / LOG}:\n{r.error}", file=sys.stderr)
    if failed:
        print(f"\n{len(failed)} of {len(runs)} runs failed; run the same command again to retry them", file=sys.stderr)
        return 1
    return 0
