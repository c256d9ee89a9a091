"""Lambda entry point: each announced source object becomes a load of the table and snapshot."""

from __future__ import annotations

import os
from typing import Any

from loader import events
from loader.errors import LoaderError
from loader.load import Loader
from loader.logs import log
from loader.settings import from_environment

_loader: Loader | None = None


def _current_loader() -> Loader:
    """One loader per warm container: settings read and clients created once."""
    global _loader
    if _loader is None:
        _loader = Loader.from_settings(from_environment(os.environ))
    return _loader


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        loader = _current_loader()
        created, skipped = events.decode(event)
        sources, ignored = events.split_sources(created, loader.settings.source_filter())
    except LoaderError as error:
        log.error("invocation rejected", error=str(error))
        raise
    for item in skipped + ignored:
        log.info("object ignored", object=item.what, reason=item.reason)
    return {"loads": [loader.load(source, context).as_json() for source in sources]}
