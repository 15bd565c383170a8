"""deploy/: the Prometheus config, alert rules and Grafana dashboard, checked by promtool and the code.

promtool (Debian's ``prometheus`` package) validates the config and the rules and runs the rules'
unit tests (alerts_test.yml). Every PromQL expression of the rules and of the dashboard is parsed
by promtool too (the dashboard's as recording rules of a scratch rule file, Grafana's interval
variables replaced), and every ``cornerstone_*`` metric they name must be a family the code
exports (``kit.metrics.FAMILIES``): a renamed metric cannot leave a silent alert or an empty panel.
There is no YAML library in the environment: the few fields read here come from a small reader of
these files' own layout, cross-checked by promtool's counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cornerstone.bff.config import BffSettings
from cornerstone.kernel.config import KernelSettings
from cornerstone.kit.metrics import FAMILIES

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "cornerstone.json"

# Grafana's own variables in panel queries, with what promtool gets in their place.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
SERIES_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if CI:
            pytest.fail("promtool is required under CI=true (Debian package `prometheus`; .ci/run installs it)")
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def rule_expressions(text: str) -> list[str]:
    """Every ``expr:`` of a rule file laid out as alerts.yml is: inline, or a ``|`` block below it."""
    lines = text.splitlines()
    expressions = []
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if not match:
            continue
        indent, value = len(match[1]), match[2].strip()
        if value not in {"|", "|-", ">", ">-"}:
            expressions.append(value)
            continue
        block = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following.strip())
        expressions.append(" ".join(part for part in block if part))
    return expressions


def alert_names(text: str) -> list[str]:
    return re.findall(r"^\s*- alert:\s*(\S+)\s*$", text, flags=re.MULTILINE)


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def as_promql(expression: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    assert "$" not in expression, f"an unknown Grafana variable in {expression!r}"
    return expression


def metric_names(expression: str) -> set[str]:
    """The ``cornerstone_*`` metrics an expression reads (label values and strings left out)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    return set(re.findall(r"\bcornerstone_[A-Za-z0-9_]*", without_strings))


def family_of(name: str) -> str | None:
    """The family a series name belongs to: itself, or without a histogram/counter suffix."""
    if name in FAMILIES:
        return name
    for suffix in SERIES_SUFFIXES:
        if name.endswith(suffix):
            stem = name.removesuffix(suffix)
            for family in (stem, f"{stem}_total"):
                if family in FAMILIES:
                    return family
    return None


# --- promtool ------------------------------------------------------------------------------------


def test_the_prometheus_config_is_valid(promtool: str, tmp_path: Path) -> None:
    syntax = run(promtool, "check", "config", "--syntax-only", str(CONFIG))
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    # A full check also opens the rule files and the token file, relative to the config: a copy of
    # deploy/ next to a data dir holding a token, laid out as the repository is.
    shutil.copytree(PROMETHEUS, tmp_path / "deploy" / "prometheus")
    (tmp_path / "var" / "secrets").mkdir(parents=True)
    (tmp_path / "var" / "secrets" / "metrics_token").write_text("scratch-token\n")
    full = run(promtool, "check", "config", str(tmp_path / "deploy" / "prometheus" / "prometheus.yml"))
    assert full.returncode == 0, full.stdout + full.stderr
    assert f"SUCCESS: {len(alert_names(ALERTS.read_text()))} rules found" in full.stdout + full.stderr


def test_the_config_scrapes_both_services_where_cornerstone_up_runs_them_with_the_token_file() -> None:
    text = CONFIG.read_text()
    targets = re.findall(r'targets:\s*\["([^"]+)"\]', text)
    assert sorted(targets) == sorted(
        [
            f"127.0.0.1:{BffSettings.model_fields['bff_port'].default}",
            f"127.0.0.1:{KernelSettings.model_fields['kernel_port'].default}",
        ]
    )
    token_files = re.findall(r"credentials_file:\s*(\S+)", text)
    assert len(token_files) == 2
    default_data_dir = ROOT / BffSettings.model_fields["data_dir"].default
    for token_file in token_files:
        assert (PROMETHEUS / token_file).resolve() == (default_data_dir / "secrets" / "metrics_token").resolve()
    assert re.findall(r"job_name:\s*(\S+)", text) == ["cornerstone-bff", "cornerstone-kernel"]


def test_the_alert_rules_are_valid(promtool: str) -> None:
    checked = run(promtool, "check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = alert_names(ALERTS.read_text())
    assert f"SUCCESS: {len(names)} rules found" in checked.stdout
    assert len(rule_expressions(ALERTS.read_text())) == len(names)


def test_the_alert_rules_unit_tests_pass(promtool: str) -> None:
    tested = run(promtool, "test", "rules", ALERTS_TEST.name, cwd=PROMETHEUS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_unit_tested_firing() -> None:
    tested = ALERTS_TEST.read_text()
    for name in alert_names(ALERTS.read_text()):
        cases = re.findall(
            rf"alertname: {name}\n\s*exp_alerts:(.*?)(?=\n\s*- eval_time:|\n\s*- interval:|\Z)", tested, re.S
        )
        assert cases, f"{name} has no unit test"
        assert any("exp_labels" in case for case in cases), f"no test shows {name} firing"
        assert any(case.strip() == "[]" for case in cases), f"no test shows {name} silent"


def test_the_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    assert expressions
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for number, expression in enumerate(expressions):
        rules += [f"      - record: dashboard:query_{number}", f"        expr: {json.dumps(as_promql(expression))}"]
    scratch = tmp_path / "dashboard_rules.yml"
    scratch.write_text("\n".join(rules) + "\n")
    checked = run(promtool, "check", "rules", str(scratch))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in checked.stdout


# --- names against the code ----------------------------------------------------------------------


def test_every_metric_the_alerts_name_is_exported() -> None:
    named = set().union(*(metric_names(expression) for expression in rule_expressions(ALERTS.read_text())))
    assert named, "no cornerstone metric found in the alert rules"
    assert sorted(name for name in named if family_of(name) is None) == []


def test_every_metric_the_dashboard_names_is_exported_and_every_family_has_a_panel() -> None:
    named = set().union(*(metric_names(expression) for expression in dashboard_expressions()))
    assert sorted(name for name in named if family_of(name) is None) == []
    assert sorted(set(FAMILIES) - {family_of(name) for name in named}) == []


def test_the_planned_rules_are_comments_only() -> None:
    """The worker's and backups' metrics do not exist yet: no live rule may read them."""
    live = " ".join(rule_expressions(ALERTS.read_text()))
    for planned in (
        "cornerstone_outbox_lag_events",
        "cornerstone_notices_total",
        "cornerstone_webhook_deliveries_total",
    ):
        assert planned not in live
        assert planned in ALERTS.read_text()  # still written down, as a planned comment
    assert "cornerstone_backup_last_success_timestamp_seconds" in ALERTS.read_text()


def test_the_dashboard_is_grafana_39_with_a_prometheus_data_source_variable() -> None:
    document = dashboard()
    assert document["schemaVersion"] == 39
    variables = {variable["name"]: variable for variable in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = document["panels"]
    assert {panel["type"] for panel in panels} <= {"timeseries", "stat"}
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        for source in [panel["datasource"], *(target["datasource"] for target in panel["targets"])]:
            assert source == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    # No two panels overlap on the 24-column grid.
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area
