"""Writes that never leave half a file: each goes to ``PATH.tmp``, is flushed to disk, and is renamed
over ``PATH`` (an atomic replace on POSIX and Windows), so a crash or kill at any moment leaves the
old file or the new one. Used by the record files (tasks), run directories and sweeps alike."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import save_file


@contextmanager
def temp_beside(path: Path) -> Iterator[Path]:
    """``PATH.tmp``, renamed over ``path`` when the block succeeds and removed when it fails (disk
    full, no permission, interrupted), so no stray ``*.tmp`` is left behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) if e.filename is None else e from None  # name the file
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    with temp_beside(path) as tmp:
        fsync_write(tmp, text.encode())


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    with temp_beside(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())


def atomic_copy(src: Path, dst: Path) -> None:
    with temp_beside(dst) as tmp:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
