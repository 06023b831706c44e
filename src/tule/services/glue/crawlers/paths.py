"""S3 include paths, exclusion globs, the files a crawler skips, and table names.

Exclusions are glob patterns matched against an object's key relative to the include path, as
Glue documents them: `*` matches within one folder level, `**` across levels, `?` one character,
`[abc]` / `[!abc]` a character class, `{a,b}` alternatives, `\\` escapes the next character.
So with include path `s3://b/data/`, `*.csv` excludes CSV files directly in `data/`, and
`**.csv` or `archive/**` reach into sub-folders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tule.errors import AwsError


@dataclass(frozen=True)
class S3Path:
    """An include path: `s3://bucket/prefix`; `prefix` is "" for a whole bucket."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, path: str) -> S3Path:
        if not path.startswith("s3://") or len(path) <= len("s3://"):
            raise AwsError("InvalidInputException", f"Invalid S3 path: {path}", 400)
        bucket, _, prefix = path[len("s3://") :].partition("/")
        if not bucket:
            raise AwsError("InvalidInputException", f"Invalid S3 path: {path}", 400)
        return cls(bucket, prefix)

    @property
    def folder(self) -> str:
        """The prefix as a folder (ends with '/', or "" for the bucket root)."""
        return self.prefix if not self.prefix or self.prefix.endswith("/") else self.prefix + "/"

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regex for one exclusion glob."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
                continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + ")" * depth, re.DOTALL)


def excluded(relative_key: str, exclusions: tuple[str, ...]) -> bool:
    """Whether a key (relative to the include path) matches any exclusion glob."""
    return any(glob_regex(p).fullmatch(relative_key) for p in exclusions)


def skipped(relative_key: str, size: int) -> bool:
    """Objects a crawler never reads: empty objects, folder markers, and hidden files or
    folders (names starting with `_` or `.`: `_SUCCESS`, `_temporary/`, `.crc` files)."""
    if size == 0 or relative_key.endswith("/") or relative_key.endswith("_$folder$"):
        return True
    return any(part.startswith(("_", ".")) for part in relative_key.split("/"))


_NOT_NAME = re.compile(r"[^a-z0-9_]")


def table_name(component: str, prefix: str = "") -> str:
    """A table name from a folder (or file) name: lower-case, other characters as `_`."""
    return prefix + _NOT_NAME.sub("_", component.lower())
