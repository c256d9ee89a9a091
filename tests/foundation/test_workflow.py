"""The users' CI workflow: a daily run deploys prod, so a key's expiry takes effect unattended."""

from __future__ import annotations

import yaml

from harness import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "pulumi.yml"


def workflow() -> dict:
    document = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as true.
    document["on"] = document.pop(True, document.get("on"))
    return document


def test_the_workflow_runs_every_day_and_deploys_prod_on_that_run():
    document = workflow()
    schedules = document["on"].get("schedule") or []
    assert len(schedules) == 1, f"{WORKFLOW.name}: on.schedule must hold one daily cron"
    minute, hour, day, month, weekday = schedules[0]["cron"].split()
    assert (day, month, weekday) == ("*", "*", "*") and minute.isdigit() and hour.isdigit(), schedules
    condition = document["jobs"]["deploy"]["if"]
    assert "github.event_name == 'schedule'" in condition, f"{WORKFLOW.name}: deploy prod skips the daily run"
    assert "github.ref == 'refs/heads/main'" in condition, f"{WORKFLOW.name}: deploy prod from main only"
    assert "github.event_name == 'pull_request'" in document["jobs"]["preview"]["if"], "previews stay on pull requests"
