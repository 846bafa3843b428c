"""A small server that speaks the Hugging Face Hub protocol to the real huggingface_hub client.

It serves model repos held in memory, on 127.0.0.1, so downloads, caching, offline mode, pinned revisions,
error classes and uploads (``create_repo`` / ``upload_folder``) can be tested without the Internet.
What it implements (huggingface_hub 2.x):

- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag`` (git blob sha1) or
  ``X-Linked-Etag``/``X-Linked-Size`` (sha256, for LFS files), ``Range``, and ``X-Error-Code`` on 404s;
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}`` (repo info),
  ``GET /api/models/{repo}/tree/{rev}[/{path}]`` (listing);
- ``POST /api/repos/create``, ``POST /api/validate-yaml``, ``POST /api/models/{repo}/preupload/{rev}``
  (always ``regular``) and ``POST /api/models/{repo}/commit/{rev}`` (NDJSON, inline base64 files).

It also records each request and can be told to misbehave, to test error paths: ``fail_with = 500`` (every request
fails), ``require_token = "t"`` (401 without that bearer token), ``replace_body[path] = b"..."`` (GET sends other
bytes under the good file's headers: wrong bytes with the good hash, or an HTML page), ``substitute[path] = b"..."``
(the file is served as these bytes with their own hash: a bad mirror), ``trickle_seconds = 2.0`` (GET bodies are
sent one byte at a time with that pause).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HubServer"]

_LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


class _Digests:
    """Digests of served blobs, computed once per blob (a HEAD must not cost a 185 MB hash)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int], tuple[bytes, str]] = {}

    def get(self, kind: str, data: bytes) -> str:
        key = (kind, id(data))
        hit = self._known.get(key)
        if hit is not None and hit[0] is data:
            return hit[1]
        if kind == "sha256":
            digest = hashlib.sha256(data).hexdigest()
        else:
            digest = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
        self._known[key] = (data, digest)
        return digest


def _is_lfs(path: str) -> bool:
    return path.endswith(_LFS_SUFFIXES)


@dataclass
class _Repo:
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)


