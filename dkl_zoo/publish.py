"""Upload a converted repo folder to the Hub (create_repo + upload_folder); returns the commit to pin."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["publish"]

_REQUIRED = ("model.safetensors", "config.json", "README.md")


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

    Pin that sha (and the sha256 ``convert_checkpoint`` printed) in the registry entry.
    """
    from huggingface_hub import HfApi

    path = Path(folder)
    missing = [name for name in _REQUIRED if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{path} is not a converted repo folder (missing {', '.join(missing)}); create it with "
            "dkl_zoo.convert.convert_checkpoint or `dkl-zoo convert`"
        )
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    if revision != "main":
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(path),
        repo_id=repo_id,
        repo_type="model",
        revision=revision,
        commit_message=commit_message or f"Upload {path.name} converted by dkl_zoo",
        allow_patterns=list(_REQUIRED),
    )
    return info.oid
