"""data-api's components; installed from pyproject.toml, this package is `data_api`.

`from data_api import DataApi, DataApiArgs` imports the component on first use, so a script that
needs only the config or the OpenAPI document never loads the AWS provider's SDK.
"""

__version__ = "0.1.0"
__all__ = ["DataApi", "DataApiArgs"]


def __getattr__(name: str):
    if name in __all__:
        from . import data_api

        return getattr(data_api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
