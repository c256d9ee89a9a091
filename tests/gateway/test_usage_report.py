"""The usage report against GetUsage and GetUsagePlan as botocore's service model shapes them (Stubber)."""

from __future__ import annotations

import csv
import datetime
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from harness import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import usage_report  # noqa: E402

TODAY = datetime.date(2026, 12, 1)
NOVEMBER = ("2026-11-01", "2026-11-30")
OUTPUTS = {
    "apiBaseUrl": "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1",
    "usagePlanIds": {"globex": "plan-globex", "initech": "plan-initech"},
    "internalUsagePlanId": "plan-internal",
    "apiKeyIds": {
        "globex": {"default": "key-globex-old", "k2026-12": "key-globex-new"},
        "initech": {"default": "key-initech"},
        "dashboard": {"default": "key-dashboard"},
    },
    "apiKeys": "[secret]",
}


def daily(used: list[int], limit: int) -> list[list[int]]:
    """[used, remaining] per day, as GetUsage reports a quota drawn down over a period."""
    remaining, series = limit, []
    for count in used:
        remaining -= count
        series.append([count, remaining])
    return series


GLOBEX_OLD = [100 + day for day in range(30)]
GLOBEX_NEW = [0] * 20 + [50] * 10
DASHBOARD = [7] * 30


