"""Every path that iterates the recurrence reproduces, bit for bit, the outputs recorded by the code
before they were all built on ``iterate`` (see tests/loop_reference.py)."""

from __future__ import annotations

import json

import torch

from tests.loop_reference import PATH, digest, outputs


def test_every_arch_reproduces_the_recorded_outputs_bit_for_bit():
    want = json.loads(PATH.read_text())
    threads = torch.get_num_threads()
    try:
        got = {k: digest(v) for k, v in outputs().items()}  # recorded with one thread
    finally:
        torch.set_num_threads(threads)
    assert sorted(got) == sorted(want)
    differ = [f"{k}: sum {got[k]['sum']!r} != {want[k]['sum']!r}" for k in want if got[k] != want[k]]
    assert not differ, f"{len(differ)} of {len(want)} outputs differ from the reference:\n" + "\n".join(differ[:20])
