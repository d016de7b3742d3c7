"""components/config.py against hostile and careless input: reserved namespaces, credentials and odd
characters in URLs, secrets that stay secret, free-form values too deep or too large. Each error is one
line naming the key, raised by ``parse`` (the config stage, before any resource is registered)."""

from __future__ import annotations

import pytest

from components.config import ConfigError, parse

KC = "apiVersion: v1\nclusters: [{name: c}]\nusers: [{name: u}]\ncontexts: [{name: x}]\n"


def error(raw: dict, secret_keys: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        parse(raw, secret_keys=list(raw) if secret_keys is None else secret_keys)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --------------------------------------------------------------------------- reserved namespaces

RESERVED = ["kube-system", "kube-public", "kube-node-lease", "default", "kube-anything"]
PLATFORM = ["kommander", "kommander-flux", "cert-manager", "kommander-default-workspace"]


@pytest.mark.parametrize("ns", RESERVED)
def test_a_project_namespace_may_not_be_kubernetes_own(ns: str) -> None:
    raw = {"projects": [{"name": "p", "workspace": "default", "namespace": ns}]}
    assert error(raw) == (
        f"kommander:projects[0].namespace: {ns!r} is a namespace reserved for Kubernetes; "
        "choose another project namespace"
    )


@pytest.mark.parametrize("ns", ["kube-system", "kube-public", "kube-node-lease", "default", "kube-x"])
def test_a_project_named_like_a_reserved_namespace_blames_its_name(ns: str) -> None:
    assert error({"projects": [{"name": ns, "workspace": "default"}]}).startswith(f"kommander:projects[0].name: {ns!r}")


@pytest.mark.parametrize("ns", ["kube-system", "kube-public", "kube-node-lease", "kube-x"])
def test_a_workspace_may_not_be_kubernetes_own(ns: str) -> None:
    assert error({"workspaces": [{"name": ns}]}) == (
        f"kommander:workspaces[0].name: {ns!r} is a namespace reserved for Kubernetes; a workspace is its namespace"
    )


@pytest.mark.parametrize("ns", PLATFORM)
def test_platform_namespaces_are_taken(ns: str) -> None:
    assert error({"workspaces": [{"name": ns}]}).startswith(f"kommander:workspaces[0].name: {ns!r} is ")
    message = error({"projects": [{"name": "p", "workspace": "default", "namespace": ns}]})
    assert message.startswith(f"kommander:projects[0].namespace: {ns!r} is ")


def test_configured_platform_namespaces_are_taken_too() -> None:
    raw = {"namespaces": {"kommander": "platform"}, "projects": [{"name": "platform", "workspace": "default"}]}
    assert error(raw) == "kommander:projects[0].namespace: 'platform' is already used by a platform namespace"
    raw = {"namespaces": {"flux": "gitops"}, "workspaces": [{"name": "gitops"}]}
    assert error(raw) == "kommander:workspaces[0].name: 'gitops' is a platform namespace"


def test_the_default_workspace_and_kube_lookalikes_stay_valid() -> None:
    cfg = parse(
        {
            "workspaces": [{"name": "default"}, {"name": "kubeflow"}],
            "projects": [{"name": "kube", "workspace": "kubeflow"}, {"name": "defaults", "workspace": "default"}],
        }
    )
    assert [p.name for p in cfg.projects] == ["kube", "defaults"]
