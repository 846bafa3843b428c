"""Upload a converted repo folder to the Hub (create_repo + upload_folder); returns the commit to pin."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["publish", "commit_repo_folder", "REPO_FILES"]

REPO_FILES = ("model.safetensors", "config.json", "README.md")
"""What a converted repo folder holds, and what is uploaded of it."""
_REQUIRED = REPO_FILES


def publish(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    revision: str = "main",
    token: str | bool | None = None,
    endpoint: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` to ``revision``; returns the commit sha.

    The commit and the sha256 ``convert_checkpoint`` printed are what a pins file records for the entry
    (``dkl-zoo release`` does both steps and writes the pin).

    Raises:
        InvalidArgumentError: ``folder`` is not a converted repo folder, or ``repo_id`` is not a valid repo id.
        HubAccessError, OfflineError: the Hub refused, failed or could not be reached.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    from .._hub_errors import api_errors
    from ..errors import InvalidArgumentError

    path = Path(folder)
    if not path.is_dir():
        raise InvalidArgumentError(
            f"{path} is not a folder"
            + ("" if path.exists() else " (it does not exist)")
            + "; give the folder that dkl_zoo.original.convert.convert_checkpoint wrote"
        )
    missing = [name for name in _REQUIRED if not (path / name).is_file()]
    if missing:
        raise InvalidArgumentError(
            f"{path} is not a converted repo folder (missing {', '.join(missing)}); create it with "
            "dkl_zoo.original.convert.convert_checkpoint"
        )
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise InvalidArgumentError(
            f"{repo_id!r} is not a valid Hub repo id ({str(error).splitlines()[0]}); use namespace/name"
        ) from None
    api = HfApi(endpoint=endpoint, token=token)
    with api_errors(f"publishing {path}", repo_id, endpoint):
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        return commit_repo_folder(
            api, repo_id, path, revision=revision, message=commit_message or f"Upload {path.name} converted by dkl_zoo"
        )


def commit_repo_folder(
    api,
    repo_id: str,
    folder: Path,
    *,
    message: str,  # type: ignore[no-untyped-def]
    revision: str = "main",
) -> str:
    """One commit of the converted folder's three files to an existing repo; returns its commit id. The one way
    weights reach the Hub (``publish`` and ``dkl-zoo release``)."""
    from huggingface_hub import CommitOperationAdd

    info = api.create_commit(
        repo_id,
        operations=[CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in REPO_FILES],
        commit_message=message,
        revision=revision,
    )
    return info.oid
