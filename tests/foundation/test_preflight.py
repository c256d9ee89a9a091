"""scripts/preflight.sh, the first step of `make test`: every missing tool named with its install command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness import ROOT

PREFLIGHT = ROOT / "scripts" / "preflight.sh"
# What the script itself runs on; everything else is left out of PATH on purpose.
SHELL_TOOLS = ("bash", "dirname", "sed", "readlink", "sort", "tail", "cat")


def bare_path(tmp_path: Path, **extra: str) -> str:
    """A PATH with only the shell's tools, plus `name=script` stand-ins."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in SHELL_TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in extra.items():
        stand_in = bin_dir / name
        stand_in.write_text(f"#!{shutil.which('bash')}\n{body}\n")
        stand_in.chmod(0o755)
    return str(bin_dir)


def preflight(path: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": path, "HOME": os.environ.get("HOME", "/"), "PYTHON": sys.executable, **env}
    return subprocess.run([shutil.which("bash"), str(PREFLIGHT)], env=environment, capture_output=True, text=True,
                          timeout=60, check=False)


def test_every_missing_tool_is_named_with_how_to_install_it(tmp_path):
    run = preflight(bare_path(tmp_path))

    assert run.returncode == 1, f"exit {run.returncode}\n{run.stdout}{run.stderr}"
    report = run.stderr
    for tool in ("GNU make", "Python 3.13, for LocalStack", "Java 17 or newer", "javac", "jar", "npm", "sha256sum",
                 "ps"):
        assert f"  - {tool}" in report, f"{tool} not named:\n{report}"
    for install in ("sudo apt-get install python3.13 python3.13-venv", "brew install python@3.13",
                    "sudo apt-get install openjdk-21-jdk-headless", "brew install openjdk@21",
                    "sudo apt-get install npm", "brew install node", "sudo apt-get install make"):
        assert install in report, f"{install!r} missing:\n{report}"
    assert report.count("Debian/Ubuntu:") == report.count("macOS:") == 8, report
    assert "Python 3.13 not found (LocalStack 2026.3.0 runs on 3.13)" in report, report
    assert "Python 3.11 or newer" not in report, f"{sys.executable} is a usable program Python:\n{report}"
    assert run.stdout == "", run.stdout


def test_a_python_313_given_in_localstack_python_must_be_one(tmp_path):
    run = preflight(bare_path(tmp_path), LOCALSTACK_PYTHON=sys.executable)

    assert run.returncode == 1
    assert f"LOCALSTACK_PYTHON='{sys.executable}' is not a working Python 3.13" in run.stderr, run.stderr


def test_a_java_older_than_17_is_named_with_its_version(tmp_path):
    old_java = 'echo "    java.specification.version = 11" >&2'
    run = preflight(bare_path(tmp_path, java=old_java))

    assert run.returncode == 1
    assert "is Java '11'; DynamoDB Local needs Java 17 or newer" in run.stderr, run.stderr


def test_a_program_python_that_does_not_run_is_named(tmp_path):
    run = preflight(bare_path(tmp_path), PYTHON=str(tmp_path / "no-python"))

    assert "  - Python 3.11 or newer, for the program and the tests:" in run.stderr, run.stderr
    assert "brew install python@3.11" in run.stderr, run.stderr


def test_this_machine_has_every_tool():
    run = preflight(os.environ["PATH"], **{k: v for k, v in os.environ.items() if k == "LOCALSTACK_PYTHON"})

    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("preflight: found Python "), run.stdout


def test_make_test_runs_the_preflight_before_building_the_virtualenv():
    # -W: as if a requirements file had changed, so the virtualenv's commands are listed too.
    run = subprocess.run(["make", "-n", "-C", str(ROOT), "--no-print-directory", "-W", "requirements.txt", "test"],
                         capture_output=True, text=True, timeout=60, check=False)

    commands = run.stdout.splitlines()
    assert run.returncode == 0, run.stderr
    first_venv = next(i for i, line in enumerate(commands) if "-m venv" in line)
    assert any("scripts/preflight.sh" in line for line in commands[:first_venv]), run.stdout
