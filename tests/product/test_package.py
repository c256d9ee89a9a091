"""The data-api wheel: built from pyproject.toml, installed away from the repository, DataApi imported and declared.

The wheel is built without build isolation (setuptools is pinned in requirements-dev.txt), so the
test needs no network and takes a few seconds; the install is pip's, into a directory of its own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from harness import ROOT

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of what pyproject.toml packages, so setuptools' build/ stays out of the checkout.
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    shutil.copy(ROOT / "pyproject.toml", source)
    for directory in ("components", "lambda"):
        shutil.copytree(ROOT / directory, source / directory, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), str(source)],
                   check=True, capture_output=True, cwd=out)
    [built] = out.glob("data_api-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    subprocess.run([*PIP, "install", "--no-deps", "--no-index", "--quiet", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, cwd=site)
    return site


def test_the_wheel_holds_the_components_the_loader_and_the_templates_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    files = {name for name in names if ".dist-info/" not in name}
    expected = {f"data_api/{p.name}" for p in (ROOT / "components").glob("*.py")}
    expected |= {f"data_api/templates/{p.name}" for p in (ROOT / "components" / "templates").glob("*.vtl")}
    expected |= {f"data_api/loader_code/{p.relative_to(ROOT / 'lambda').as_posix()}"
                 for p in (ROOT / "lambda").rglob("*.py") if "__pycache__" not in p.parts}
    assert files == expected, sorted(files ^ expected)


def run_outside(installed: Path, code: str) -> subprocess.CompletedProcess:
    """Python with only the installed package added to its path, in a directory outside the repository."""
    env = {"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=installed.parent, env=env, timeout=300)


def test_another_program_imports_and_declares_data_api_from_the_installed_package(installed):
    result = run_outside(installed, '''
        import importlib.util, json
        import pulumi

        class Mocks(pulumi.runtime.Mocks):
            def new_resource(self, args):
                return f"{args.name}-id", {**args.inputs, "arn": f"arn:aws:x:us-east-1:123456789012:{args.name}",
                                           "name": args.inputs.get("name", args.name)}
            def call(self, args):
                return {"accountId": "123456789012", "region": "us-east-1", "partition": "aws"}

        declared = []
        pulumi.runtime.set_mocks(Mocks(), project="reports", stack="dev", preview=False)

        from data_api import DataApi, DataApiArgs
        import data_api.loader as loader

        assert importlib.util.find_spec("components") is None, "the repository leaked onto the path"
        args: DataApiArgs = {"source": {"bucket": "acme-stock", "key": "stock.csv"},
                             "customers": [{"name": "globex", "quota": {"limit": 10, "period": "DAY"},
                                            "throttle": {"rate_limit": 1, "burst_limit": 2}}]}

        @pulumi.runtime.test
        def declare():
            product = DataApi("stock", args)
            return product.loader_function_name.apply(lambda name: print(json.dumps({
                "function": name, "code_dir": str(loader.CODE_DIR), "module": DataApi.__module__,
                "archive": sorted(loader.package(loader.CODE_DIR).assets)})))

        declare()
    ''')
    assert result.returncode == 0, result.stderr[-3000:]
    report = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert report["function"] == "reports-dev-stock-loader", report
    assert report["module"] == "data_api.data_api", report
    assert report["code_dir"] == str(installed / "data_api" / "loader_code"), report
    assert "handler.py" in report["archive"] and "loader/load.py" in report["archive"], report


def test_the_python_example_runs_from_the_installed_package(installed):
    # examples/python/__main__.py as `pulumi up` would run it, under Pulumi's mock engine.
    example = ROOT / "examples" / "python" / "__main__.py"
    result = run_outside(installed, f'''
        import asyncio, json, runpy
        import pulumi

        class Mocks(pulumi.runtime.Mocks):
            def new_resource(self, args):
                return f"{{args.name}}-id", {{**args.inputs, "arn": f"arn:aws:x:us-east-1:123456789012:{{args.name}}",
                                             "name": args.inputs.get("name", args.name), "value": "key-value",
                                             "invokeUrl": f"https://{{args.name}}.execute-api.amazonaws.com/v1"}}
            def call(self, args):
                return {{"accountId": "123456789012", "region": "us-east-1", "partition": "aws"}}

        pulumi.runtime.set_mocks(Mocks(), project="data-products", stack="dev", preview=False)

        @pulumi.runtime.test
        def run():
            runpy.run_path({str(example)!r}, run_name="__main__")
            outputs = pulumi.runtime.get_root_resource().outputs
            async def show():
                values = {{key: await pulumi.Output.from_input(value).future() for key, value in outputs.items()}}
                print(json.dumps(values, sort_keys=True))
            return pulumi.Output.from_input(asyncio.ensure_future(show()))

        run()
    ''')
    assert result.returncode == 0, result.stderr[-3000:]
    exports = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert exports["employeesSourceBucket"] == "acme-hr-exports"
    assert exports["inventorySourceBucket"] == "acme-inventory-exports"
    assert exports["employeesRouteUrls"]["item"].endswith("/v1/departments/{department}"), exports
    assert exports["inventoryRouteUrls"]["item"].endswith("/v1/warehouses/{warehouse}"), exports
    assert set(exports["inventoryApiKeys"]) == {"globex"} and set(exports["employeesApiKeys"]) == {"globex", "support"}
