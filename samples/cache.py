"""Locate the folder where converted and generated samples are cached."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LATENT_SYMMETRIES_CACHE"


def cache_dir(subdir: str | None = None) -> Path:
    """Return the cache folder, creating it if needed.

    The folder is ``$LATENT_SYMMETRIES_CACHE`` when set, else
    ``$XDG_CACHE_HOME/latent-symmetries`` (``~/.cache/latent-symmetries``).
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        path = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(xdg) / "latent-symmetries"
    if subdir:
        path = path / subdir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        from samples.errors import InputError

        msg = (
            f"cannot create the cache folder {path}: {error.strerror}. Set "
            f"{CACHE_ENV} to a writable folder."
        )
        raise InputError(msg) from error
    return path
