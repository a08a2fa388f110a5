"""Progress of long work off a terminal: plain lines, never a bar's carriage returns."""

import io

from loopthink.training.progress import eta, format_duration, tracked


def test_tracked_yields_every_item_and_writes_plain_lines_off_a_terminal():
    stream = io.StringIO()  # not a terminal
    assert list(tracked(list("abcd"), "eval", show=True, every=0.0, stream=stream)) == list("abcd")
    lines = stream.getvalue().splitlines()
    # a line after each item but the last (the command's own "finished" line follows it)
    assert [line.split()[:2] for line in lines] == [["eval", "1/4"], ["eval", "2/4"], ["eval", "3/4"]]
    assert all("ETA" in line and "\r" not in line for line in lines)


def test_tracked_is_silent_when_hidden_or_quick():
    hidden, quick = io.StringIO(), io.StringIO()
    assert list(tracked([1, 2, 3], "eval", show=False, every=0.0, stream=hidden)) == [1, 2, 3]
    assert list(tracked([1, 2, 3], "eval", show=True, every=3600.0, stream=quick)) == [1, 2, 3]
    assert hidden.getvalue() == quick.getvalue() == ""


def test_format_duration():
    assert [format_duration(s) for s in (4.25, 42.0, 125, 3725)] == ["4.2 s", "42 s", "2 min 05 s", "1 h 02 min"]


def test_eta_at_the_rate_so_far():
    assert eta(2, 10, 4.0) == "16 s"  # 2 s a unit, 8 units left
    assert eta(30, 90, 60.0) == "2 min 00 s"
    assert eta(0, 10, 5.0) == "?"  # no rate yet
