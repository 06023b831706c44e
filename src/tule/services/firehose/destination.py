"""The S3 destination's configuration: defaults filled in, AWS's rules checked, updates merged.

A destination is kept as the AWS shape `ExtendedS3DestinationDescription` (a plain dict with
every default present), so describing it is a copy; the legacy `S3DestinationConfiguration` is
the same thing with fewer members. Accessors below read the parts delivery needs.
"""

from __future__ import annotations

import base64
import copy
import zoneinfo
from dataclasses import dataclass
from typing import Any

import jq

from tule.services.firehose import prefixes
from tule.services.firehose.errors import invalid_argument

MiB = 1024 * 1024
Shape = dict[str, Any]

DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_S = 300
# Format conversion and dynamic partitioning write big columnar or many small objects: AWS
# requires (and defaults to) large buffers for them.
LARGE_MIN_SIZE_MB = 64
LARGE_DEFAULT_SIZE_MB = 128
DYNAMIC_MIN_INTERVAL_S = 60

_PROCESSOR_PARAMETERS = {
    "Lambda": {
        "LambdaArn",
        "NumberOfRetries",
        "RoleArn",
        "BufferSizeInMBs",
        "BufferIntervalInSeconds",
    },
    "MetadataExtraction": {"MetadataExtractionQuery", "JsonParsingEngine"},
    "RecordDeAggregation": {"SubRecordType", "Delimiter"},
    "AppendDelimiterToRecord": {"Delimiter"},
    "Decompression": {"CompressionFormat"},
    "CloudWatchLogProcessing": {"DataMessageExtraction"},
}
_UPDATABLE = (
    "RoleARN",
    "BucketARN",
    "Prefix",
    "ErrorOutputPrefix",
    "BufferingHints",
    "CompressionFormat",
    "EncryptionConfiguration",
    "CloudWatchLoggingOptions",
    "ProcessingConfiguration",
    "S3BackupMode",
    "DataFormatConversionConfiguration",
    "DynamicPartitioningConfiguration",
    "FileExtension",
    "CustomTimeZone",
)


@dataclass(frozen=True)
class LambdaProcessor:
    """The Lambda processor's parameters, defaults filled in."""

    arn: str
    retries: int
    buffer_bytes: int
    interval_s: float


def _plain(config: Shape) -> Shape:
    """An S3DestinationDescription: the members every S3 destination has, defaults filled."""
    out: Shape = {"RoleARN": config["RoleARN"], "BucketARN": config["BucketARN"]}
    for member in ("Prefix", "ErrorOutputPrefix"):
        if member in config:
            out[member] = config[member]
    out["BufferingHints"] = dict(config.get("BufferingHints") or {})
    out["CompressionFormat"] = config.get("CompressionFormat") or "UNCOMPRESSED"
    out["EncryptionConfiguration"] = config.get("EncryptionConfiguration") or {
        "NoEncryptionConfig": "NoEncryption"
    }
    out["CloudWatchLoggingOptions"] = config.get("CloudWatchLoggingOptions") or {"Enabled": False}
    return out


def normalize(config: Shape) -> Shape:
    """An ExtendedS3DestinationConfiguration (or legacy S3DestinationConfiguration) as its
    description, defaults filled in and AWS's rules checked."""
    out = _plain(config)
    out["ProcessingConfiguration"] = config.get("ProcessingConfiguration") or {
        "Enabled": False,
        "Processors": [],
    }
    out["S3BackupMode"] = config.get("S3BackupMode") or "Disabled"
    backup = config.get("S3BackupConfiguration") or config.get("S3BackupDescription")
    if backup is not None:
        out["S3BackupDescription"] = _plain(backup)
    conversion = config.get("DataFormatConversionConfiguration")
    if conversion is not None:
        conversion = copy.deepcopy(conversion)
        conversion.setdefault("Enabled", True)
        schema = conversion.get("SchemaConfiguration")
        if schema is not None:
            schema.setdefault("VersionId", "LATEST")
        out["DataFormatConversionConfiguration"] = conversion
    dynamic = config.get("DynamicPartitioningConfiguration")
    if dynamic is not None:
        dynamic = copy.deepcopy(dynamic)
        dynamic.setdefault("Enabled", False)
        if dynamic["Enabled"]:
            dynamic.setdefault("RetryOptions", {"DurationInSeconds": 300})
        out["DynamicPartitioningConfiguration"] = dynamic
    for member in ("FileExtension", "CustomTimeZone"):
        if member in config:
            out[member] = config[member]
    _fill_buffering(out)
    validate(out)
    return out


