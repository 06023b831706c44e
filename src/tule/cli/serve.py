"""`tule serve`: uvicorn in front of the gateway, loopback-only unless authentication is on."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys

import uvicorn

from tule.aws.gateway import create_app
from tule.config import Settings, data_dir_from_env, load_keys


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir or data_dir_from_env(),
        auth=args.auth,
        keys=load_keys(args.keys_file) if args.auth else {},
        fsync=args.fsync == "on",
        # `--kinesis-limits on|off`: Kinesis per-shard throughput limits (on unless turned off).
        kinesis_throughput_limits=getattr(args, "kinesis_limits", "on") == "on",
    )


def serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if not settings.is_loopback and not settings.auth:
        print(
            f"tule: refusing to listen on {settings.host} without --auth: anyone who can reach "
            "it could read and write your data. Use --auth (with --keys-file or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or listen on 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    if settings.auth and not settings.keys:
        print(
            "tule: --auth needs access keys (--keys-file, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or TULE_ACCESS_KEYS=id:secret)",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    app = create_app(settings)
    print(
        f"tule listening on http://{settings.host}:{settings.port} "
        f"(data in {settings.data_dir}, auth {'on' if settings.auth else 'off'}, "
        f"fsync {'on' if settings.fsync else 'off'})",
        flush=True,
    )
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown: in-flight requests finish, then
    # the lifespan shutdown closes every service (flushes, stops background threads). It then
    # re-raises the signal to the handler that was there before; a no-op one lets us exit 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    # What is loaded by now (modules, botocore's service models, the gateway) lives as long as
    # the server: kept out of the collector's scans, a full collection no longer walks it
    # (measured 70-100 ms pauses while serving PutRecords, 0.73 -> 0.09 us per record).
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        lifespan="on",
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )
    print("tule stopped", flush=True)
    return 0