@pytest.fixture
def apigateway():
    client = boto3.client("apigateway", region_name="eu-west-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_plan(stubber: Stubber, plan_id: str, limit: int, period: str, offset: int = 0) -> None:
    stubber.add_response("get_usage_plan", {
        "id": plan_id, "name": f"data-api-prod-{plan_id}", "apiStages": [{"apiId": "a1b2c3d4e5", "stage": "v1"}],
        "throttle": {"rateLimit": 10.0, "burstLimit": 20}, "quota": {"limit": limit, "offset": offset, "period": period},
    }, {"usagePlanId": plan_id})


def expect_usage(stubber: Stubber, plan_id: str, items: dict, dates=NOVEMBER, position: str | None = None,
                 next_position: str | None = None) -> None:
    response = {"usagePlanId": plan_id, "startDate": dates[0], "endDate": dates[1], "items": items}
    if next_position:
        response["position"] = next_position
    params = {"usagePlanId": plan_id, "startDate": dates[0], "endDate": dates[1]}
    if position:
        params["position"] = position
    stubber.add_response("get_usage", response, params)


def november(stubber: Stubber) -> None:
    """Globex over two pages (one key each), initech with no traffic at all, one internal key."""
    expect_plan(stubber, "plan-globex", 1_000_000, "MONTH")
    expect_usage(stubber, "plan-globex", {"key-globex-old": daily(GLOBEX_OLD, 1_000_000)},
                 next_position="page-2-token")
    expect_usage(stubber, "plan-globex", {"key-globex-new": daily(GLOBEX_NEW, 1_000_000 - sum(GLOBEX_OLD))},
                 position="page-2-token")
    expect_plan(stubber, "plan-initech", 20_000, "DAY")
    expect_usage(stubber, "plan-initech", {})
    expect_usage(stubber, "plan-internal", {"key-dashboard": [[n, 0] for n in DASHBOARD]})


def write_outputs(tmp_path: Path, outputs: dict) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def run(tmp_path: Path, *args: str, client=None, today=TODAY, **kwargs) -> int:
    return usage_report.main([*args, "--out", str(tmp_path / "out")], client=client, today=today, **kwargs)


def test_a_month_as_csv_json_and_png(tmp_path, apigateway):
    client, stubber = apigateway
    november(stubber)
    assert run(tmp_path, "--month", "2026-11", "--outputs", str(write_outputs(tmp_path, OUTPUTS)),
               client=client) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["usage-2026-11.csv", "usage-2026-11.json", "usage-2026-11.png"]

    with (out / "usage-2026-11.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["customer", "key", "date", "requests", "remaining"]
    body = rows[1:]
    assert len(body) == 4 * 30, "a row per key per day"
    by_key = {}
    for customer, key, date, requests, remaining in body:
        by_key.setdefault((customer, key), []).append((date, requests, remaining))
    assert list(by_key) == [("globex", "default"), ("globex", "k2026-12"), ("initech", "default"),
                            ("internal:dashboard", "default")]
    assert [d for d, _, _ in by_key["globex", "default"]] == [f"2026-11-{n:02d}" for n in range(1, 31)]
    assert [int(r) for _, r, _ in by_key["globex", "default"]] == GLOBEX_OLD
    assert [int(r) for _, r, _ in by_key["globex", "k2026-12"]] == GLOBEX_NEW
    assert by_key["globex", "default"][0][2] == str(1_000_000 - 100)
    assert all(r == "0" and rem == "" for _, r, rem in by_key["initech", "default"]), "no traffic: 0, no remaining"
    assert [int(r) for _, r, _ in by_key["internal:dashboard", "default"]] == DASHBOARD

    document = json.loads((out / "usage-2026-11.json").read_text())
    assert (document["month"], document["startDate"], document["endDate"], document["complete"]) == (
        "2026-11", *NOVEMBER, True)
    assert len(document["rows"]) == 120
    assert document["rows"][0] == {"customer": "globex", "key": "default", "date": "2026-11-01", "requests": 100,
                                   "remaining": 999_900}
    globex = document["customers"]["globex"]
    total = sum(GLOBEX_OLD) + sum(GLOBEX_NEW)
    assert globex["requests"] == total and globex["keys"] == {"default": sum(GLOBEX_OLD), "k2026-12": sum(GLOBEX_NEW)}
    assert globex["quota"] == {"limit": 1_000_000, "period": "MONTH", "offset": 0}
    assert globex["share"] == round(total / 1_000_000, 6)
    initech = document["customers"]["initech"]
    assert (initech["requests"], initech["share"], initech["quota"]["period"]) == (0, 0.0, "DAY")
    dashboard = document["customers"]["internal:dashboard"]
    assert (dashboard["requests"], dashboard["quota"], dashboard["share"]) == (sum(DASHBOARD), None, None)

    png = (out / "usage-2026-11.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, "a rendered chart"


def test_the_chart_draws_a_line_per_customer_and_daily_quotas():
    first, last = datetime.date(2026, 11, 1), datetime.date(2026, 11, 3)
    rows = [usage_report.Row("globex", key, f"2026-11-0{day}", day * 10, None)
            for key in ("default", "k2") for day in (1, 2, 3)]
    rows += [usage_report.Row("initech", "default", f"2026-11-0{day}", 5, 100) for day in (1, 2, 3)]
    customers = {"globex": {"quota": {"limit": 1000, "period": "MONTH", "offset": 0}},
                 "initech": {"quota": {"limit": 20_000, "period": "DAY", "offset": 0}}}
    figure = usage_report.chart("2026-11", first, last, rows, customers)
    lines = {line.get_label(): list(line.get_ydata()) for line in figure.axes[0].get_lines()}
    assert lines["globex"] == [20, 40, 60], "one line per customer, its keys summed"
    assert lines["initech"] == [5, 5, 5]
    assert lines["initech quota (20,000/day)"] == [20_000, 20_000], "the quota drawn where the period is a day"
    assert not any("globex quota" in label for label in lines), "a MONTH quota is not a daily line"


def test_the_current_month_runs_to_today(tmp_path, apigateway):
    client, stubber = apigateway
    december = ("2026-12-01", "2026-12-05")
    outputs = {**OUTPUTS, "usagePlanIds": {"initech": "plan-initech"},
               "apiKeyIds": {"initech": {"default": "key-initech"}}}
    expect_plan(stubber, "plan-initech", 20_000, "DAY")
    expect_usage(stubber, "plan-initech", {"key-initech": daily([1, 2, 3, 4, 5], 20_000)[:5]}, dates=december)
    assert run(tmp_path, "--month", "2026-12", "--outputs", str(write_outputs(tmp_path, outputs)), client=client,
               today=datetime.date(2026, 12, 5)) == 0
    document = json.loads((tmp_path / "out" / "usage-2026-12.json").read_text())
    assert (document["endDate"], document["complete"]) == ("2026-12-05", False)
    assert [r["requests"] for r in document["rows"]] == [1, 2, 3, 4, 5]
    assert document["customers"]["initech"]["share"] == round(15 / (20_000 * 5), 6)


@pytest.mark.parametrize("month, message", [
    ("2027-01", "usage_report: --month 2027-01: is in the future (today is 2026-12-01 UTC); pick this month or "
                "an earlier one"),
    ("2026-13", "usage_report: --month '2026-13': not a month; use YYYY-MM, e.g. 2026-12"),
    ("Nov 2026", "usage_report: --month 'Nov 2026': not a month; use YYYY-MM, e.g. 2026-12"),
    ("2026-1", "usage_report: --month '2026-1': not a month; use YYYY-MM, e.g. 2026-12"),
])
def test_a_bad_month_is_one_line(tmp_path, apigateway, capsys, month, message):
    client, _ = apigateway
    assert run(tmp_path, "--month", month, "--outputs", str(write_outputs(tmp_path, OUTPUTS)), client=client) == 2
    assert capsys.readouterr().err.splitlines() == [message]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("outputs, message", [
    ({"apiBaseUrl": OUTPUTS["apiBaseUrl"], "usagePlanIds": OUTPUTS["usagePlanIds"]},
     "no apiKeyIds output; deploy this version of the program (pulumi up) first"),
    ({}, "no usagePlanIds or apiKeyIds output; deploy this version of the program (pulumi up) first"),
    ({**OUTPUTS, "internalUsagePlanId": None},
     "stack outputs: internal keys are listed in apiKeyIds but there is no internalUsagePlanId output"),
    ({**OUTPUTS, "apiKeyIds": {"globex": OUTPUTS["apiKeyIds"]["globex"]}},
     "stack outputs: customer 'initech' is in usagePlanIds but has no keys in apiKeyIds; deploy this version "
     "of the program (pulumi up) first"),
])
def test_a_stack_without_the_outputs_is_one_line(tmp_path, apigateway, capsys, outputs, message):
    client, _ = apigateway
    path = write_outputs(tmp_path, outputs)
    assert run(tmp_path, "--month", "2026-11", "--outputs", str(path), client=client) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("usage_report: ") and err[0].endswith(message), err


def test_unreadable_outputs_are_one_line(tmp_path, capsys):
    (tmp_path / "outputs.json").write_text("Current stack outputs (3):")
    assert run(tmp_path, "--month", "2026-11", "--outputs", str(tmp_path / "outputs.json")) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"usage_report: --outputs {tmp_path / 'outputs.json'}: not the JSON of `pulumi stack output --json` "
        "(Expecting value)"]
    assert run(tmp_path, "--month", "2026-11", "--outputs", str(tmp_path / "missing.json")) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"usage_report: --outputs {tmp_path / 'missing.json'}: cannot be read (No such file or directory)"]


def test_outputs_of_a_named_stack_come_from_the_pulumi_cli(tmp_path, apigateway, monkeypatch):
    client, stubber = apigateway
    november(stubber)
    calls = []

    def pulumi(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout=json.dumps(OUTPUTS), stderr="")

    monkeypatch.setattr(usage_report.shutil, "which", lambda name: f"/usr/local/bin/{name}")
    assert run(tmp_path, "--month", "2026-11", "--stack", "prod", client=client, run=pulumi) == 0
    assert calls == [["pulumi", "stack", "output", "--json", "--stack", "prod"]]


def test_a_failing_or_missing_pulumi_cli_is_one_line(tmp_path, monkeypatch, capsys):
    def pulumi(command, **kwargs):
        return subprocess.CompletedProcess(command, 255, stdout="",
                                           stderr="warning: A new version\nerror: no stack named 'prod' found\n")

    monkeypatch.setattr(usage_report.shutil, "which", lambda name: f"/usr/local/bin/{name}")
    assert run(tmp_path, "--month", "2026-11", "--stack", "prod", run=pulumi) == 2
    assert capsys.readouterr().err.splitlines() == [
        "usage_report: `pulumi stack output --json --stack prod` failed: error: no stack named 'prod' found"]
    monkeypatch.setattr(usage_report.shutil, "which", lambda name: None)
    assert run(tmp_path, "--month", "2026-11", "--stack", "prod", run=pulumi) == 2
    assert capsys.readouterr().err.splitlines() == [
        "usage_report: the Pulumi CLI is not on PATH; pass --outputs FILE written by `pulumi stack output --json`"]


def test_an_api_gateway_error_is_one_line(tmp_path, apigateway, capsys):
    client, stubber = apigateway
    expect_plan(stubber, "plan-globex", 1_000_000, "MONTH")
    stubber.add_client_error("get_usage", "AccessDeniedException", "User is not authorized", http_status_code=403,
                             expected_params={"usagePlanId": "plan-globex", "startDate": NOVEMBER[0],
                                              "endDate": NOVEMBER[1]})
    outputs = {**OUTPUTS, "usagePlanIds": {"globex": "plan-globex"},
               "apiKeyIds": {"globex": OUTPUTS["apiKeyIds"]["globex"]}}
    assert run(tmp_path, "--month", "2026-11", "--outputs", str(write_outputs(tmp_path, outputs)), client=client) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("usage_report: GetUsage for usage plan plan-globex: An error "
                                               "occurred (AccessDeniedException)"), err
    assert not (tmp_path / "out").exists(), "no partial report"


def test_a_plan_that_cannot_be_read_leaves_its_quota_empty_with_a_warning(tmp_path, apigateway, capsys):
    client, stubber = apigateway
    stubber.add_client_error("get_usage_plan", "NotFoundException", "Invalid Usage Plan ID specified",
                             http_status_code=404, expected_params={"usagePlanId": "plan-initech"})
    expect_usage(stubber, "plan-initech", {"key-initech": daily([3] * 30, 20_000)})
    outputs = {**OUTPUTS, "usagePlanIds": {"initech": "plan-initech"},
               "apiKeyIds": {"initech": {"default": "key-initech"}}}
    assert run(tmp_path, "--month", "2026-11", "--outputs", str(write_outputs(tmp_path, outputs)), client=client) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("usage_report: warning: GetUsagePlan plan-initech: ") and \
        err[0].endswith("initech's quota and share are left empty"), err
    initech = json.loads((tmp_path / "out" / "usage-2026-11.json").read_text())["customers"]["initech"]
    assert (initech["requests"], initech["quota"], initech["share"]) == (90, None, None)


def test_the_region_comes_from_the_stack_url():
    assert usage_report.region_of(OUTPUTS) == "eu-west-1"
    assert usage_report.region_of({}) is None