def merge(current: Shape, update: Shape) -> Shape:
    """`current` with the members an ExtendedS3DestinationUpdate (or S3DestinationUpdate) sets."""
    merged = copy.deepcopy(current)
    for member in _UPDATABLE:
        if member in update:
            merged[member] = copy.deepcopy(update[member])
    if "BufferingHints" in update:
        merged["BufferingHints"] = dict(update["BufferingHints"])
    if "S3BackupUpdate" in update:
        backup = (merged.get("S3BackupDescription") or {}) | update["S3BackupUpdate"]
        if "RoleARN" not in backup or "BucketARN" not in backup:
            raise invalid_argument("S3BackupUpdate needs RoleARN and BucketARN.")
        merged["S3BackupDescription"] = _plain(backup)
    return normalize(merged)


def _fill_buffering(dest: Shape) -> None:
    hints = dest["BufferingHints"]
    if ("SizeInMBs" in hints) != ("IntervalInSeconds" in hints):
        raise invalid_argument(
            "BufferingHints must specify both SizeInMBs and IntervalInSeconds, or neither."
        )
    large = conversion_enabled(dest) or dynamic_partitioning(dest)
    hints.setdefault("SizeInMBs", LARGE_DEFAULT_SIZE_MB if large else DEFAULT_SIZE_MB)
    hints.setdefault("IntervalInSeconds", DEFAULT_INTERVAL_S)
    backup = dest.get("S3BackupDescription")
    if backup is not None:
        backup_hints = backup["BufferingHints"]
        backup_hints.setdefault("SizeInMBs", DEFAULT_SIZE_MB)
        backup_hints.setdefault("IntervalInSeconds", DEFAULT_INTERVAL_S)


def validate(dest: Shape) -> None:
    hints = dest["BufferingHints"]
    if conversion_enabled(dest):
        if hints["SizeInMBs"] < LARGE_MIN_SIZE_MB:
            raise invalid_argument(
                f"BufferingHints.SizeInMBs must be at least {LARGE_MIN_SIZE_MB} when data "
                "format conversion is enabled."
            )
        if dest["CompressionFormat"] != "UNCOMPRESSED":
            raise invalid_argument(
                "CompressionFormat must be set to UNCOMPRESSED when data format conversion is "
                "enabled; set the compression in the serializer instead."
            )
        _check_conversion(dest["DataFormatConversionConfiguration"])
    dynamic = dynamic_partitioning(dest)
    if dynamic:
        if hints["SizeInMBs"] < LARGE_MIN_SIZE_MB:
            raise invalid_argument(
                f"BufferingHints.SizeInMBs must be at least {LARGE_MIN_SIZE_MB} when dynamic "
                "partitioning is enabled."
            )
        if hints["IntervalInSeconds"] < DYNAMIC_MIN_INTERVAL_S:
            raise invalid_argument(
                f"BufferingHints.IntervalInSeconds must be at least {DYNAMIC_MIN_INTERVAL_S} "
                "when dynamic partitioning is enabled."
            )
    prefixes.validate(
        dest.get("Prefix", ""), dest.get("ErrorOutputPrefix", ""), dynamic_partitioning=dynamic
    )
    zone = dest.get("CustomTimeZone")
    if zone:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise invalid_argument(f"CustomTimeZone {zone} is not a supported time zone.") from None
    if dest["S3BackupMode"] == "Enabled" and "S3BackupDescription" not in dest:
        raise invalid_argument("S3BackupConfiguration is required when S3BackupMode is Enabled.")
    _check_processors(dest, dynamic)


def _check_conversion(conversion: Shape) -> None:
    schema = conversion.get("SchemaConfiguration") or {}
    for member in ("DatabaseName", "TableName", "RoleARN"):
        if not schema.get(member):
            raise invalid_argument(
                f"DataFormatConversionConfiguration.SchemaConfiguration.{member} is required."
            )
    deserializer = (conversion.get("InputFormatConfiguration") or {}).get("Deserializer") or {}
    if len(deserializer) != 1:
        raise invalid_argument(
            "InputFormatConfiguration.Deserializer must specify exactly one of OpenXJsonSerDe "
            "and HiveJsonSerDe."
        )
    serializer = (conversion.get("OutputFormatConfiguration") or {}).get("Serializer") or {}
    if len(serializer) != 1:
        raise invalid_argument(
            "OutputFormatConfiguration.Serializer must specify exactly one of ParquetSerDe and "
            "OrcSerDe."
        )


