"""Serving the browser snippet: a content-hashed immutable URL, a short-cache stable URL, ETag, gzip and brotli.

The file served is static/lr.min.js, built from the readable static/lr.js by `npm run build`
(terser); tests/types/test_snippet_build.py checks that the two agree. static/lr.d.ts
declares its API. All three ship inside the package (pyproject force-includes static/).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import Response

SCRIPT_NAME = "lr.min.js"  # what browsers get
SOURCE_NAME = "lr.js"  # its readable source
TYPES_NAME = "lr.d.ts"  # its TypeScript declarations
STABLE_MAX_AGE = 300
IMMUTABLE = "public, max-age=31536000, immutable"


def static_dir() -> Path:
    """The installed package's copy of static/, else the checkout's."""
    packaged = Path(str(resources.files("leadrelay"))) / "static"
    if (packaged / SCRIPT_NAME).is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "static"


@dataclass(frozen=True)
class Asset:
    raw: bytes
    gzip: bytes
    br: bytes
    digest: str  # first 12 hex characters of the SHA-256 of the raw bytes

    @classmethod
    def load(cls, path: Path) -> Asset:
        raw = path.read_bytes()
        return cls(
            raw=raw,
            gzip=gzip.compress(raw, compresslevel=9, mtime=0),
            br=brotli.compress(raw, quality=11),
            digest=hashlib.sha256(raw).hexdigest()[:12],
        )

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


class Snippet:
    def __init__(self, prefix: str, directory: Path | None = None) -> None:
        self.prefix = prefix
        self.asset = Asset.load((directory or static_dir()) / SCRIPT_NAME)

    @property
    def stable_url(self) -> str:
        return f"{self.prefix}/s.js"

    @property
    def hashed_url(self) -> str:
        return f"{self.prefix}/s.{self.asset.digest}.js"

    async def stable(self, request: Request) -> Response:
        return self._serve(request, f"public, max-age={STABLE_MAX_AGE}")

    async def hashed(self, request: Request) -> Response:
        if request.path_params["digest"] != self.asset.digest:
            # An old hash after a deploy: send today's script, but do not let it be cached forever.
            return self._serve(request, f"public, max-age={STABLE_MAX_AGE}")
        return self._serve(request, IMMUTABLE)

    def _serve(self, request: Request, cache_control: str) -> Response:
        headers = {
            "Cache-Control": cache_control,
            "ETag": self.asset.etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
            # A public file: loadable as a module, with Subresource Integrity, and under COEP.
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        wanted = _etags(request.headers.get("if-none-match", ""))
        if self.asset.etag in wanted or "*" in wanted:
            return Response(status_code=304, headers=headers)
        accepted = _codings(request.headers.get("accept-encoding", ""))
        if "br" in accepted:
            body, headers["Content-Encoding"] = self.asset.br, "br"
        elif "gzip" in accepted:
            body, headers["Content-Encoding"] = self.asset.gzip, "gzip"
        else:
            body = self.asset.raw
        return Response(body, headers=headers, media_type="text/javascript; charset=utf-8")


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _codings(header: str) -> set[str]:
    """Content codings the client accepts (q=0 means refused)."""
    accepted = set()
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            if float(q) > 0:
                accepted.add(name.strip().lower())
        except ValueError:
            continue
    return accepted
