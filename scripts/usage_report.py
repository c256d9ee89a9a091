"""A month's API requests per customer, key and day, for billing, from API Gateway's usage plans.

    make usage MONTH=2026-11 [STACK=prod]
    .venv/bin/python scripts/usage_report.py --month 2026-11 [--outputs FILE | --stack NAME] --out DIR

Reads the stack's outputs (usagePlanIds, internalUsagePlanId, apiKeyIds; none of them secret) from a
file written by `pulumi stack output --json`, or runs that command (for --stack, or the selected
stack when neither flag is given). Calls GetUsagePlan and GetUsage (every page) for each plan, over
the month, or up to today (UTC) for the current month, and writes to DIR:

    usage-YYYY-MM.csv   customer,key,date,requests,remaining: a row per key per day
    usage-YYYY-MM.json  the same rows, plus per customer the month's total, its plan's quota and the share used
    usage-YYYY-MM.png   requests per day per customer, with the quota where its period is a day

Internal keys are reported as customer `internal:<name>`. Needs AWS credentials allowed
apigateway:GET on the stack's usage plans; the region comes from the stack's apiBaseUrl output.
Bad input is one line on standard error and exit status 2.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import datetime
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
REQUIRED_OUTPUTS = ("usagePlanIds", "apiKeyIds")
INTERNAL_PREFIX = "internal:"
CSV_COLUMNS = ("customer", "key", "date", "requests", "remaining")
# Days in one quota period, to scale a plan's quota to the days reported.
PERIOD_DAYS = {"DAY": 1, "WEEK": 7}
REGION_IN_URL = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


class ReportError(Exception):
    """Bad input or a failed call, said in one line."""


@dataclass(frozen=True)
class Plan:
    """One usage plan and the keys on it."""

    name: str
    """The customer's name, or `internal` for the internal plan."""
    usage_plan_id: str
    """The plan's id (GetUsage's usagePlanId)."""
    owners: tuple[tuple[str, str, str], ...]
    """(customer as reported, key id, API key id) for every key on the plan, in output order."""
    internal: bool
    """True for the limit-free internal plan."""


@dataclass(frozen=True)
class Row:
    """One key's requests on one day."""

    customer: str
    key: str
    date: str
    requests: int
    remaining: int | None


# ---- the month ---------------------------------------------------------------------------------


def month_range(month: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day to report: the whole month, or up to today for the current one."""
    match = MONTH.match(month)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ReportError(f"--month {month!r}: not a month; use YYYY-MM, e.g. {today:%Y-%m}")
    year, number = int(match.group(1)), int(match.group(2))
    first = datetime.date(year, number, 1)
    if first > today:
        raise ReportError(f"--month {month}: is in the future (today is {today.isoformat()} UTC); "
                          "pick this month or an earlier one")
    last = datetime.date(year, number, calendar.monthrange(year, number)[1])
    return first, min(last, today)


# ---- the stack's outputs -----------------------------------------------------------------------


def read_outputs(outputs_file: Path | None, stack: str | None,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> dict[str, Any]:
    """The stack's outputs, from a file or from `pulumi stack output --json`."""
    if outputs_file is not None:
        try:
            text = outputs_file.read_text()
        except OSError as error:
            raise ReportError(f"--outputs {outputs_file}: cannot be read ({error.strerror})") from error
        source = f"--outputs {outputs_file}"
    else:
        command = ["pulumi", "stack", "output", "--json", *(["--stack", stack] if stack else [])]
        if shutil.which("pulumi") is None:
            raise ReportError("the Pulumi CLI is not on PATH; pass --outputs FILE written by "
                              "`pulumi stack output --json`")
        result = run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip().splitlines()
            raise ReportError(f"`{' '.join(command)}` failed: {detail[-1] if detail else result.returncode}")
        text = result.stdout
        source = f"stack {stack}" if stack else "the selected stack"
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"{source}: not the JSON of `pulumi stack output --json` ({error.msg})") from error
    if not isinstance(outputs, dict):
        raise ReportError(f"{source}: not the JSON of `pulumi stack output --json` (not an object)")
    missing = [name for name in REQUIRED_OUTPUTS if not isinstance(outputs.get(name), dict)]
    if missing:
        raise ReportError(f"{source}: no {' or '.join(missing)} output; deploy this version of the program "
                          "(pulumi up) first")
    return outputs