def _check_processors(dest: Shape, dynamic: bool) -> None:
    config = dest["ProcessingConfiguration"]
    if not config.get("Enabled"):
        return
    seen: set[str] = set()
    for processor in config.get("Processors") or []:
        kind = processor["Type"]
        if kind in seen:
            raise invalid_argument(f"Processor type {kind} may appear only once.")
        seen.add(kind)
        params = parameters(processor)
        unknown = set(params) - _PROCESSOR_PARAMETERS[kind]
        if unknown:
            raise invalid_argument(
                f"Parameter {sorted(unknown)[0]} is not valid for processor type {kind}."
            )
        if kind in ("Decompression", "CloudWatchLogProcessing"):
            raise invalid_argument(f"Processor type {kind} is not supported by tule yet.")
        if kind == "Lambda":
            lambda_processor(processor)
        elif kind == "MetadataExtraction":
            if not dynamic:
                raise invalid_argument(
                    "The MetadataExtraction processor requires dynamic partitioning to be enabled."
                )
            engine = params.get("JsonParsingEngine", "JQ-1.6")
            if engine != "JQ-1.6":
                raise invalid_argument(f"JsonParsingEngine {engine} is not supported; use JQ-1.6.")
            query = params.get("MetadataExtractionQuery")
            if not query:
                raise invalid_argument(
                    "MetadataExtractionQuery is required for MetadataExtraction."
                )
            try:
                jq.compile(query)
            except ValueError as err:
                raise invalid_argument(f"MetadataExtractionQuery is not valid JQ: {err}") from None
        elif kind == "RecordDeAggregation":
            sub = params.get("SubRecordType", "JSON")
            if sub not in ("JSON", "DELIMITED"):
                raise invalid_argument("SubRecordType must be JSON or DELIMITED.")
            if sub == "DELIMITED":
                delimiter(params)
        elif kind == "AppendDelimiterToRecord" and "Delimiter" in params:
            delimiter(params)


def parameters(processor: Shape) -> dict[str, str]:
    return {p["ParameterName"]: p["ParameterValue"] for p in processor.get("Parameters") or []}


def delimiter(params: dict[str, str], default: bytes = b"\n") -> bytes:
    value = params.get("Delimiter")
    if value is None:
        return default
    try:
        decoded = base64.b64decode(value, validate=True)
    except ValueError:
        raise invalid_argument("Delimiter must be base64-encoded.") from None
    if not decoded:
        raise invalid_argument("Delimiter must not be empty.")
    return decoded


def lambda_processor(processor: Shape) -> LambdaProcessor:
    params = parameters(processor)
    arn = params.get("LambdaArn")
    if not arn:
        raise invalid_argument("LambdaArn is required for a Lambda processor.")
    try:
        retries = int(params.get("NumberOfRetries", "3"))
        size_mb = float(params.get("BufferSizeInMBs", "1"))
        interval = float(params.get("BufferIntervalInSeconds", "60"))
    except ValueError:
        raise invalid_argument("Lambda processor parameters must be numbers.") from None
    if not 0 <= retries <= 300:
        raise invalid_argument("NumberOfRetries must be between 0 and 300.")
    if not 0.2 <= size_mb <= 3:
        raise invalid_argument("BufferSizeInMBs must be between 0.2 and 3.")
    if not 0 <= interval <= 900:
        raise invalid_argument("BufferIntervalInSeconds must be between 0 and 900.")
    return LambdaProcessor(arn, retries, int(size_mb * MiB), interval)


def processors(dest: Shape) -> dict[str, Shape]:
    """The enabled processors by type."""
    config = dest.get("ProcessingConfiguration") or {}
    if not config.get("Enabled"):
        return {}
    return {p["Type"]: p for p in config.get("Processors") or []}


def conversion_enabled(dest: Shape) -> bool:
    conversion = dest.get("DataFormatConversionConfiguration")
    return bool(conversion and conversion.get("Enabled", True))


def dynamic_partitioning(dest: Shape) -> bool:
    return bool((dest.get("DynamicPartitioningConfiguration") or {}).get("Enabled"))


def bucket_name(bucket_arn: str) -> str:
    return bucket_arn.split(":::", 1)[1]


def buffer_limits(dest: Shape) -> tuple[int, float]:
    """(size in bytes, interval in seconds) at which a buffer is flushed."""
    hints = dest["BufferingHints"]
    return hints["SizeInMBs"] * MiB, float(hints["IntervalInSeconds"])
