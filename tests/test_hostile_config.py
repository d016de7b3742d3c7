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


# --------------------------------------------------------------------------- URLs: credentials and characters

SSH_CREDS = {
    "identity": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n",
    "knownHosts": "h",
}


def _source(url: str) -> dict:
    src: dict = {"name": "s", "url": url}
    if url.startswith("ssh://"):
        src["credentials"] = SSH_CREDS
    return {"projects": [{"name": "p", "workspace": "default", "sources": [src]}]}


#: Where a URL is configured: (key, raw config for a URL, schemes it takes besides http(s))
URL_KEYS = [
    ("kommander:helmMirrorUrl", lambda u: {"helmMirrorUrl": u}, "oci"),
    ("kommander:charts.flux", lambda u: {"charts": {"flux": u}}, "oci"),
    ("kommander:charts.certManager", lambda u: {"charts": {"certManager": u}}, "oci"),
    ("kommander:catalogs[0].url", lambda u: {"catalogs": [{"name": "c", "url": u}]}, "ssh"),
    ("kommander:projects[0].sources[0].url", _source, "ssh"),
    ("kommander:gitea.externalUrl", lambda u: {"gitea": {"externalUrl": u}}, ""),
    (
        "kommander:ingress.acme.server",
        lambda u: {"ingress": {"certificate": "acme", "acme": {"email": "a@b.example", "server": u}}},
        "",
    ),
]
CREDENTIAL_URLS = {
    "": ["https://user:pw@h.example/x", "https://token@h.example/x", "http://:pw@h.example/x"],
    "oci": ["oci://user:token@registry.example/charts", "oci://token@registry.example/charts"],
    "ssh": ["ssh://git:secret-pw@h.example/x.git", "ssh://:secret-pw@h.example:22/x.git"],
}
BAD_CHARACTERS = {
    " ": "SPACE",
    "\t": "U+0009",
    "\n": "U+000A",
    "\r": "U+000D",
    '"': "QUOTATION MARK",
    "'": "APOSTROPHE",
    "\\": "REVERSE SOLIDUS",
    "`": "GRAVE ACCENT",
    "<": "LESS-THAN SIGN",
    ">": "GREATER-THAN SIGN",
    "\x00": "U+0000",
    "\x7f": "U+007F",
    "\x85": "U+0085",
    "\u00a0": "NO-BREAK SPACE",
    "\u200b": "ZERO WIDTH SPACE",
    "\u202e": "RIGHT-TO-LEFT OVERRIDE",
    "\u2028": "LINE SEPARATOR",
}


@pytest.mark.parametrize(("key", "build", "extra"), URL_KEYS, ids=[k for k, _, _ in URL_KEYS])
def test_credentials_in_any_url_are_a_keyed_error(key: str, build, extra: str) -> None:  # type: ignore[no-untyped-def]
    for url in CREDENTIAL_URLS[""] + (CREDENTIAL_URLS[extra] if extra else []):
        message = error(build(url))
        assert message.startswith(f"{key}: URLs must not carry credentials"), message
        assert "pw" not in message and "token" not in message


@pytest.mark.parametrize(("key", "build", "extra"), URL_KEYS, ids=[k for k, _, _ in URL_KEYS])
def test_quotes_whitespace_and_control_characters_in_any_url_are_a_keyed_error(key: str, build, extra: str) -> None:  # type: ignore[no-untyped-def]
    for ch, name in BAD_CHARACTERS.items():
        for url in (f"https://h.example/x{ch}y", f"https://h.example/x{ch}"):
            assert error(build(url)) == (
                f"{key}: is not a valid URL: character {len('https://h.example/x') + 1} is {name}; "
                "percent-encode it or remove it"
            ), repr(url)
        if extra:
            url = f"{extra}://h.example/x{ch}y"
            assert error(build(url)).startswith(f"{key}: is not a valid URL: character"), repr(url)


def test_the_mirror_cannot_smuggle_fields_into_yaml() -> None:
    # the injection: a quote and a newline end the URL and add `insecure: true` to every HelmRepository
    message = error({"helmMirrorUrl": 'https://mirror.example"\n  insecure: true\n  x: "'})
    assert (
        message
        == "kommander:helmMirrorUrl: is not a valid URL: character 23 is QUOTATION MARK; percent-encode it or remove it"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"helmMirrorUrl": "https://h.example:99999"},
            "kommander:helmMirrorUrl: is not a valid URL (Port out of range",
        ),
        ({"helmMirrorUrl": "https://[::1/x"}, "kommander:helmMirrorUrl: is not a valid URL (Invalid IPv6 URL)"),
        ({"helmMirrorUrl": "oci:///charts"}, "kommander:helmMirrorUrl: 'oci:///charts' is not a valid OCI URL"),
        ({"gitea": {"externalUrl": "https://:443/x"}}, "kommander:gitea.externalUrl: 'https://:443/x' is not a valid"),
    ],
)
def test_malformed_urls_are_keyed_errors_not_tracebacks(raw: dict, message: str) -> None:
    assert error(raw).startswith(message)


def test_urls_without_credentials_or_odd_characters_stay_valid() -> None:
    cfg = parse(
        {
            "helmMirrorUrl": "oci://registry.example:5000/charts/",
            "charts": {"flux": "https://charts.example/flux?x=a%20b"},
            "catalogs": [{"name": "c", "url": "ssh://git@git.example:2222/org/catalog.git"}],
            "gitea": {"externalUrl": "https://gitea.example/"},
            **_source("ssh://git@h.example/x.git"),
        },
        secret_keys=["projects"],
    )
    assert cfg.helmMirrorUrl == "oci://registry.example:5000/charts"
    assert cfg.catalogs[0].url == "ssh://git@git.example:2222/org/catalog.git"
    assert cfg.projects[0].sources[0].url == "ssh://git@h.example/x.git"
    assert cfg.gitea.externalUrl == "https://gitea.example"
