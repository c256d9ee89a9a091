"""The data-api component package's provider: DataApi for programs in every Pulumi language.

The Pulumi CLI runs this directory's plugin as `python <this directory> <engine address>` (its
PulumiPlugin.yaml says python); `component_provider_host` infers the schema from DataApi's type
annotations and docstrings and serves it, and Construct builds a DataApi for the calling program.
"""

import sys
from pathlib import Path

# The plugin runs from this directory of a clone of the repository; the components sit beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi.provider.experimental import component_provider_host  # noqa: E402

from components import __version__  # noqa: E402
from components.data_api import DataApi  # noqa: E402

PACKAGE = "data-api"

if __name__ == "__main__":
    component_provider_host([DataApi], name=PACKAGE, version=__version__)
