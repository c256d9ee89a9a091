"""Lambda entry point: each announced source object becomes a load of the table and snapshot."""

from __future__ import annotations

import os
import uuid
from typing import Any

from loader import events
from loader.errors import LoaderError
from loader.load import FAILED, Loader, LoadResult
from loader.settings import from_environment
from loader.telemetry import SERVICE, log, metrics, tracer

_loader: Loader | None = None


def _current_loader() -> Loader:
    """One loader per warm container: settings read and clients created once."""
    global _loader
    if _loader is None:
        _loader = Loader.from_settings(from_environment(os.environ))
    return _loader


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point; a script or test outside Lambda may pass a partial context, or None."""
    return load_announced_objects(event, InvocationContext(context))


@log.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def load_announced_objects(event: dict[str, Any], context: InvocationContext) -> dict[str, Any]:
    try:
        loader = _current_loader()
        created, skipped = events.decode(event)
        sources, ignored = events.split_sources(created, loader.settings.source_filter())
    except LoaderError as error:
        log.error("invocation rejected", error=str(error))
        raise
    for item in skipped + ignored:
        log.info("object ignored", object=item.what, reason=item.reason)
    return {"loads": [_load(loader, source, context).as_json() for source in sources]}


@tracer.capture_method(capture_response=False)
def _load(loader: Loader, created: events.ObjectCreated, context: InvocationContext) -> LoadResult:
    """One load, in its own trace subsegment annotated with the source object and the outcome."""
    source = created.describe()
    tracer.put_annotation(key="source", value=source)
    outcome = FAILED  # unless the load returns
    try:
        # Every line logged during the load names its source object.
        with log.append_context_keys(source=source):
            result = loader.load(created, context)
        outcome = result.outcome
        return result
    finally:
        tracer.put_annotation(key="outcome", value=outcome)


class InvocationContext:
    """Lambda's context, with every attribute Powertools reads even when the caller's lacks it."""

    def __init__(self, context: Any):
        self._context = context
        self.function_name = (
            getattr(context, "function_name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or SERVICE
        )
        self.memory_limit_in_mb = getattr(context, "memory_limit_in_mb", None) or os.environ.get(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
        )
        self.invoked_function_arn = getattr(context, "invoked_function_arn", None)
        # Outside Lambda a load still needs an id: it owns the lease and names the marker's load.
        self.aws_request_id = str(getattr(context, "aws_request_id", None) or f"local-{uuid.uuid4()}")

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_remaining_time_in_millis, ...) is the caller's context's own.
        return getattr(self._context, name)
