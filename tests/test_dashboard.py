"""The dashboard's routes, server-side, over fake API servers (``tests/dashboard_world.py``).

Pages are parsed (not grepped) and compared with the objects in the fake clusters; actions
are checked on the fake's objects and in the stack file.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboard_world import CANARY, STACK, TRICKY, World, make_world, write_stack
from fakekube import FakeKube
from starlette.testclient import TestClient

from automation import cli, ops
from automation.dashboard import kube, model, web
from automation.dashboard.kube import describe
from components import tenancy_plan

HOST = tenancy_plan.HOST_CLUSTER
BASE = "http://127.0.0.1"


# --------------------------------------------------------------------------- a small HTML tree


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def words(self) -> str:
        return " ".join(self.text().split())

    def all(self, tag: str, **attrs: str) -> Iterator[Node]:
        for c in self.children:
            if isinstance(c, Node):
                if c.tag == tag and all(c.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                    yield c
                yield from c.all(tag, **attrs)

    def one(self, tag: str, **attrs: str) -> Node:
        found = list(self.all(tag, **attrs))
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def by_id(self, ident: str) -> Node:
        found = [n for t in ("div", "section", "p", "table", "form") for n in self.all(t, id=ident)]
        assert len(found) == 1, (ident, len(found))
        return found[0]

    def cells(self) -> list[list[str]]:
        """Each body row of the tables under this node, as the words of its cells."""
        return [
            [c.words() for c in row.children if isinstance(c, Node) and c.tag in ("td", "th")]
            for body in self.all("tbody")
            for row in body.all("tr")
        ]


VOID = {"meta", "link", "input", "br", "img"}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.at = Node("#document", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(node)
        if tag not in VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        at: Node | None = self.at
        while at is not None and at.tag != tag:
            at = at.parent
        if at is not None and at.parent is not None:
            self.at = at.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def parse(html: str) -> Node:
    parser = _Parser()
    parser.feed(html)
    return parser.root


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path)
    yield w
    w.stop()


def client_for(world: World, **kwargs: Any) -> tuple[TestClient, web.Dashboard]:
    backend = kwargs.pop("backend", None) or world.backend(ttl=0)
    dash = web.Dashboard(backend, stack=STACK, **kwargs)
    return TestClient(dash.app(), base_url=BASE, follow_redirects=False), dash


@pytest.fixture
def browser(world: World) -> TestClient:
    return client_for(world)[0]


def changes(world: World) -> list[tuple[str, str, str, Any]]:
    """The merge patches the management cluster took, but the empty ones of the dry-run permission check."""
    return [p for p in world.management.patches if p[3] != {}]


def page(client: TestClient, path: str) -> Node:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return parse(response.text)


# --------------------------------------------------------------------------- pages


def test_overview_counts_each_projects_sources_and_lists_workspaces_and_clusters(browser: TestClient) -> None:
    doc = page(browser, "/")
    live = doc.by_id("live-overview")
    # shop: web fails on e2, api is missing on e2; ops: tools suspended
    assert live.one("p", **{"class": "totals"}).words() == "0 Ready 2 failing 1 suspended"
    tables = list(live.all("table"))
    assert tables[0].cells() == [
        ["shop", "edge", "shop", "e1, e2", "2", "0 Ready 2 failing 0 suspended"],
        ["ops", "default", "ops", HOST, "1", "0 Ready 0 failing 1 suspended"],
    ]
    assert tables[1].cells() == [
        ["default", tenancy_plan.DEFAULT_WORKSPACE_NAMESPACE, HOST],
        ["edge", "edge", "e1, e2"],
    ]
    assert tables[2].cells() == [
        [HOST, "2", "2", "0"],
        ["e1", "2", "1", "1"],
        ["e2", "Unreachable kubeconfig Secret edge/e2-kubeconfig not found"],
    ]
    links = [a.attrs["href"] for a in live.all("a")]
    assert "/projects/shop" in links and "/helm-releases?cluster=e1" in links


def test_project_page_shows_each_source_on_each_cluster(world: World, browser: TestClient) -> None:
    doc = page(browser, "/projects/shop")
    web_rows = doc.by_id("live-web").cells()
    assert web_rows == [
        ["e1", "True", "True", "main@sha1:7d3c1f0", "no", "Applied revision: main@sha1:7d3c1f0"],
        ["e2", "False", "False", "main@sha1:5a5a5a5", "no", " ".join(TRICKY.split())],
    ]
    assert doc.by_id("live-api").cells() == [
        ["e1", "True", "True", "v1.4.0@sha1:91be22a", "no", "Applied revision: v1.4.0@sha1:91be22a"],
        ["e2", "Missing", "Unknown", "-", "no", "not found"],
    ]
    meta = [p.words() for p in doc.all("p", **{"class": "meta"})]
    assert meta == [
        "workspace edge · namespace shop · clusters e1, e2",
        "https://git.example.com/shop/web.git · branch main · path ./deploy",
        "https://git.example.com/shop/api.git · tag v1.4.0 · path ./",
    ]
    form = doc.by_id("source-web").one("form")
    assert form.attrs == {"class": "actions", "method": "get", "action": "/projects/shop/sources/web/confirm"}
    buttons = [(b.attrs["value"], "disabled" in b.attrs) for b in form.all("button")]
    assert buttons == [("suspend", False), ("resume", False), ("reconcile", False)]
    assert [o.attrs["value"] for o in form.all("option")] == ["", "e1", "e2"]
    assert page(browser, "/projects/ops").by_id("live-tools").cells()[0][:5] == [
        HOST, "True", "True", "main@sha1:c0ffee1", "suspended"
    ]  # fmt: skip


def test_a_failing_git_repository_makes_its_source_failing(world: World, browser: TestClient) -> None:
    world.set_ready("shop", "web", "e2", "True", "Applied revision: main@sha1:7d3c1f0")
    overview = page(browser, "/").by_id("live-overview")
    assert next(overview.all("table")).cells()[0][-1] == "1 Ready 1 failing 0 suspended"
    repo = page(browser, "/projects/shop").by_id("live-web").one("p", **{"class": "meta repository"})
    assert repo.words() == "GitRepository shop/web: True main@sha1:7d3c1f0"
    world.set_repository_ready("shop", "web", "False", "failed to checkout: authentication required")
    overview = page(browser, "/").by_id("live-overview")
    assert next(overview.all("table")).cells()[0][-1] == "0 Ready 2 failing 0 suspended"
    repo = page(browser, "/projects/shop").by_id("live-web").one("p", **{"class": "meta repository"})
    assert repo.words() == (
        "GitRepository shop/web: False main@sha1:7d3c1f0 failed to checkout: authentication required"
    )


def test_a_message_is_verbatim_and_escaped(browser: TestClient) -> None:
    html = browser.get("/projects/shop").text
    escaped = TRICKY.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
    assert escaped in html
    assert "<b>accumulating</b>" not in html
    cell = parse(html).by_id("live-web").one("tr", data_cluster="e2").one("td", **{"class": "message"})
    assert cell.text() == TRICKY


def test_source_page_shows_its_objects_per_cluster_and_their_events(world: World, browser: TestClient) -> None:
    doc = page(browser, "/projects/shop/sources/web")
    live = doc.by_id("live-source")
    sections = {s.attrs.get("data-cluster", "source"): s for s in live.all("section")}
    assert list(sections) == ["source", "e1", "e2"]
    objects = {k: next(s.all("table")).cells() for k, s in sections.items()}
    web_src = world.source("shop", "web")
    assert objects["source"] == [
        [f"GitRepository {web_src.namespace}/{web_src.repository}", "True", "True", "main@sha1:7d3c1f0", "no",
         "stored 'main@sha1:7d3c1f0'"]
    ]  # fmt: skip
    e2 = world.kustomization("shop", "web", "e2")
    assert objects["e2"][0][:4] == [f"Kustomization {e2.namespace}/{e2.name}", "False", "False", "main@sha1:5a5a5a5"]
    events = {k: list(s.all("table"))[1].cells() if len(list(s.all("table"))) > 1 else [] for k, s in sections.items()}
    assert events["source"] == [
        ["2026-12-01T10:01:00Z", "Normal", "NewArtifact", f"GitRepository {web_src.namespace}/{web_src.repository}",
         "stored artifact for commit 7d3c1f0"]
    ]  # fmt: skip
    # the event, then the failing Ready condition ops reports with it
    assert [row[1:3] for row in events["e2"]] == [
        ["Warning", "ReconciliationFailed"],
        ["Condition", "Ready=False ReconciliationFailed"],
    ]
    assert events["e1"] == []
    assert "No recent event." in sections["e1"].words()


def test_helm_releases_every_cluster_then_filtered(browser: TestClient) -> None:
    rows = page(browser, "/helm-releases").by_id("live-helm").cells()
    assert [(r[0], r[4]) for r in rows[:4]] == [
        ("traefik", HOST),
        ("toolbox", HOST),
        ("cache", "e1"),
        ("storefront", "e1"),
    ]
    assert rows[2] == ["cache", "shop", "redis", "19.0.1", "e1", "shop", "False",
                       "install retries exhausted: <timeout> [30s]"]  # fmt: skip
    assert rows[4] == ["cluster not read", "e2", "-", "Unreachable", "kubeconfig Secret edge/e2-kubeconfig not found"]
    on_e1 = page(browser, "/helm-releases?cluster=e1").by_id("live-helm").cells()
    assert [r[0] for r in on_e1] == ["cache", "storefront"]
    of_ops = page(browser, "/helm-releases?project=ops").by_id("live-helm").cells()
    assert [r[0] for r in of_ops] == ["toolbox"]
    none = page(browser, "/helm-releases?project=ops&cluster=e1").by_id("live-helm").cells()
    assert none == [["No Helm release matches the filter."]]
    doc = page(browser, "/helm-releases?cluster=e1")
    selected = [o.attrs["value"] for o in doc.one("select", name="cluster").all("option") if "selected" in o.attrs]
    assert selected == ["e1"]


def test_unknown_names_are_404_with_one_line(browser: TestClient) -> None:
    for path, message in [
        ("/projects/nope", f"no project 'nope' in stack {STACK}"),
        ("/projects/shop/sources/nope", "project 'shop' has no source 'nope'"),
        ("/projects/nope/sources/web/confirm?action=suspend", f"no project 'nope' in stack {STACK}"),
    ]:
        response = browser.get(path)
        assert response.status_code == 404
        assert parse(response.text).one("p", role="alert").words() == message
    assert browser.get("/nowhere").status_code == 404


def test_confirm_page_names_the_action_and_its_clusters(world: World, browser: TestClient) -> None:
    doc = page(browser, "/projects/shop/sources/web/confirm?action=suspend&cluster=")
    assert doc.one("h1").words() == "Suspend source web of project shop?"
    assert [r[0] for r in doc.one("table").cells()] == ["e1", "e2"]
    form = doc.one("form", method="post")
    assert form.attrs["action"] == "/projects/shop/sources/web/suspend"
    fields = {i.attrs["name"]: i.attrs["value"] for i in form.all("input")}
    assert set(fields) == {"csrf", "cluster"} and fields["cluster"] == "" and len(fields["csrf"]) >= 32
    assert form.one("button").words() == "Suspend web on every cluster"
    one = page(browser, "/projects/shop/sources/web/confirm?action=reconcile&cluster=e2")
    assert [r[0] for r in one.one("table").cells()] == ["e2"]
    assert one.one("button").words() == "Reconcile web on e2"
    assert browser.get("/projects/shop/sources/web/confirm?action=delete").status_code == 400
    bad = browser.get("/projects/shop/sources/web/confirm?action=suspend&cluster=elsewhere")
    assert bad.status_code == 400
    assert parse(bad.text).one("p", role="alert").words() == "source 'web' is not on 'elsewhere'"
    assert changes(world) == []  # a GET changes nothing


# --------------------------------------------------------------------------- the same objects as `status`

#: Sources fanned out to several clusters, attached clusters in two workspaces, projects selecting clusters by
#: label (``env``) and by name, a project namespace of its own, and one whose selector matches nothing.
FANNED_OUT = """\
config:
  kommander:clusterName: fanned
  kommander:workspaces:
    - name: edge
      clusters:
        - {name: e1, labels: {env: prod}, kubeconfig: {secure: v1:e1-ciphertext}}
        - {name: e2, labels: {env: prod}, kubeconfig: {secure: v1:e2-ciphertext}}
        - {name: e3, labels: {env: dev}, kubeconfig: {secure: v1:e3-ciphertext}}
    - name: lab
      clusters:
        - {name: l1, kubeconfig: {secure: v1:l1-ciphertext}}
        - {name: l2, kubeconfig: {secure: v1:l2-ciphertext}}
  kommander:projects:
    - name: shop
      workspace: edge
      clusterSelector: {matchLabels: {env: prod}}
      sources:
        - {name: web, url: https://git.example.com/shop/web.git}
        - {name: api, url: https://git.example.com/shop/api.git}
    - name: research
      workspace: lab
      namespace: science
      sources:
        - {name: notebooks, url: https://git.example.com/lab/notebooks.git}
    - name: pilot
      workspace: edge
      clusterSelector: {matchLabels: {kommander.d2iq.io/cluster-name: e3}}
      sources:
        - {name: web, url: https://git.example.com/pilot/web.git}
    - name: tools
      workspace: default
      sources:
        - {name: cli, url: https://git.example.com/ops/cli.git}
    - name: nowhere
      workspace: lab
      clusterSelector: {matchLabels: {env: none}}
      sources:
        - {name: site, url: https://git.example.com/site.git}
"""


def test_the_dashboard_and_the_status_command_name_the_same_objects(tmp_path: Path) -> None:
    """For one stack file and cluster, ``python -m automation status`` and the dashboard's pages (each source's
    GitRepository and Kustomization per cluster; each project's workspace, namespace and clusters) agree."""
    file = write_stack(tmp_path, FANNED_OUT, "fanned")
    management = FakeKube().start()  # holds no object: both say what they look for
    try:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(management.kubeconfig())
        env = {"KUBECONFIG": str(kubeconfig)}
        out = io.StringIO()
        assert cli.main(["status", "--stack", "fanned", "--json"], env=env, root=tmp_path, out=out) == cli.FAILED
        status_rows = json.loads(out.getvalue())
        dash = TestClient(web.Dashboard(kube.connect(file, env), stack="fanned").app(), base_url=BASE)

        named: set[tuple[str, str, str, str]] = set()  # (project, source, cluster, "<Kind> <namespace>/<name>")
        projects: dict[str, tuple[str, str, str]] = {}  # project -> (workspace, namespace, clusters)
        for row in next(page(dash, "/").by_id("live-overview").all("table")).cells():
            projects[row[0]] = (row[1], row[2], row[3])
            doc = page(dash, f"/projects/{row[0]}")
            for source in (h2.one("a").words() for h2 in doc.all("h2")):
                live = page(dash, f"/projects/{row[0]}/sources/{source}").by_id("live-source")
                for section in live.all("section"):
                    cluster = section.attrs.get("data-cluster", HOST)
                    named.add((row[0], source, cluster, next(section.all("table")).cells()[0][0]))
    finally:
        management.stop()

    assert named == {
        (r["project"], r["source"], r["cluster"], f"{r['kind']} {r['namespace']}/{r['name']}") for r in status_rows
    }
    for project, (workspace, namespace, clusters) in projects.items():
        rows = [r for r in status_rows if r["project"] == project]
        assert {r["workspace"] for r in rows} == {workspace}
        assert {r["namespace"] for r in rows if r["kind"] == "GitRepository"} == {namespace}
        deployed = sorted({r["cluster"] for r in rows if r["kind"] == "Kustomization"})
        assert sorted(clusters.split(", ")) == (deployed or ["none"])
    # what the stack asks for, so the agreement above is over fanned-out, selected and empty placements
    assert projects["shop"][2] == "e1, e2" and projects["pilot"][2] == "e3" and projects["nowhere"][2] == "none"
    assert projects["research"] == ("lab", "science", "l1, l2") and projects["tools"][2] == HOST
    assert len(named) == 6 + 2 * 2 + 2 + 1 + 1  # 6 GitRepositories, the Kustomizations of shop, research, pilot, tools


# --------------------------------------------------------------------------- actions


def csrf_of(client: TestClient, path: str = "/projects/shop/sources/web/confirm?action=suspend") -> str:
    form = page(client, path).one("form", method="post")
    return next(i.attrs["value"] for i in form.all("input", name="csrf"))


def test_suspend_every_cluster_patches_each_and_records_it_in_the_stack_file(world: World, browser: TestClient) -> None:
    token = csrf_of(browser)
    same = {"origin": BASE, "sec-fetch-site": "same-origin"}  # what a browser sends from the confirmation page
    response = browser.post("/projects/shop/sources/web/suspend", data={"csrf": token, "cluster": ""}, headers=same)
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/projects/shop\?result=[\w-]+", location)
    assert [world.get("shop", "web", c)["spec"]["suspend"] for c in ("e1", "e2")] == [True, True]
    source = yaml.safe_load(world.stack_path.read_text())["config"]["kommander:projects"][0]["sources"][0]
    assert source["suspend"] is True
    doc = page(browser, location.split("#")[0])
    outcome = doc.by_id("outcome")
    assert outcome.attrs["role"] == "status"
    lines = [li.words() for li in outcome.all("li")]
    e1, e2 = world.kustomization("shop", "web", "e1"), world.kustomization("shop", "web", "e2")
    assert lines == [
        f"e1: Kustomization {e1.namespace}/{e1.name}: spec.suspend false → true",
        f"e2: Kustomization {e2.namespace}/{e2.name}: spec.suspend false → true",
        f"Pulumi.{STACK}.yaml: kommander:projects[0].sources[0].suspend unset → true (commit it: up keeps it)",
    ]
    assert [r[4] for r in doc.by_id("live-web").cells()] == ["suspended", "suspended"]
    # the second time, nothing changes and the message says so
    browser.post("/projects/shop/sources/web/suspend", data={"csrf": token, "cluster": ""})
    again = browser.post("/projects/shop/sources/web/suspend", data={"csrf": token, "cluster": ""})
    lines = [li.words() for li in page(browser, again.headers["location"]).by_id("outcome").all("li")]
    assert lines[0] == f"e1: Kustomization {e1.namespace}/{e1.name}: spec.suspend was already true"


def test_resume_one_cluster_leaves_the_others_and_the_stack_file(world: World, browser: TestClient) -> None:
    token = csrf_of(browser)
    browser.post("/projects/shop/sources/web/suspend", data={"csrf": token, "cluster": ""})
    before = world.stack_path.read_text()
    response = browser.post("/projects/shop/sources/web/resume", data={"csrf": token, "cluster": "e2"})
    assert response.status_code == 303
    assert [world.get("shop", "web", c)["spec"]["suspend"] for c in ("e1", "e2")] == [True, False]
    assert world.stack_path.read_text() == before
    doc = page(browser, response.headers["location"])
    assert [r[4] for r in doc.by_id("live-web").cells()] == ["suspended", "no"]


def test_reconcile_annotates_the_source_and_each_kustomization(world: World, browser: TestClient) -> None:
    response = browser.post("/projects/shop/sources/web/reconcile", data={"csrf": csrf_of(browser), "cluster": ""})
    assert response.status_code == 303
    stamps = {(p, ns, n): body["metadata"]["annotations"][ops.REQUESTED_AT] for p, ns, n, body in changes(world)}
    src = world.source("shop", "web")
    assert set(stamps) == {("gitrepositories", src.namespace, src.repository)} | {
        ("kustomizations", t.namespace, t.name) for t in src.kustomizations
    }
    assert len(set(stamps.values())) == 1
    lines = [li.words() for li in page(browser, response.headers["location"]).by_id("outcome").all("li")]
    assert lines[0].startswith(f"{HOST}: GitRepository {src.namespace}/{src.repository}: metadata.annotations[")
    assert len(lines) == 3


def test_an_action_that_partly_fails_says_where(world: World, browser: TestClient) -> None:
    response = browser.post("/projects/shop/sources/api/suspend", data={"csrf": csrf_of(browser), "cluster": ""})
    doc = page(browser, response.headers["location"])
    outcome = doc.by_id("outcome")
    assert outcome.attrs["class"] == "outcome failed"
    e2 = world.kustomization("shop", "api", "e2")
    assert f"e2: Kustomization {e2.namespace}/{e2.name}: not changed: not found" in [
        li.words() for li in outcome.all("li")
    ]


@pytest.mark.parametrize(
    ("data", "headers", "message"),
    [
        ({"cluster": ""}, {}, "the form's CSRF token is missing or stale: reload the page and try again"),
        (
            {"csrf": "forged", "cluster": ""},
            {},
            "the form's CSRF token is missing or stale: reload the page and try again",
        ),
        (None, {"origin": "https://evil.example"}, "cross-origin request refused"),
        (None, {"origin": "http://127.0.0.1:3000"}, "cross-origin request refused"),  # another port: another origin
        (None, {"origin": "null"}, "cross-origin request refused"),
        (None, {"sec-fetch-site": "cross-site"}, "cross-site request refused"),
    ],
)
def test_an_action_without_the_pages_csrf_token_or_from_another_site_is_refused(
    world: World, browser: TestClient, data: dict[str, str] | None, headers: dict[str, str], message: str
) -> None:
    body = data if data is not None else {"csrf": csrf_of(browser), "cluster": ""}
    response = browser.post("/projects/shop/sources/web/suspend", data=body, headers=headers)
    assert response.status_code == 403
    assert parse(response.text).one("p", role="alert").words() == message
    assert changes(world) == []


def test_actions_are_post_only_and_named(world: World, browser: TestClient) -> None:
    assert browser.get("/projects/shop/sources/web/suspend").status_code == 405
    response = browser.post("/projects/shop/sources/web/delete", data={"csrf": csrf_of(browser)})
    assert response.status_code == 400
    assert parse(response.text).one("p", role="alert").words() == (
        "unknown action 'delete': one of suspend, resume, reconcile"
    )
    elsewhere = browser.post("/projects/shop/sources/web/suspend", data={"csrf": csrf_of(browser), "cluster": "x"})
    assert elsewhere.status_code == 400
    assert changes(world) == []


# --------------------------------------------------------------------------- read-only


def test_read_only_when_a_dry_run_patch_is_forbidden(world: World) -> None:
    world.management.forbid.add(("patch", "kustomizations"))
    client, _ = client_for(world)
    doc = page(client, "/projects/shop")
    reason = doc.by_id("read-only").words()
    assert re.fullmatch(
        r"Read-only: your credentials cannot patch kustomizations in namespace \S+ \(HTTP 403 on a dry-run patch\)",
        reason,
    )
    for button in doc.all("button"):
        assert "disabled" in button.attrs and button.attrs["aria-describedby"] == "read-only"
    confirm = page(client, "/projects/shop/sources/web/confirm?action=suspend")
    assert "disabled" in confirm.one("form", method="post").one("button").attrs
    token = next(i.attrs["value"] for i in confirm.all("input", name="csrf"))
    response = client.post("/projects/shop/sources/web/suspend", data={"csrf": token, "cluster": ""})
    assert response.status_code == 403
    assert world.get("shop", "web", "e1")["spec"]["suspend"] is False


def test_the_dry_run_patch_changes_nothing_when_allowed(world: World) -> None:
    before = {k: dict(v) for k, v in world.management.objects.items()}
    client, _ = client_for(world)
    assert "read-only" not in client.get("/projects/shop").text.lower()
    assert world.management.objects == before
    assert all(body == {} for *_, body in world.management.patches)
    assert any("dryRun=All" in path for method, path, _ in world.management.requests if method == "PATCH")


class Reviews:
    """A SelfSubjectAccessReview endpoint: ``allowed`` per (resource, namespace)."""

    def __init__(self, denied: set[tuple[str, str]]) -> None:
        self.denied = denied
        self.asked: list[dict[str, Any]] = []

    def create_self_subject_access_review(self, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        attrs = body["spec"]["resourceAttributes"]
        self.asked.append(attrs)
        allowed = (attrs["resource"], attrs["namespace"]) not in self.denied
        return {"status": {"allowed": allowed, "reason": "" if allowed else "RBAC: no rule allows it"}}


def test_read_only_from_a_self_subject_access_review(world: World) -> None:
    src = world.source("shop", "web")
    reviews = Reviews({("gitrepositories", src.namespace)})
    client, _ = client_for(world, backend=world.backend(api_auth=reviews, ttl=0))
    reason = page(client, "/projects/shop").by_id("read-only").words()
    denied = f"your credentials cannot patch gitrepositories in namespace {src.namespace}"
    assert reason == f"Read-only: {denied} (RBAC: no rule allows it)"
    assert {(a["verb"], a["group"]) for a in reviews.asked} <= {
        ("patch", ops.GIT_REPOSITORIES[0]), ("patch", ops.KUSTOMIZATIONS[0])
    }  # fmt: skip
    assert not any(method == "PATCH" for method, *_ in world.management.requests)  # the review answered


def test_allowed_by_the_review(world: World) -> None:
    client, _ = client_for(world, backend=world.backend(api_auth=Reviews(set()), ttl=0))
    doc = page(client, "/projects/shop")
    assert not [n for n in doc.all("p", id="read-only")]
    assert all("disabled" not in b.attrs for b in doc.all("button"))


# --------------------------------------------------------------------------- failures of the clusters


def test_an_unreachable_management_cluster_is_a_503_page_with_one_line(world: World) -> None:
    client, _ = client_for(world)
    world.management.stop()
    response = client.get("/")
    assert response.status_code == 503
    line = parse(response.text).one("p", role="alert").words()
    assert line.startswith("cannot reach the management cluster: ")
    assert CANARY not in response.text


# --------------------------------------------------------------------------- guards


def test_the_host_header_must_name_the_server(world: World) -> None:
    client, _ = client_for(world)
    for host in ("evil.example", "127.0.0.1.evil.example", "localhost.evil"):
        response = client.get("/", headers={"host": host})
        assert response.status_code == 421, host
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        assert client.get("/", headers={"host": host}).status_code == 200, host


def test_every_response_carries_the_security_headers(browser: TestClient) -> None:
    for path in ("/", "/projects/shop", "/helm-releases", "/static/dashboard.js", "/nowhere"):
        headers = browser.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"


TOKEN = "dashboard-token-0123456789abcdef"


def test_with_a_token_every_route_needs_it(world: World) -> None:
    client, _ = client_for(world, token=TOKEN, hosts=None)
    routes = ["/", "/projects/shop", "/projects/shop/sources/web", "/helm-releases",
              "/projects/shop/sources/web/confirm?action=suspend", "/static/dashboard.js"]  # fmt: skip
    for path in routes:
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
        assert client.get(path, headers={"x-dashboard-refresh": "1"}).status_code == 401
        assert client.get(path, headers={"authorization": "Bearer wrong-token-0123456789"}).status_code == 303
        assert client.get(path, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200, path
    assert client.post("/projects/shop/sources/web/suspend", data={"csrf": "x"}).status_code == 401
    assert client.get("/login").status_code == 200 and client.get("/static/dashboard.css").status_code == 200
    assert changes(world) == []


def test_the_login_form_sets_a_cookie_that_is_not_the_token(world: World) -> None:
    client, _ = client_for(world, token=TOKEN, hosts=None)
    wrong = client.post("/login?next=/projects/shop", data={"token": "not-the-token-0123456789"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert parse(wrong.text).one("p", role="alert").words() == "That token is not the dashboard's token."
    right = client.post("/login?next=/projects/shop", data={"token": TOKEN})
    assert right.status_code == 303 and right.headers["location"] == "/projects/shop"
    cookie = right.headers["set-cookie"]
    assert TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/projects/shop").status_code == 200  # the client keeps the cookie
    assert client.post("/login?next=//evil.example/", data={"token": TOKEN}).headers["location"] == "/"


# --------------------------------------------------------------------------- secrets


def test_no_secret_reaches_the_browser(world: World) -> None:
    client, _ = client_for(world, token=TOKEN, hosts=None)
    seen: list[str] = []

    def fetch(method: str, path: str, **kwargs: Any) -> None:
        response = client.request(method, path, **kwargs)
        seen.append(response.text)
        seen.extend(f"{k}: {v}" for k, v in response.headers.items())

    fetch("GET", "/")
    fetch("POST", "/login", data={"token": TOKEN})
    for path in ("/", "/projects/shop", "/projects/ops", "/helm-releases", "/helm-releases?cluster=e1",
                 "/static/dashboard.js", "/static/dashboard.css"):  # fmt: skip
        fetch("GET", path)
    for project, source in (("shop", "web"), ("shop", "api"), ("ops", "tools")):
        fetch("GET", f"/projects/{project}/sources/{source}")
        for action in model.ACTIONS:
            fetch("GET", f"/projects/{project}/sources/{source}/confirm?action={action}")
    csrf = csrf_of(client)
    for action in model.ACTIONS:
        response = client.post(f"/projects/shop/sources/api/{action}", data={"csrf": csrf, "cluster": ""})
        fetch("GET", response.headers["location"])
    world.management.stop()
    fetch("GET", "/projects/shop")  # the unreachable page
    everything = "\n".join(seen)
    assert "Project Deployments" in everything and "storefront" in everything  # the pages were there
    for secret in [*world.secrets(), TOKEN]:
        assert secret not in everything


def test_a_url_never_shows_its_user_information() -> None:
    assert ops.safe_url("https://user:pass@git.example.com:8443/a.git?x=1") == "https://git.example.com:8443/a.git?x=1"
    assert ops.safe_url("https://git.example.com/a.git") == "https://git.example.com/a.git"
    assert ops.safe_url("ssh://git@git.example.com/a.git") == "ssh://git.example.com/a.git"


def test_each_change_is_one_line() -> None:
    base = dict(project="p", source="s", cluster="e1", kind="Kustomization", namespace="ns", name="k",
                field="spec.suspend")  # fmt: skip
    assert (
        describe(ops.Change(**base, before="false", after="true"))
        == "e1: Kustomization ns/k: spec.suspend false → true"
    )
    assert (
        describe(ops.Change(**base, before="true", after="true"))
        == "e1: Kustomization ns/k: spec.suspend was already true"
    )
    assert (
        describe(ops.Change(**base, before="false", after="true", error="HTTP 403: no permission to patch it"))
        == "e1: Kustomization ns/k: not changed: HTTP 403: no permission to patch it"
    )


# --------------------------------------------------------------------------- live refresh


def test_a_refresh_request_reads_the_clusters_again(world: World, browser: TestClient) -> None:
    world.set_ready("shop", "web", "e2", "True", "Applied revision: main@sha1:7d3c1f0")
    response = browser.get("/projects/shop", headers={"x-dashboard-refresh": "1"})
    assert parse(response.text).by_id("live-web").cells()[1][:2] == ["e2", "True"]


def test_reads_are_cached_for_the_ttl(world: World) -> None:
    backend = world.backend(ttl=60)
    client, _ = client_for(world, backend=backend)
    reads = lambda: [p for method, p, _ in world.management.requests if method == "GET"]  # noqa: E731
    client.get("/")
    first = len(reads())
    assert first > 0
    client.get("/projects/shop")
    client.get("/helm-releases")
    assert len(reads()) == first  # one read of the objects served three pages