class HubServer:
    """``with HubServer() as hub: hub.add_repo("ns/name", {"model.safetensors": data}); hub.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._repos: dict[str, _Repo] = {}
        self.digests = _Digests()
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.fail_with: int | None = None
        self.require_token: str | None = None  # set: requests without "Authorization: Bearer <it>" get 401
        self.replace_body: dict[str, bytes] = {}
        self.substitute: dict[str, bytes] = {}
        self.trickle_seconds: float | None = None
        self.trickle_budget = 10.0  # seconds of trickling in all; then every request fails (tests end, not hang)
        self.stopping = threading.Event()
        self.hold_commits: threading.Event | None = None  # set: commit requests wait until it is set again
        self.commits_seen = 0
        self.commits_done = 0  # commit requests answered or dropped (a held one counts once it is let go)
        self.bytes_trickled = 0
        self.changed = threading.Condition()  # notified whenever a request, a trickled byte or a commit is seen
        handler = type("_BoundHandler", (_Handler,), {"hub": self})
        self._server = _QuietServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        # a short poll interval: stopping the server (every test's teardown) takes 0.05 s instead of 0.5 s
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hub-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- content -----------------------------------------------------------------------------------
    def add_repo(
        self, repo_id: str, files: Mapping[str, bytes], *, branch: str = "main", message: str = "initial"
    ) -> str:
        """Create ``repo_id`` if needed and commit ``files`` (replacing the branch's tree); returns the sha."""
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo())
            return self._commit(repo, branch, dict(files), message, self.digests)

    def commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        branch: str = "main",
        deleted: tuple[str, ...] = (),
        message: str = "update",
    ) -> str:
        """Add or replace ``files`` on top of the branch head; returns the new commit sha."""
        with self._lock:
            repo = self._repos[repo_id]
            tree = dict(repo.commits[repo.branches[branch]]) if branch in repo.branches else {}
            for path in deleted:
                tree.pop(path, None)
            tree.update(files)
            return self._commit(repo, branch, tree, message, self.digests)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            repo = self._repos[repo_id]
            return dict(repo.commits[self._resolve_rev(repo, revision)])

    def has_repo(self, repo_id: str) -> bool:
        return repo_id in self._repos

    def count(self, method: str, path_contains: str) -> int:
        return sum(1 for m, p in self.requests if m == method and path_contains in p)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Block until ``condition()`` holds (checked whenever the server sees something), or ``timeout``: the
        tests synchronise on what the server saw, never on sleeps."""
        with self.changed:
            return self.changed.wait_for(condition, timeout=timeout)

    def _saw(self, what: Callable[[], None]) -> None:
        with self.changed:
            what()
            self.changed.notify_all()

    @staticmethod
    def _commit(repo: _Repo, branch: str, tree: dict[str, bytes], message: str, digests: _Digests) -> str:
        parent = repo.branches.get(branch, "")
        files = {p: digests.get("git", d) for p, d in sorted(tree.items())}
        body = json.dumps(
            {"parent": parent, "message": message, "files": files, "n": len(repo.history)},
            sort_keys=True,
        ).encode()
        sha = hashlib.sha1(body).hexdigest()
        repo.commits[sha] = tree
        repo.branches[branch] = sha
        repo.history.append(sha)
        return sha

    @staticmethod
    def _resolve_rev(repo: _Repo, revision: str) -> str:
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.commits:
            return revision
        raise KeyError(revision)


class _QuietServer(ThreadingHTTPServer):
    """A client that went away mid-answer (killed, or gave up on a trickle) is part of the tests, not an error."""

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    _RESOLVE = re.compile(r"^/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
    _API = re.compile(
        r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/(?P<verb>revision|tree|preupload|commit|paths-info)"
        r"(?:/(?P<rev>[^/]+)(?:/(?P<path>.+))?)?)?$"
    )

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    # ---- plumbing ----------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(
        self, status: int, code: str, message: str, head: bool = False, headers: Mapping[str, str] | None = None
    ) -> None:
        all_headers = {"X-Error-Code": code, "X-Error-Message": message, **(headers or {})}
        self._send(status, json.dumps({"error": message}).encode(), all_headers, head=head)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self) -> bool:
        self.hub._saw(lambda: self.hub.requests.append((self.command, self.path)))
        if self.hub.fail_with is not None:
            self._body()
            self._send(self.hub.fail_with, b'{"error": "injected failure"}', head=self.command == "HEAD")
            return False
        if (
            self.hub.require_token is not None
            and self.headers.get("Authorization") != f"Bearer {self.hub.require_token}"
        ):
            self._body()
            self._send(401, b'{"error": "Invalid credentials"}', head=self.command == "HEAD")
            return False
        return True

    def _repo_and_sha(self, repo_id: str, rev: str | None, head: bool = False) -> tuple[_Repo, str] | None:
        repo = self.hub._repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}", head)
            return None
        try:
            return repo, self.hub._resolve_rev(repo, unquote(rev or "main"))
        except KeyError:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return None

    # ---- verbs -------------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        if self._record():
            self._resolve(head=True)

    def do_GET(self) -> None:
        if not self._record():
            return
        if self.path.startswith("/api/"):
            self._api_get()
        else:
            self._resolve(head=False)

    def do_POST(self) -> None:
        if not self._record():
            return
        path = urlsplit(self.path).path
        if path == "/api/repos/create":
            self._create_repo()
            return
        if path == "/api/validate-yaml":
            self._validate_yaml()
            return
        match = self._API.match(path)
        if match and match["verb"] == "preupload":
            self._preupload(match["repo"], match["rev"])
        elif match and match["verb"] == "commit":
            self._commit(match["repo"], match["rev"])
        else:
            self._error(404, "NotFound", f"no route for POST {path}")

    # ---- file download -----------------------------------------------------------------------------
    def _resolve(self, head: bool) -> None:
        match = self._RESOLVE.match(urlsplit(self.path).path)
        if match is None:
            self._error(404, "NotFound", f"no route for {self.path}", head)
            return
        found = self._repo_and_sha(match["repo"], match["rev"], head)
        if found is None:
            return
        repo, sha = found
        path = unquote(match["path"])
        tree = repo.commits[sha]
        if path not in tree:
            self._error(404, "EntryNotFound", f"{path} does not exist on {sha}", head, {"X-Repo-Commit": sha})
            return
        data = self.hub.substitute.get(path, tree[path])
        headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if _is_lfs(path):
            digest = self.hub.digests.get("sha256", data)
            headers.update({"ETag": f'"{digest}"', "X-Linked-Etag": f'"{digest}"', "X-Linked-Size": str(len(data))})
        else:
            headers["ETag"] = f'"{self.hub.digests.get("git", data)}"'
        status, body = 200, data
        ranged = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        if ranged:
            start = int(ranged[1])
            end = int(ranged[2]) if ranged[2] else len(data) - 1
            body = data[start : end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        if not head and path in self.hub.replace_body:
            body = self.hub.replace_body[path]
            kind = "text/html" if body.lstrip().startswith(b"<") else "application/octet-stream"
            self._send(status, body, headers, kind)
            return
        if not head and self.hub.trickle_seconds is not None:
            self._trickle(status, body, headers)
            return
        self._send(status, body, headers, "application/octet-stream", head)

    def _trickle(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        """Announce the whole body, then send it one byte per ``trickle_seconds`` until the client gives up."""
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        give_up = time.monotonic() + self.hub.trickle_budget
        try:
            for index in range(len(body)):
                if time.monotonic() > give_up:
                    self.hub.fail_with = 500
                    break
                if self.hub.stopping.wait(self.hub.trickle_seconds or 0):
                    break
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                self.hub._saw(lambda: setattr(self.hub, "bytes_trickled", self.hub.bytes_trickled + 1))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    # ---- API ---------------------------------------------------------------------------------------
    def _api_get(self) -> None:
        split = urlsplit(self.path)
        match = self._API.match(split.path)
        if match is None:
            self._error(404, "NotFound", f"no route for {split.path}")
            return
        found = self._repo_and_sha(match["repo"], match["rev"])
        if found is None:
            return
        repo, sha = found
        tree = repo.commits[sha]
        verb = match["verb"]
        if verb in (None, "revision"):
            self._json(
                200,
                {
                    "id": match["repo"],
                    "modelId": match["repo"],
                    "sha": sha,
                    "private": False,
                    "siblings": [{"rfilename": p} for p in sorted(tree)],
                },
            )
        elif verb == "tree":
            prefix = unquote(match["path"] or "").strip("/")
            recursive = parse_qs(split.query).get("recursive", ["false"])[0].lower() == "true"
            self._json(200, self._tree_listing(tree, prefix, recursive, self.hub.digests))
        else:
            self._error(404, "NotFound", f"no route for GET {split.path}")

    @staticmethod
    def _tree_listing(tree: Mapping[str, bytes], prefix: str, recursive: bool, digests: _Digests) -> list[dict]:
        entries: dict[str, dict] = {}
        for path, data in sorted(tree.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            if "/" in rest and not recursive:
                folder = (prefix + "/" if prefix else "") + rest.split("/")[0]
                entries[folder] = {
                    "type": "directory",
                    "oid": hashlib.sha1(folder.encode()).hexdigest(),
                    "size": 0,
                    "path": folder,
                }
                continue
            item = {"type": "file", "oid": digests.get("git", data), "size": len(data), "path": path}
            if _is_lfs(path):
                item["lfs"] = {"oid": digests.get("sha256", data), "size": len(data), "pointerSize": 134}
            entries[path] = item
        return list(entries.values())

    def _create_repo(self) -> None:
        payload = json.loads(self._body() or b"{}")
        organization = payload.get("organization")
        repo_id = f"{organization}/{payload['name']}" if organization else payload["name"]
        if "/" not in repo_id:
            repo_id = f"user/{repo_id}"
        if repo_id in self.hub._repos:  # the Hub's 409 names the existing repo's url, which exist_ok=True reads
            self._send(
                409,
                json.dumps(
                    {"error": "You already created this model repo", "url": f"{self.hub.url}/{repo_id}"}
                ).encode(),
                {"X-Error-Code": "RepoExists", "X-Error-Message": "You already created this model repo"},
            )
            return
        self.hub.add_repo(repo_id, {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"})
        self._json(200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id})

    def _validate_yaml(self) -> None:
        """The Hub checks a README's metadata block before a commit; a block that is not YAML is refused."""
        import yaml

        content = json.loads(self._body() or b"{}").get("content", "")
        match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as error:
            self._json(400, {"errors": [{"message": f"invalid YAML: {error}"}], "warnings": []})
            return
        if metadata is not None and not isinstance(metadata, dict):
            self._json(400, {"errors": [{"message": "metadata must be a mapping"}], "warnings": []})
            return
        self._json(200, {"errors": [], "warnings": []})

    def _preupload(self, repo_id: str, rev: str | None) -> None:
        payload = json.loads(self._body() or b"{}")
        if self._repo_and_sha(repo_id, rev) is None:
            return
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in payload.get("files", [])]
        self._json(200, {"files": files})

    def _commit(self, repo_id: str, rev: str | None) -> None:
        def seen() -> None:
            self.hub.commits_seen += 1

        def done() -> None:
            self.hub.commits_done += 1

        self.hub._saw(seen)
        try:
            self._commit_held(repo_id, rev)
        finally:
            self.hub._saw(done)

    def _commit_held(self, repo_id: str, rev: str | None) -> None:
        hold = self.hub.hold_commits
        if hold is not None:
            hold.wait(timeout=60)  # a test kills the client meanwhile
        expected = int(self.headers.get("Content-Length") or 0)
        body = self._body()
        if len(body) < expected:  # the client died mid-request: nothing is committed
            self.close_connection = True
            return
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if repo_id not in self.hub._repos:
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
            return
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        summary = "commit"
        for item in lines:
            key, value = item.get("key"), item.get("value", {})
            if key == "header":
                summary = value.get("summary", summary)
            elif key == "file":
                content = value["content"]
                added[value["path"]] = (
                    base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                )
            elif key in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
            else:
                self._error(400, "BadRequest", f"unsupported commit operation {key!r} (only inline files)")
                return
        branch = unquote(rev or "main")
        sha = self.hub.commit(repo_id, added, branch=branch, deleted=tuple(deleted), message=summary)
        self._json(
            200,
            {
                "commitUrl": f"{self.hub.url}/{repo_id}/commit/{sha}",
                "commitOid": sha,
                "success": True,
                "pullRequestUrl": None,
            },
        )
