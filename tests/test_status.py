"""automation/status.py: rows shown verbatim, as tables, lines, JSON and YAML."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from rich.console import Console

from automation import status
from automation.ops import Change, EventRow, HelmReleaseRow, Row

#: Messages as Flux writes them; each is also valid rich markup or a markup error.
MESSAGES = [
    "Deployment/shop/web dry-run failed: [spec.replicas]: Invalid value",
    "failed to patch [/spec/template/spec/containers/0/image]",
    "[secret]",
    "[bold]not bold[/bold] and [link=https://x]y[/link]",
    "kustomize build failed: accumulating resources from '[..]': \\[escaped]",
]


def rows() -> list[Row]:
    return [
        Row("shop", "web", f"c{i}", "Kustomization", "edge", f"shop-web-c{i}", "False", "False", "main@sha1:a", m)
        for i, m in enumerate(MESSAGES)
    ]


def printed(renderable: object, width: int = 400) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_table_shows_every_message_verbatim() -> None:
    text = printed(status.render_table(rows()))
    for message in MESSAGES:
        assert message in text


def test_release_and_event_tables_show_messages_verbatim() -> None:
    releases = [
        HelmReleaseRow("e1", "shop", "shop", "web", "storefront", "shop", "web", "1.0.0", "False", m) for m in MESSAGES
    ]
    text = printed(status.render_releases(releases))
    assert all(m in text for m in MESSAGES) and "storefront" in text
    events = [EventRow("2026-01-01T00:00:00Z", "e1", "Kustomization", "edge", "k", "Warning", "R", m) for m in MESSAGES]
    text = printed(status.event_table(events))
    assert all(m in text for m in MESSAGES)


def test_lines_one_per_row_verbatim() -> None:
    got = status.lines(rows())
    assert len(got) == len(MESSAGES)
    assert got[0] == (
        "shop/web cluster=c0 Kustomization=edge/shop-web-c0 ready=False propagation=False revision=main@sha1:a "
        "message=Deployment/shop/web dry-run failed: [spec.replicas]: Invalid value"
    )
    assert [line.split(" message=", 1)[1] for line in got] == MESSAGES
    suspended = Row("p", "s", "c", "Kustomization", "n", "k", "False", "Unknown", "", "", suspended=True)
    assert status.lines([suspended]) == [
        "p/s cluster=c Kustomization=n/k ready=False (suspended) propagation=Unknown revision=-"
    ]


def test_json_and_yaml_round_trip() -> None:
    data = json.loads(status.to_json(rows()))
    assert [d["message"] for d in data] == MESSAGES
    assert yaml.safe_load(status.to_yaml(rows())) == data
    assert set(data[0]) == {
        "project", "source", "cluster", "kind", "namespace", "name", "ready", "propagation", "revision",
        "message", "suspended", "workspace",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("terminal", "width", "table"), [(True, 200, True), (True, 119, False), (False, 200, False), (True, 120, True)]
)
def test_tables_only_on_a_wide_terminal(terminal: bool, width: int, table: bool) -> None:
    console = Console(file=io.StringIO(), force_terminal=terminal, width=width)
    assert status.use_table(console) is table


def test_change_lines() -> None:
    changes = [
        Change("shop", "web", "e1", "Kustomization", "edge", "shop-web-e1", "spec.suspend", "false", "true"),
        Change("shop", "web", "e2", "Kustomization", "edge", "shop-web-e2", "spec.suspend", "true", "true"),
        Change("shop", "web", "e3", "Kustomization", "edge", "shop-web-e3", "spec.suspend", "", "true", "HTTP 403"),
        Change(
            "shop",
            "web",
            "",
            "StackFile",
            "",
            "Pulumi.prod.yaml",
            "kommander:projects[0].sources[0].suspend",
            "unset",
            "true",
        ),
    ]
    assert status.change_lines(changes) == [
        "e1: Kustomization edge/shop-web-e1 spec.suspend false -> true",
        "e2: Kustomization edge/shop-web-e2 spec.suspend already true",
        "e3: Kustomization edge/shop-web-e3 spec.suspend FAILED: HTTP 403",
        "-: StackFile Pulumi.prod.yaml kommander:projects[0].sources[0].suspend unset -> true",
    ]


def test_healthy_when_all_ready_or_suspended() -> None:
    ok = Row("p", "s", "c", "Kustomization", "n", "k", "True", "True", "r", "")
    paused = Row("p", "s", "c2", "Kustomization", "n", "k2", "False", "False", "r", "", suspended=True)
    assert status.healthy([ok, paused])
    assert not status.healthy([ok, Row("p", "s", "c3", "Kustomization", "n", "k3", "Missing", "False", "", "")])
    assert not status.healthy([HelmReleaseRow("e2", "", "", "", "", "", "", "", "Unreachable", "no client")])