def plans_of(outputs: Mapping[str, Any]) -> list[Plan]:
    """Every plan to ask about: each customer's, then the internal one."""
    plan_ids: Mapping[str, Any] = outputs["usagePlanIds"]
    key_ids: Mapping[str, Any] = outputs["apiKeyIds"]
    plans = []
    for customer, plan_id in plan_ids.items():
        keys = key_ids.get(customer)
        if not isinstance(keys, dict) or not isinstance(plan_id, str):
            raise ReportError(f"stack outputs: customer {customer!r} is in usagePlanIds but has no keys in "
                              "apiKeyIds; deploy this version of the program (pulumi up) first")
        plans.append(Plan(customer, plan_id, tuple((customer, key, api_key) for key, api_key in keys.items()),
                          internal=False))
    internal = tuple((f"{INTERNAL_PREFIX}{name}", key, api_key)
                     for name, keys in key_ids.items() if name not in plan_ids and isinstance(keys, dict)
                     for key, api_key in keys.items())
    if internal:
        plan_id = outputs.get("internalUsagePlanId")
        if not isinstance(plan_id, str):
            raise ReportError("stack outputs: internal keys are listed in apiKeyIds but there is no "
                              "internalUsagePlanId output")
        plans.append(Plan("internal", plan_id, internal, internal=True))
    return plans


def region_of(outputs: Mapping[str, Any]) -> str | None:
    """The stack's region, read from its API's URL."""
    match = REGION_IN_URL.search(str(outputs.get("apiBaseUrl", "")))
    return match.group(1) if match else None


# ---- API Gateway -------------------------------------------------------------------------------


def apigateway_client(region: str | None) -> Any:
    """An API Gateway client for the stack's region (AWS_ENDPOINT_URL, if set, points it elsewhere)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.client("apigateway", region_name=region)
    except BotoCoreError as error:
        raise ReportError(f"API Gateway client: {error}") from error


def usage(client: Any, usage_plan_id: str, first: datetime.date, last: datetime.date) -> dict[str, list]:
    """GetUsage over every page: API key id -> [[used, remaining], ...] per day from `first`."""
    from botocore.exceptions import BotoCoreError, ClientError

    items: dict[str, list] = {}
    request = {"usagePlanId": usage_plan_id, "startDate": first.isoformat(), "endDate": last.isoformat()}
    while True:
        try:
            page = client.get_usage(**request)
        except (ClientError, BotoCoreError) as error:
            raise ReportError(f"GetUsage for usage plan {usage_plan_id}: {error}") from error
        for api_key_id, days in (page.get("items") or {}).items():
            items.setdefault(api_key_id, []).extend(days)
        position = page.get("position")
        if not position:
            return items
        request["position"] = position


def quota(client: Any, usage_plan_id: str, customer: str) -> dict[str, Any] | None:
    """The plan's quota (limit, period, offset), or None for a plan without one.

    The quota only adds context to the counts GetUsage gives, so a plan that cannot be read leaves
    the customer's quota and share empty, with a warning, rather than stopping the report.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        plan = client.get_usage_plan(usagePlanId=usage_plan_id)
    except (ClientError, BotoCoreError) as error:
        print(f"usage_report: warning: GetUsagePlan {usage_plan_id}: {error}; {customer}'s quota and share "
              "are left empty", file=sys.stderr)
        return None
    found = plan.get("quota")
    return {"limit": found["limit"], "period": found["period"], "offset": found.get("offset", 0)} if found else None


# ---- the report ---------------------------------------------------------------------------------


