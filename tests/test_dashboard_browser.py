"""The dashboard in headless Chromium (Debian's ``chromium``, driven by Playwright), over fake API servers.

Each test serves the app with uvicorn on 127.0.0.1 and loads its pages in a real browser:
the live refresh, Suspend and Resume through their confirmation (by mouse and by keyboard),
the Helm releases filter. Screenshots go to ``$DASHBOARD_SCREENSHOTS`` (``make screenshots``
writes the README's, in ``docs/images/``), else to the test's temporary directory.
``make test`` installs Chromium first (``make browser``).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from dashboard_world import STACK, World, make_world
from kubernetes import client
from playwright.sync_api import Browser, Page, expect, sync_playwright

from automation import ops
from automation.dashboard import bind, web
from automation.dashboard.kube import KubeBackend

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (Debian: apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path)
    yield w
    w.stop()


@dataclass
class Site:
    url: str
    backend: KubeBackend


@pytest.fixture
def site(world: World) -> Iterator[Site]:
    """The dashboard served on 127.0.0.1 (a free port), refreshing every second."""
    sock = bind("127.0.0.1", 0)
    backend = world.backend(ttl=0)
    app = web.Dashboard(backend, stack=STACK, refresh_seconds=1).app()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield Site(f"http://127.0.0.1:{sock.getsockname()[1]}", backend)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def console() -> list[str]:
    """The page's script errors and console errors (a refused resource, a failed load)."""
    return []


@pytest.fixture
def page(chromium: Browser, console: list[str]) -> Iterator[Page]:
    context = chromium.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.on("pageerror", lambda exc: console.append(str(exc)))
    tab.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    yield tab
    context.close()
    assert console == []


def nowhere() -> ops.CustomObjects:
    """A client of an API server that refuses connections (a port just closed)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    return client.CustomObjectsApi(client.ApiClient(configuration))  # type: ignore[no-any-return]


def shoot(page: Page, name: str, tmp_path: Path) -> Path:
    """A PNG of the page as it is now (the README's pictures with ``DASHBOARD_SCREENSHOTS``)."""
    folder = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == VIEWPORT["width"]
    return path


def test_each_page_loads_and_is_pictured(site: Site, page: Page, tmp_path: Path) -> None:
    page.goto(site.url + "/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator(".totals")).to_have_text("0 Ready 2 failing 1 suspended")
    shoot(page, "overview", tmp_path)
    page.get_by_role("link", name="shop", exact=True).click()
    expect(page).to_have_url(site.url + "/projects/shop")
    expect(page.locator("#live-web tr[data-cluster=e2] .message")).to_contain_text("<b>accumulating</b>")
    page.get_by_role("link", name="web", exact=True).click()
    expect(page.locator("h1")).to_have_text("Source web")
    expect(page.locator("section[data-cluster=e2] table.events")).to_contain_text("ReconciliationFailed")
    shoot(page, "source", tmp_path)
    page.get_by_role("link", name="Helm Releases").click()
    expect(page.locator("#live-helm tbody tr")).to_have_count(5)


def test_suspend_on_every_cluster_after_a_confirmation(world: World, site: Site, page: Page, tmp_path: Path) -> None:
    page.goto(site.url + "/projects/shop")
    rows = page.locator("#live-web tbody tr")
    expect(rows).to_have_count(2)
    page.locator("#source-web").get_by_role("button", name="Suspend").click()
    expect(page.locator("h1")).to_have_text("Suspend source web of project shop?")
    assert [world.get("shop", "web", c)["spec"]["suspend"] for c in ("e1", "e2")] == [False, False]
    page.get_by_role("button", name="Suspend web on every cluster").click()
    expect(page.locator("#outcome li")).to_have_count(3)
    for cluster in ("e1", "e2"):
        row = page.locator(f"#live-web tr[data-cluster={cluster}]")
        expect(row).to_have_attribute("data-suspended", "true")
        expect(row).to_contain_text("suspended")
    assert [world.get("shop", "web", c)["spec"]["suspend"] for c in ("e1", "e2")] == [True, True]
    shoot(page, "project", tmp_path)


def test_resume_with_the_keyboard_only(world: World, site: Site, page: Page) -> None:
    for cluster in ("e1", "e2"):
        target = world.kustomization("shop", "web", cluster)
        with world.management.lock:
            world.management.objects[("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", target.namespace,
                                      target.name)]["spec"]["suspend"] = True  # fmt: skip
    page.goto(site.url + "/projects/shop")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    resume = page.locator("#source-web button[value=resume]")
    for _ in range(30):  # Tab through the page to the button
        page.keyboard.press("Tab")
        if resume.evaluate("b => b === document.activeElement"):
            break
    else:
        pytest.fail("Resume of source web is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Resume source web of project shop?")
    expect(page.locator(":focus")).to_have_text("Resume web on every cluster")  # the confirmation has the focus
    page.keyboard.press("Enter")
    expect(page.locator("#outcome")).to_be_focused()
    for cluster in ("e1", "e2"):
        expect(page.locator(f"#live-web tr[data-cluster={cluster}]")).to_have_attribute("data-suspended", "false")


def test_the_page_follows_the_clusters_without_a_reload(
    world: World, site: Site, page: Page, console: list[str]
) -> None:
    page.goto(site.url + "/projects/shop")
    page.evaluate("window.notReloaded = true")
    cell = page.locator("#live-web tr[data-cluster=e2] td").first
    expect(cell).to_have_text("False")
    world.set_ready("shop", "web", "e2", "True", "Applied revision: main@sha1:7d3c1f0")
    expect(cell).to_have_text("True", timeout=5000)
    expect(page.locator("#updated")).to_contain_text("updated")
    assert page.evaluate("window.notReloaded") is True
    site.backend.api = nowhere()  # the management cluster goes away: the page says so, keeps the last rows
    expect(page.locator("#updated")).to_contain_text("refresh failed (HTTP 503)", timeout=5000)
    expect(cell).to_have_text("True")
    assert console and all("503" in line for line in console)
    console.clear()


def test_filter_the_helm_releases(site: Site, page: Page, tmp_path: Path) -> None:
    page.goto(site.url + "/helm-releases")
    rows = page.locator("#live-helm tbody tr")
    expect(rows).to_have_count(5)
    page.get_by_label("Cluster").select_option("e1")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(site.url + "/helm-releases?cluster=e1&project=")
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i)).to_have_attribute("data-cluster", "e1")
    shoot(page, "helm-releases", tmp_path)
    page.get_by_label("Project").select_option("ops")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("No Helm release matches the filter.")
