"""Crawler definitions: what CreateCrawler and UpdateCrawler accept, checked and defaulted.

The definition is the AWS shape of the settable members. tule crawls S3 targets; other target
kinds (JDBC, DynamoDB, catalog, Delta, Iceberg, Hudi, MongoDB) are refused with
InvalidInputException instead of being stored and never crawled, and so is a `Schedule`
(tule runs crawlers when StartCrawler asks, it has no cron scheduler).
"""

from __future__ import annotations

import json
from typing import Any

from tule.services.glue.crawlers.errors import invalid_input
from tule.services.glue.crawlers.paths import S3Path

Shape = dict[str, Any]

# The members of a crawler a client sets (CreateCrawler / UpdateCrawler, less Name and Tags).
SETTABLE = (
    "Role",
    "DatabaseName",
    "Description",
    "Targets",
    "Classifiers",
    "TablePrefix",
    "SchemaChangePolicy",
    "RecrawlPolicy",
    "LineageConfiguration",
    "LakeFormationConfiguration",
    "Configuration",
    "CrawlerSecurityConfiguration",
)
_OTHER_TARGETS = (
    "JdbcTargets",
    "MongoDBTargets",
    "DynamoDBTargets",
    "CatalogTargets",
    "DeltaTargets",
    "IcebergTargets",
    "HudiTargets",
)
# AWS's defaults when SchemaChangePolicy / RecrawlPolicy / LineageConfiguration are omitted.
DEFAULTS: Shape = {
    "SchemaChangePolicy": {
        "UpdateBehavior": "UPDATE_IN_DATABASE",
        "DeleteBehavior": "DEPRECATE_IN_DATABASE",
    },
    "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
    "LineageConfiguration": {"CrawlerLineageSettings": "DISABLE"},
    "LakeFormationConfiguration": {"UseLakeFormationCredentials": False, "AccountId": ""},
    "Classifiers": [],
}


def definition(request: Shape, base: Shape | None = None) -> Shape:
    """The definition a Create (base None) or Update request leaves, validated."""
    if request.get("Schedule"):
        raise invalid_input(
            "Crawler schedules are not supported by tule: start the crawler with StartCrawler."
        )
    out: Shape = dict(base) if base is not None else {k: v for k, v in DEFAULTS.items()}
    for member in SETTABLE:
        if request.get(member) is not None:
            out[member] = request[member]
    out["SchemaChangePolicy"] = DEFAULTS["SchemaChangePolicy"] | (
        out.get("SchemaChangePolicy") or {}
    )
    out["RecrawlPolicy"] = DEFAULTS["RecrawlPolicy"] | (out.get("RecrawlPolicy") or {})
    out["Targets"] = _normal_targets(out.get("Targets") or {})
    _check_targets(out["Targets"])
    _check_policies(out)
    _check_configuration(out.get("Configuration"))
    return out


def _normal_targets(targets: Shape) -> Shape:
    """Targets as GetCrawler shows them: every kind listed, every S3 target with Exclusions."""
    out: Shape = {"S3Targets": [{"Exclusions": []} | t for t in targets.get("S3Targets") or []]}
    for kind in _OTHER_TARGETS:
        out[kind] = list(targets.get(kind) or [])
    return out


def _check_targets(targets: Shape) -> None:
    for kind in _OTHER_TARGETS:
        if targets.get(kind):
            raise invalid_input(f"{kind} are not supported by tule: tule crawls S3Targets only.")
    s3_targets = targets.get("S3Targets") or []
    if not s3_targets:
        raise invalid_input("Crawler must have at least one target: S3Targets is empty.")
    for target in s3_targets:
        if not target.get("Path"):
            raise invalid_input("S3Target Path is required.")
        S3Path.parse(target["Path"])
        if target.get("EventQueueArn"):
            raise invalid_input("S3 event mode (EventQueueArn) is not supported by tule.")


def _check_policies(out: Shape) -> None:
    recrawl = out["RecrawlPolicy"].get("RecrawlBehavior")
    if recrawl == "CRAWL_EVENT_MODE":
        raise invalid_input("RecrawlBehavior CRAWL_EVENT_MODE is not supported by tule.")
    if recrawl == "CRAWL_NEW_FOLDERS_ONLY":
        policy = out["SchemaChangePolicy"]
        if policy.get("UpdateBehavior") != "LOG" or policy.get("DeleteBehavior") != "LOG":
            # AWS: incremental crawls only add; they may not change or delete anything.
            raise invalid_input(
                'The SchemaChangePolicy for "Crawl new folders only" Amazon S3 target can '
                "have only LOG DeleteBehavior value and LOG UpdateBehavior value."
            )


def configuration(text: str | None) -> Shape:
    """The crawler's Configuration JSON as a dict ({} when unset)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise invalid_input("Crawler configuration not valid: it is not valid JSON.") from None
    if not isinstance(value, dict):
        raise invalid_input("Crawler configuration not valid: it must be a JSON object.")
    return value


def _check_configuration(text: str | None) -> None:
    config = configuration(text)
    grouping = config.get("Grouping") or {}
    policy = grouping.get("TableGroupingPolicy")
    if policy is not None and policy != "CombineCompatibleSchemas":
        raise invalid_input(
            f"Crawler configuration not valid: unknown TableGroupingPolicy {policy}."
        )
    level = grouping.get("TableLevelConfiguration")
    if level is not None and (not isinstance(level, int) or level < 1):
        raise invalid_input(
            "Crawler configuration not valid: TableLevelConfiguration must be a positive integer."
        )


def combine_compatible(config_text: str | None) -> bool:
    grouping = configuration(config_text).get("Grouping") or {}
    return grouping.get("TableGroupingPolicy") == "CombineCompatibleSchemas"


def table_level(config_text: str | None) -> int | None:
    grouping = configuration(config_text).get("Grouping") or {}
    level = grouping.get("TableLevelConfiguration")
    return level if isinstance(level, int) else None
