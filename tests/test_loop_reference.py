"""Every path that iterates the recurrence reproduces the outputs recorded by the code before they
were all built on ``iterate`` (see tests/loop_reference.py): bit for bit on a CPU whose float kernels
match the recording machine's, and to 1e-5 of each sum on any other (another CPU's vector kernels
round differently: by about 1e-8 of a state's sum, up to 1e-5 of a gradient's, whose terms cancel;
a change of logic moves sums far more)."""

from __future__ import annotations

import json
import math

import torch

from tests.loop_reference import PATH, digest, outputs


def test_every_arch_reproduces_the_recorded_outputs():
    want = json.loads(PATH.read_text())
    threads = torch.get_num_threads()
    try:
        got = {k: digest(v) for k, v in outputs().items()}  # recorded with one thread
    finally:
        torch.set_num_threads(threads)
    assert sorted(got) == sorted(want)
    differ = [f"{k}: sum {got[k]['sum']!r} != {want[k]['sum']!r}" for k in want if not _same(got[k], want[k])]
    assert not differ, f"{len(differ)} of {len(want)} outputs differ from the reference:\n" + "\n".join(differ[:20])


def _same(got: dict, want: dict) -> bool:
    """The same bytes, or the same shape and dtype with a sum equal to 1e-5 of itself, or 1e-6 near zero (see the module docstring)."""
    if got == want:
        return True
    same_kind = got["shape"] == want["shape"] and got["dtype"] == want["dtype"]
    return same_kind and math.isclose(got["sum"], want["sum"], rel_tol=1e-5, abs_tol=1e-6)
