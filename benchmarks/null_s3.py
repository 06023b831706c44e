"""The least an S3 server can do for a PUT: read the body, compute its MD5 (the ETag S3 must
answer with) and reply. `benchmarks/s3.py` times boto3's 64 MiB PUTs against it to print the
ceiling that boto3's own work (it hashes the whole body before sending it) and the ETag's MD5
leave on this machine, for any server.

    python benchmarks/null_s3.py PORT
"""

from __future__ import annotations

import hashlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and `Expect: 100-continue`, as boto3 uses

    def do_PUT(self) -> None:
        left = int(self.headers.get("Content-Length", "0"))
        md5 = hashlib.md5(usedforsecurity=False)
        while left:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                return
            md5.update(chunk)
            left -= len(chunk)
        self.send_response(200)
        self.send_header("ETag", f'"{md5.hexdigest()}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
