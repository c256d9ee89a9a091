"""CloudWatch embedded metric format (EMF): one raw JSON object per line on stdout."""

from __future__ import annotations

import json
import sys
from typing import Mapping

# Metric name -> unit, for every metric the loader emits.
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
DIMENSION = "Service"


def emf_document(namespace: str, service: str, values: Mapping[str, float], timestamp_ms: int) -> dict:
    """One EMF document: the values at the root, described under `_aws`, with one dimension."""
    unknown = set(values) - set(UNITS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; known: {sorted(UNITS)}")
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
                }
            ],
        },
        DIMENSION: service,
        **values,
    }


def emit(document: dict) -> None:
    """Prints an EMF document as one line on stdout.

    CloudWatch turns a log event into metrics only when the event *is* the JSON object; a
    logger would nest it under `message`, so this bypasses logging on purpose.
    """
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()