def days(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


def rows_of(plan: Plan, items: Mapping[str, list], first: datetime.date, last: datetime.date) -> list[Row]:
    """A row per key per day; a day (or key) API Gateway reported nothing for has 0 requests."""
    rows = []
    for customer, key, api_key_id in plan.owners:
        series = items.get(api_key_id) or []
        for index, day in enumerate(days(first, last)):
            used, remaining = series[index] if index < len(series) else (0, None)
            rows.append(Row(customer, key, day.isoformat(), int(used), None if remaining is None else int(remaining)))
    return rows


def allowance(plan_quota: Mapping[str, Any], first: datetime.date, last: datetime.date) -> float:
    """The requests the quota allows over the reported days (a MONTH quota scaled to the days reported)."""
    reported = (last - first).days + 1
    period_days = PERIOD_DAYS.get(plan_quota["period"], calendar.monthrange(first.year, first.month)[1])
    return plan_quota["limit"] * reported / period_days


def summary(plans: Iterable[Plan], quotas: Mapping[str, Any], rows: list[Row], first: datetime.date,
            last: datetime.date) -> dict[str, Any]:
    """Per customer: the month's total, per key, the plan's quota and period, and the share used."""
    customers: dict[str, Any] = {}
    for plan in plans:
        plan_quota = quotas.get(plan.usage_plan_id)
        for customer, key, _ in plan.owners:
            entry = customers.setdefault(customer, {"requests": 0, "keys": {}, "usagePlanId": plan.usage_plan_id,
                                                    "quota": plan_quota, "share": None})
            entry["keys"][key] = sum(r.requests for r in rows if r.customer == customer and r.key == key)
            entry["requests"] = sum(entry["keys"].values())
            if plan_quota:
                entry["share"] = round(entry["requests"] / allowance(plan_quota, first, last), 6)
    return customers


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([row.customer, row.key, row.date, row.requests,
                             "" if row.remaining is None else row.remaining])


def write_json(path: Path, month: str, first: datetime.date, last: datetime.date, complete: bool,
               rows: list[Row], customers: Mapping[str, Any]) -> None:
    document = {
        "month": month,
        "startDate": first.isoformat(),
        "endDate": last.isoformat(),
        "complete": complete,
        "shareOf": "the quota scaled to the days reported (limit x days / days per period)",
        "customers": customers,
        "rows": [{"customer": r.customer, "key": r.key, "date": r.date, "requests": r.requests,
                  "remaining": r.remaining} for r in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def chart(month: str, first: datetime.date, last: datetime.date, rows: list[Row],
          customers: Mapping[str, Any]) -> Any:
    """The figure: one line per customer (its keys summed); a DAY quota dashed in the customer's colour."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    dates = days(first, last)
    figure, axes = plt.subplots(figsize=(10, 5.5), dpi=110)
    for customer, entry in customers.items():
        per_day = {day.isoformat(): 0 for day in dates}
        for row in rows:
            if row.customer == customer:
                per_day[row.date] += row.requests
        (line,) = axes.plot(dates, list(per_day.values()), marker="o", markersize=3, linewidth=1.5,
                            label=customer)
        plan_quota = entry.get("quota")
        if plan_quota and plan_quota["period"] == "DAY":
            axes.axhline(plan_quota["limit"], color=line.get_color(), linestyle="--", linewidth=1,
                         label=f"{customer} quota ({plan_quota['limit']:,}/day)")
    month_end = datetime.date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
    axes.set_title(f"API requests per day, {month}" + ("" if last == month_end else f" (to {last.isoformat()})"))
    axes.set_xlabel("day (UTC)")
    axes.set_ylabel("requests")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    if customers:
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def write_png(path: Path, figure: Any) -> None:
    import matplotlib.pyplot as plt

    figure.savefig(path)
    plt.close(figure)


def report(month: str, outputs: Mapping[str, Any], client: Any, out: Path,
           today: datetime.date) -> dict[str, Path]:
    """Writes the month's CSV, JSON and PNG to `out`; returns their paths."""
    first, last = month_range(month, today)
    plans = plans_of(outputs)
    rows: list[Row] = []
    quotas: dict[str, Any] = {}
    for plan in plans:
        quotas[plan.usage_plan_id] = None if plan.internal else quota(client, plan.usage_plan_id, plan.name)
        rows += rows_of(plan, usage(client, plan.usage_plan_id, first, last), first, last)
    customers = summary(plans, quotas, rows, first, last)
    complete = last == datetime.date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / f"usage-{month}.{kind}" for kind in ("csv", "json", "png")}
    write_csv(paths["csv"], rows)
    write_json(paths["json"], month, first, last, complete, rows, customers)
    write_png(paths["png"], chart(month, first, last, rows, customers))
    return paths


def main(argv: list[str] | None = None, client: Any = None, today: datetime.date | None = None,
         run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", required=True, help="the month to report, YYYY-MM")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--outputs", type=Path, help="a file written by `pulumi stack output --json`")
    source.add_argument("--stack", help="the stack whose outputs to read with the Pulumi CLI")
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV, JSON and PNG")
    args = parser.parse_args(argv)
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    try:
        month_range(args.month, today)  # a bad month fails before anything is read
        outputs = read_outputs(args.outputs, args.stack, run=run)
        if client is None:
            client = apigateway_client(region_of(outputs))
        paths = report(args.month, outputs, client, args.out, today)
    except ReportError as error:
        print(f"usage_report: {error}", file=sys.stderr)
        return 2
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
