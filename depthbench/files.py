"""Reading user files safely (untrusted files never run code: no pickle; a bad file is one DepthbenchError line) and
writing result files atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from depthbench.errors import DepthbenchError, first_line


def read_npy(path: str | os.PathLike, what: str = "array") -> np.ndarray:
    """One array from a .npy file, with allow_pickle=False; missing, corrupt, pickled or .npz files are errors."""
    path = Path(path)
    if not path.is_file():
        raise DepthbenchError(f"{what} file {path} does not exist")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        # numpy's message for pickled data suggests enabling pickle loading, which depthbench never does
        reason = "no plain .npy array: a pickle, an object array or another file" if "pickle" in str(exc) else None
        raise DepthbenchError(
            f"{what} file {path} is not a readable .npy array ({reason or first_line(exc)}); write it with numpy.save"
        ) from None
    if not isinstance(array, np.ndarray):  # np.load opens a .npz (zip) whatever the file is called
        array.close()
        raise DepthbenchError(f"{what} file {path} is a .npz archive, not one .npy array; save it with numpy.save")
    return array


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temp file + os.replace so a killed process never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
