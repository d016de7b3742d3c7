"""ManagementCluster: the topology, and the dependency rules of the ladder."""

from __future__ import annotations

from support import build, crd_installer

from components import config, stack_plan
from components.management_cluster import ManagementCluster


def test_topology(program) -> None:
    graph = program(build())
    root = graph.one("kommander:index:ManagementCluster", "kommander")
    components = {r.type.split(":")[-1]: r for r in graph if r.type.startswith("kommander:index:")}
    for kind in ("Namespaces", "Flux", "CertManager", "RootCA"):
        assert components[kind].parent == root.urn
    for res in graph:
        if res is not root:
            assert res.name.startswith("kommander-"), res.name
            assert res.parent != "", f"{res.name} has no parent"
        assert res.provider == "" or "kubernetes" in res.provider


def test_every_custom_resource_depends_on_its_crd_installer(program) -> None:
    graph = program(build())
    customs = [(r, o) for r, o in graph.k8s_objects() if "." in o["apiVersion"].split("/")[0]]
    assert customs, "expected custom resources"
    for res, obj in customs:
        installer = crd_installer(graph, obj["apiVersion"])
        assert installer is not None, f"{obj['apiVersion']} is installed by nothing in this stack"
        assert graph.depends_on(res, installer), f"{res.name} does not wait for {installer.name}"


def test_namespaced_objects_wait_for_their_namespace(program) -> None:
    graph = program(build())
    namespaces = {r.inputs["metadata"]["name"]: r for r in graph.of_type("kubernetes:core/v1:Namespace")}
    for res in graph:
        ns = (res.inputs.get("metadata") or {}).get("namespace") or res.inputs.get("namespace")
        if res.custom and ns in namespaces:
            assert graph.depends_on(res, namespaces[ns]), f"{res.name} does not wait for namespace {ns}"


def test_protect_defaults(program) -> None:
    assert not any(r.protect for r in program(build(stack="dev")))
    prod = program(build(stack="prod"))
    assert {r.name for r in prod if r.protect} == {
        "kommander-root-ca-certificate",
        "kommander-gitea-admin-password",
        "kommander-gitea-admin",
        "kommander-gitea-release",
        "kommander-sops-age-key",
        "kommander-sops-age-secret",
        "kommander-chartmuseum-release",
    }


def test_every_emitted_object_is_schema_valid(program) -> None:
    # the `program` fixture validates every object; make sure there were objects to validate
    graph = program(build({"namespaces": {"labels": {"env": "test"}}}))
    kinds = {o["kind"] for _, o in graph.k8s_objects()}
    assert {"Namespace", "ClusterIssuer", "Certificate"} <= kinds


def test_remote_apps_and_catalog_copies_wait_for_exactly_their_tenancy_objects(program) -> None:
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://c:6443'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    raw = {
        "workspaces": [
            {"name": "edge", "labels": {"tier": "edge"}, "clusters": [{"name": "e1", "kubeconfig": kubeconfig}]}
        ],
        "projects": [{"name": "shop", "workspace": "edge", "labels": {"tier": "edge"}}],
        "catalogs": [
            {"name": "community", "url": "https://git.example.com/c.git", "selector": {"matchLabels": {"tier": "edge"}}}
        ],
        "apps": {"reloader": {"clusters": ["host-cluster", "e1"]}},
    }
    cfg = config.parse(raw, secret_keys=list(raw))
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(cfg)))
    secret = graph.named("kommander-tenancy-ws-edge-cluster-e1-kubeconfig")
    kustomization = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
    remote = graph.one(kustomization, "kommander-app-reloader-e1")
    assert remote.inputs["spec"]["kubeConfig"]["secretRef"]["name"] == secret.inputs["metadata"]["name"]
    assert graph.depends_on(remote, secret)
    host = graph.one(kustomization, "kommander-app-reloader")
    assert not graph.depends_on(host, secret), "host-cluster apps must not wait for tenant objects"
    namespaces = {r.inputs["metadata"]["name"]: r for r in graph.of_type("kubernetes:core/v1:Namespace")}
    git_repository = "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
    copies = [r for r in graph.of_type(git_repository) if r.name.startswith("kommander-catalogs-community-")]
    placed = {r.inputs["metadata"]["namespace"] for r in copies}
    assert {"edge", "shop"} <= placed
    for copy in copies:
        assert graph.depends_on(copy, namespaces[copy.inputs["metadata"]["namespace"]])
