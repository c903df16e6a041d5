"""``obs-faceswap models import FILE.dfm``: install a DeepFaceLive model under ``<models dir>/dfm/``.

DFM models are personal (one trained identity each), so they have no manifest entry: a file is
accepted when it loads as ONNX with the DFM signature (``signatures.py`` family ``dfm``), and is
then usable by its name (``--dfm-model NAME``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from obs_faceswap.errors import ModelError, ModelSignatureError
from obs_faceswap.models.registry import models_dir
from obs_faceswap.models.session import create_session
from obs_faceswap.models.signatures import family_signature

DFM_DIR = "dfm"


def dfm_dir() -> Path:
    """Where imported .dfm files live."""
    return models_dir() / DFM_DIR


def import_dfm(source: str | os.PathLike[str], *, out: TextIO | None = None) -> Path:
    """Copy a .dfm into :func:`dfm_dir` after checking it is one; returns the installed path."""
    out = out or sys.stderr
    src = Path(source).expanduser()
    if not src.is_file():
        raise ModelError(f"cannot import {src}: no such file")
    inputs, outputs = family_signature("dfm")
    try:
        create_session(src, "cpu", threads=1, expect_inputs=inputs, expect_outputs=outputs, family="dfm",
                       user_file=True)
    except ModelSignatureError as exc:
        raise ModelError(f"{src.name} cannot be imported: it is not a DeepFaceLive DFM model "
                         f"({str(exc).split(': ', 1)[-1]}). Nothing was installed.") from None
    dest = dfm_dir() / (src.stem + ".dfm")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".import", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f, open(src, "rb") as s:
            shutil.copyfileobj(s, f, 1 << 20)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    print(f"{dest.stem}: installed {dest} (use it with --swapper dfm --dfm-model {dest.stem})", file=out)
    return dest
