"""``loopthink report``: a self-contained HTML page per run / comparison.

The report is rendered for the session's ``tiny_graph_run`` with a small frontier next to it;
the page must carry the config and embedded (base64) pictures, load nothing from the network,
name the command for each missing artefact, and render in headless Chromium with every picture
decoded and no console errors (Debian's ``chromium``; installed with apt-get when missing and
possible, otherwise the browser test is skipped).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from loopthink.cli import main
from loopthink.report import build_report
from loopthink.training.rundir import RunError

# src="http://..", href='https://..', src=//host/.., url(http..): anything the page would fetch
REMOTE = re.compile(r"""(?:\b(?:src|href|srcset|action|poster)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)""", re.I)
PNG_URI = re.compile(r'<img[^>]*\bsrc="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def frontier_dir(tiny_graph_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report_frontier")
    args = ["frontier", str(tiny_graph_run), "--steps", "1,2,4", "--difficulty", "1..4", "--n-per-cell", "30", "--out", str(out)]
    assert main(args) == 0
    assert (out / "frontier.json").is_file() and (out / "frontier.png").is_file()
    return out


@pytest.fixture(scope="module")
def report_html(tiny_graph_run: Path, frontier_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(tiny_graph_run), "--frontier", str(frontier_dir), "--out", str(out)]) == 0
    return out


def test_report_is_self_contained(report_html: Path, tiny_graph_run: Path, frontier_dir: Path) -> None:
    page = report_html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not REMOTE.search(page), REMOTE.search(page).group(0)
    assert "<link" not in page.lower()  # CSS is inline
    # the config: the raw config.yaml and the key facts
    assert "config.yaml" in page and "train_difficulty:" in page and "d_model: 32" in page
    # embedded pictures that really are PNGs: training curves + the frontier heatmap
    pngs = [base64.b64decode(m) for m in PNG_URI.findall(page)]
    assert len(pngs) >= 2
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert (frontier_dir / "frontier.png").read_bytes() in pngs
    # numbers behind the pictures: the frontier grid and the validation table
    assert "Smallest T reaching 95%" in page and "Validation accuracy per hops" in page
    # missing artefacts: their sections name the exact command instead of failing
    assert f"loopthink diagnose {tiny_graph_run} --out {tiny_graph_run / 'dynamics'}" in page
    assert f"loopthink halt {tiny_graph_run} --out {tiny_graph_run / 'halting'}" in page
    assert "loopthink compare " in page


def test_report_several_runs_escapes_and_tolerates_bad_artefacts(tiny_graph_run: Path, frontier_dir: Path, tmp_path: Path) -> None:
    # a second "run" with an awkward name: config + log only (the report needs no weights)
    other = tmp_path / 'r<em>x&"q'
    other.mkdir()
    shutil.copy(tiny_graph_run / "config.yaml", other / "config.yaml")
    shutil.copy(tiny_graph_run / "metrics.jsonl", other / "metrics.jsonl")
    with open(other / "metrics.jsonl", "a") as f:
        f.write('{"iter": 9\n')  # a torn last line, as after a crash
    broken = tmp_path / "broken_frontier"
    broken.mkdir()
    (broken / "frontier.json").write_text("{not json")
    page, images = build_report([tiny_graph_run, other], frontier=[str(frontier_dir), str(broken)])
    assert images >= 4  # 2 training curves, overlay, frontier
    assert "validation accuracy of all runs" in page  # the overlaid curve
    assert "<em>x" not in page and "r&lt;em&gt;x&amp;&quot;q" in page
    assert "cannot read" in page and "1 unreadable line(s)" in page
    assert not REMOTE.search(page)
    # the comparison section asks for a compare over both runs
    assert "loopthink compare " + str(tiny_graph_run) in page
    # too many --frontier for the runs: a clear error (exit 2)
    assert main(["report", str(tiny_graph_run), "--frontier", "a", "--frontier", "b", "--out", str(tmp_path / "x.html")]) == 2


def test_report_rejects_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a run"):
        build_report([tmp_path])
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert not (tmp_path / "r.html").exists()


# ---- in a real browser -----------------------------------------------------------------------
_CHROMIUM: dict[str, object] = {}


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _install_chromium() -> str:
    """Try ``apt-get install -y chromium`` once (``apt-get update`` and again if that fails);
    return what went wrong, or "" on success."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root, so apt-get cannot install it"
    if not shutil.which("apt-get"):
        return "no apt-get on this system"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    deadline = time.monotonic() + 300

    def apt(*args: str) -> subprocess.CompletedProcess:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired("apt-get", 300)
        return subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=60", *args], env=env, capture_output=True, text=True, timeout=left)

    try:
        r = apt("install", "-y", "chromium")
        if r.returncode != 0:
            apt("update")
            r = apt("install", "-y", "chromium")
    except subprocess.TimeoutExpired:
        return "apt-get install timed out after 300 s"
    except OSError as e:
        return f"apt-get failed to start ({e})"
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
        return f"apt-get install -y chromium failed (exit {r.returncode}: {tail[0]})"
    return ""


@pytest.fixture(scope="session")
def chromium() -> str:
    if "path" not in _CHROMIUM:  # look (and install) once per session
        path = _find_chromium()
        why = ""
        if path is None:
            why = _install_chromium()
            path = _find_chromium()
        _CHROMIUM["path"], _CHROMIUM["why"] = path, why
    if _CHROMIUM["path"] is None:
        pytest.skip(
            f"headless Chromium is not available: /usr/bin/chromium is missing and could not be installed "
            f"({_CHROMIUM['why'] or 'the install did not provide it'}); install Debian's `chromium` package to run this test"
        )
    return str(_CHROMIUM["path"])


def _headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _console_errors(stderr: str) -> list[str]:
    """Messages the page wrote to the console (the page itself writes none) or uncaught errors."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]


def test_report_renders_in_headless_chromium(report_html: Path, chromium: str, tmp_path: Path) -> None:
    url = report_html.resolve().as_uri()
    dom = _headless(chromium, tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    assert 'data-images-ok="true"' in body.group(0), body.group(0)  # set by the page's load check
    count = re.search(r'data-image-count="(\d+)"', body.group(0))
    assert count and int(count.group(1)) >= 2
    assert not _console_errors(dom.stderr), _console_errors(dom.stderr)

    shot = tmp_path / "report.png"
    run = _headless(chromium, tmp_path / "profile2", "--window-size=1280,2400", f"--screenshot={shot}", url)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert not _console_errors(run.stderr), _console_errors(run.stderr)
