"""Recognising Athena's Hive-style utility and DDL statements that sqlglot does not model.

`SHOW ...`, `DESCRIBE`, `DROP VIEW`, `MSCK REPAIR TABLE`, `ALTER TABLE ... ADD PARTITION`,
`CREATE DATABASE`, `DROP DATABASE` and `EXECUTE ... USING` are matched here by their leading
keywords and read into `Utility` values; every other statement goes to sqlglot (see `dialect`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = r"(?:`[^`]+`|\"[^\"]+\"|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|\"[^\"]+\"|[\w$]+))*"
_STRING = r"'(?:[^']|'')*'"


@dataclass(frozen=True)
class Utility:
    """A recognised statement: its kind and what it names."""

    kind: str
    name: str | None = None  # a table or database name as written (maybe qualified)
    pattern: str | None = None
    if_exists: bool = False
    cascade: bool = False
    partitions: list[tuple[dict[str, str], str | None]] = field(default_factory=list)
    comment: str | None = None
    location: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    using: str | None = None


def unquote_name(name: str) -> list[str]:
    """`db`.`t` / "db"."t" / db.t -> ["db", "t"], lower-cased as Athena resolves names."""
    parts = re.findall(r"`([^`]+)`|\"([^\"]+)\"|([\w$]+)", name)
    return [next(p for p in part if p).lower() for part in parts]


def _string(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def _properties(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = re.findall(rf"({_STRING})\s*=\s*({_STRING})", text)
    return {_string(k): _string(v) for k, v in pairs}


def _partition_specs(text: str) -> list[tuple[dict[str, str], str | None]]:
    specs = []
    pattern = rf"PARTITION\s*\(([^)]*)\)(?:\s*LOCATION\s*({_STRING}))?"
    for body, location in re.findall(pattern, text, re.IGNORECASE):
        values = {}
        for key, value in re.findall(rf"([\w`\"]+)\s*=\s*({_STRING}|[^,\s]+)", body):
            clean = value if not value.startswith("'") else _string(value)
            values[key.strip('`"').lower()] = clean
        specs.append((values, _string(location) if location else None))
    return specs


def _listing(what: str) -> re.Pattern[str]:
    """`SHOW <what> [IN|FROM db] [[LIKE] 'pattern']`."""
    return re.compile(
        rf"SHOW\s+{what}(?:\s+(?:IN|FROM)\s+(?P<name>{_NAME}))?"
        rf"(?:\s+(?:LIKE\s+)?(?P<pattern>{_STRING}))?",
        re.I,
    )


_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("show_tables", _listing("TABLES")),
    (
        "show_databases",
        re.compile(
            rf"SHOW\s+(?:DATABASES|SCHEMAS)(?:\s+(?:LIKE\s+)?(?P<pattern>{_STRING}))?", re.I
        ),
    ),
    ("show_views", _listing("VIEWS")),
    ("show_create_view", re.compile(rf"SHOW\s+CREATE\s+VIEW\s+(?P<name>{_NAME})", re.I)),
    ("drop_view", re.compile(rf"DROP\s+VIEW\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{_NAME})", re.I)),
    ("show_partitions", re.compile(rf"SHOW\s+PARTITIONS\s+(?P<name>{_NAME})", re.I)),
    (
        "show_columns",
        re.compile(
            rf"SHOW\s+COLUMNS\s+(?:IN|FROM)\s+(?P<name>{_NAME})(?:\s+(?:IN|FROM)\s+(?P<db>{_NAME}))?",
            re.I,
        ),
    ),
    ("show_create_table", re.compile(rf"SHOW\s+CREATE\s+TABLE\s+(?P<name>{_NAME})", re.I)),
    ("show_tblproperties", re.compile(rf"SHOW\s+TBLPROPERTIES\s+(?P<name>{_NAME})", re.I)),
    (
        "describe",
        re.compile(rf"(?:DESCRIBE|DESC)(?:\s+(?:EXTENDED|FORMATTED))?\s+(?P<name>{_NAME})", re.I),
    ),
    ("msck_repair", re.compile(rf"MSCK\s+REPAIR\s+TABLE\s+(?P<name>{_NAME})", re.I)),
    (
        "add_partition",
        re.compile(
            rf"ALTER\s+TABLE\s+(?P<name>{_NAME})\s+ADD\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<rest>PARTITION.*)",
            re.I | re.S,
        ),
    ),
    (
        "drop_partition",
        re.compile(
            rf"ALTER\s+TABLE\s+(?P<name>{_NAME})\s+DROP\s+(?P<ie>IF\s+EXISTS\s+)?(?P<rest>PARTITION.*)",
            re.I | re.S,
        ),
    ),
    (
        "create_database",
        re.compile(
            rf"CREATE\s+(?:DATABASE|SCHEMA)\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})"
            rf"(?:\s+COMMENT\s+(?P<comment>{_STRING}))?(?:\s+LOCATION\s+(?P<location>{_STRING}))?"
            r"(?:\s+WITH\s+DBPROPERTIES\s*\((?P<props>.*)\))?",
            re.I | re.S,
        ),
    ),
    (
        "drop_database",
        re.compile(
            rf"DROP\s+(?:DATABASE|SCHEMA)\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{_NAME})"
            r"(?:\s+(?P<mode>CASCADE|RESTRICT))?",
            re.I,
        ),
    ),
    (
        "drop_table",
        re.compile(rf"DROP\s+TABLE\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{_NAME})", re.I),
    ),
    (
        "execute",
        re.compile(r"EXECUTE\s+(?P<name>[\w$]+)(?:\s+USING\s+(?P<using>.+))?", re.I | re.S),
    ),
]


def recognise(sql: str) -> Utility | None:
    """The utility statement `sql` is, or None for statements sqlglot reads."""
    text = sql.strip().rstrip(";").strip()
    for kind, pattern in _RULES:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        groups = match.groupdict()
        name = groups.get("name")
        if kind == "show_columns" and groups.get("db"):
            name = f"{groups['db']}.{name}"
        return Utility(
            kind=kind,
            name=name,
            pattern=_string(groups["pattern"]) if groups.get("pattern") else None,
            if_exists=bool(groups.get("ine") or groups.get("ie")),
            cascade=(groups.get("mode") or "").upper() == "CASCADE",
            partitions=_partition_specs(groups["rest"]) if groups.get("rest") else [],
            comment=_string(groups["comment"]) if groups.get("comment") else None,
            location=_string(groups["location"]) if groups.get("location") else None,
            properties=_properties(groups.get("props")),
            using=groups.get("using"),
        )
    return None


def like_to_regex(pattern: str) -> re.Pattern[str]:
    """Hive's SHOW patterns: `*` any characters, `|` alternatives, case-insensitive."""
    alternatives = [
        ".*".join(re.escape(piece) for piece in alt.strip().split("*"))
        for alt in pattern.split("|")
    ]
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.I)
