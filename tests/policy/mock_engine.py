"""The repository's mock engine harness (tests/conftest.py), however pytest named its module.

Test directories without `__init__.py` each import their conftest.py as the module `conftest`, so
after tests/loader/ is collected `import conftest` finds that one; this loads the root harness by path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _root_harness() -> ModuleType:
    loaded = sys.modules.get("conftest")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == ROOT_CONFTEST:
        return loaded
    spec = importlib.util.spec_from_file_location("data_api_mock_engine", ROOT_CONFTEST)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _root_harness()
ROOT = harness.ROOT
Program = harness.Program
RecordingMonitor = harness.RecordingMonitor
run_program = harness.run_program
stack_config = harness.stack_config
to_engine_config = harness.to_engine_config
