"""The loader's logger, metrics and tracer: Powertools for AWS Lambda, configured once.

Powertools comes from AWS's public Lambda layer (see components/loader.py), not from the
deployment package.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any, Mapping

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from loader.settings import metrics_namespace_from, service_name_from

# Metric name -> unit, for every metric a load emits (the alarms and dashboards read these).
UNITS = {
    "RowsLoaded": "Count",
    "KeysWritten": "Count",
    "KeysUnchanged": "Count",
    "KeysDeleted": "Count",
    "LoadSucceeded": "Count",
    "LoadFailed": "Count",
    "LoadDurationMs": "Milliseconds",
    "CacheFlushFailed": "Count",
}
# The metrics' one dimension. Powertools' own `service` dimension stays off (no service is given
# to Metrics), since an extra dimension would make new metrics the alarms do not read.
DIMENSION = "Service"

SERVICE = service_name_from(os.environ)

# Python's level names -> Lambda's, which its log-level filtering reads from a JSON line's `level`.
_LAMBDA_LEVEL_NAMES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class _LambdaLevelFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON line, with the level named as Lambda's log-level filtering reads it."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        level = log.get("level")
        log["level"] = _LAMBDA_LEVEL_NAMES.get(level, level)
        return super().serialize(log)


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time (the Lambda runtime, a redirect, a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record) + "\n")
        sys.stdout.flush()


# The level is Lambda's (AWS_LAMBDA_LOG_LEVEL), which Powertools reads when it is set.
log = Logger(
    service=SERVICE,
    logger_handler=_StdoutHandler(),
    logger_formatter=_LambdaLevelFormatter(
        # UTC with milliseconds and a Z, as the loader's lines always had: 2024-05-01T12:00:00.123Z
        datefmt="%Y-%m-%dT%H:%M:%S.%FZ",
        utc=True,
        log_record_order=["timestamp", "level", "logger", "message"],
        # Every key the loader's lines had before Powertools stays, for the queries that read them.
        logger="loader",
    ),
)

# Only botocore is patched: every S3 and DynamoDB call becomes an X-Ray subsegment. Outside Lambda
# (tests, the benchmark, local runs) Powertools turns tracing off by itself.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))

# The handler's metrics: the cold start metric, in the loader's namespace. Each load publishes
# its own document (publish_load_metrics), so the handler has nothing left to flush at its end;
# Powertools' documented way to keep it from warning about that on every invocation:
metrics = Metrics(namespace=metrics_namespace_from(os.environ))
warnings.filterwarnings("ignore", "No application metrics to publish*")


def publish_load_metrics(namespace: str, service: str, values: Mapping[str, float]) -> None:
    """Prints one load's metrics as one EMF document now, so a later timeout cannot lose them."""
    unknown = set(values) - set(UNITS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; known: {sorted(UNITS)}")
    load_metrics = Metrics(namespace=namespace)
    load_metrics.add_dimension(name=DIMENSION, value=service)
    for name, value in values.items():
        load_metrics.add_metric(name=name, unit=UNITS[name], value=value)
    load_metrics.flush_metrics()
