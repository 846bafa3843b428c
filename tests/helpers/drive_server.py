"""A stand-in for Google Drive on 127.0.0.1: small files directly, large ones behind the confirmation page."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

INTERSTITIAL = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="/download" method="get">
<input type="hidden" name="id" value="{id}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="1a2b-3c">
<input type="submit" value="Download anyway"></form></body></html>"""
QUOTA = """<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head>
<body>Too many users have viewed or downloaded this file recently.</body></html>"""


class DriveServer:
    """``files[id] = bytes``; ids in ``quota`` answer with the quota page; ``large`` ids need confirmation."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.quota: set[str] = set()
        self.large: set[str] = set()
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                file_id = query.get("id", "")
                if file_id in outer.quota:
                    self._send(200, QUOTA.encode(), "text/html; charset=utf-8")
                elif file_id not in outer.files:
                    self._send(404, b"<html><title>Not Found</title></html>", "text/html")
                elif url.path == "/uc" and file_id in outer.large:
                    self._send(200, INTERSTITIAL.format(id=file_id).encode(), "text/html; charset=utf-8")
                elif url.path == "/uc" or (
                    url.path == "/download" and query.get("confirm") == "t" and query.get("uuid") == "1a2b-3c"
                ):
                    self._send(200, outer.files[file_id], "application/octet-stream")
                else:
                    self._send(400, b"<html><title>Bad Request</title></html>", "text/html")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url_template(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/uc?export=download&id={{id}}"

    def __enter__(self) -> DriveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
