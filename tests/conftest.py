"""Shared fixtures: real scikit-hep-testdata files and a private cache folder."""

from __future__ import annotations

import os

import pytest
import requests

from samples.cache import CACHE_ENV
from samples.errors import InputError
from samples.registry import TESTDATA_ENV, testdata_path


@pytest.fixture(scope="session", autouse=True)
def cache_folder(tmp_path_factory):
    """Point the project's cache (converted LHE files) at a session tmp folder."""
    folder = tmp_path_factory.mktemp("latent-symmetries-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(folder))
    yield folder
    patch.undo()


def _reject_download(*args, **kwargs):
    msg = "tests never download files; put the file in the test data folder"
    raise requests.ConnectionError(msg)


@pytest.fixture(scope="session")
def real_file():
    """Return a function that resolves a scikit-hep-testdata file by name.

    The file is looked up with :func:`samples.registry.testdata_path`, with
    downloads disabled. A missing file skips the test, or fails it when the
    ``CI`` environment variable is set.
    """

    def resolve(name: str):
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(requests, "get", _reject_download)
                path = testdata_path(name)
        except InputError as error:
            folder = os.environ.get(TESTDATA_ENV, "(not set)")
            message = (
                f"test data file {name!r} not found with {TESTDATA_ENV}={folder}: "
                f"{error}"
            )
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        return path

    return resolve
