"""components/config.py against hostile and careless input: reserved namespaces, credentials and odd
characters in URLs, secrets that stay secret, free-form values too deep or too large. Each error is one
line naming the key, raised by ``parse`` (the config stage, before any resource is registered)."""

from __future__ import annotations

import pytest
from secret_paths import leaves

from components.config import ConfigError, parse

KC = "apiVersion: v1\nclusters: [{name: c}]\nusers: [{name: u}]\ncontexts: [{name: x}]\n"


def error(raw: dict, secret_keys: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        parse(raw, secret_keys=leaves(raw) if secret_keys is None else secret_keys)
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


@pytest.mark.parametrize("field", ["kommander", "flux", "certManager"])
@pytest.mark.parametrize("ns", RESERVED)
def test_a_platform_namespace_may_not_be_kubernetes_own(field: str, ns: str) -> None:
    """The stack creates its namespaces and deletes them on destroy: never kube-system or default."""
    assert error({"namespaces": {field: ns}}) == (
        f"kommander:namespaces.{field}: {ns!r} is a namespace reserved for Kubernetes; "
        "the platform creates and deletes its namespaces"
    )


@pytest.mark.parametrize("field", ["kommander", "flux", "certManager"])
def test_a_platform_namespace_may_not_be_the_default_workspaces(field: str) -> None:
    assert error({"namespaces": {field: "kommander-default-workspace"}}) == (
        f"kommander:namespaces.{field}: 'kommander-default-workspace' is the default workspace's namespace"
    )


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


# --------------------------------------------------------------------------- secrets

SECRET_KC = (
    "apiVersion: v1\nclusters: [{name: c}]\nusers: [{name: u, user: {token: s3cret-token}}]\ncontexts: [{name: x}]\n"
)


def two_clusters(second: object) -> dict:
    return {
        "workspaces": [
            {"name": "w", "clusters": [{"name": "a", "kubeconfig": SECRET_KC}, {"name": "b", "kubeconfig": second}]}
        ]
    }


def test_one_encrypted_leaf_does_not_excuse_a_plaintext_secret_field_beside_it() -> None:
    raw = two_clusters(KC)
    message = error(raw, secret_keys=["workspaces[0].clusters[0].kubeconfig"])
    assert message == (
        "kommander:workspaces[0].clusters[1].kubeconfig: a secret; set it with "
        "`pulumi config set --secret --path 'workspaces[0].clusters[1].kubeconfig' …` so it is stored encrypted"
    )
    # both leaves encrypted, or the whole key: valid
    parse(raw, secret_keys=["workspaces[0].clusters[0].kubeconfig", "workspaces[0].clusters[1].kubeconfig"])
    parse(raw, secret_keys=["workspaces"])
    parse(raw, secret_keys=["workspaces[0].clusters"])  # a whole list encrypted covers its leaves


def test_paths_round_trip_in_pulumis_path_syntax() -> None:
    from components.config import format_path, split_path

    for path in [("gitea",), ("workspaces", 0, "clusters", 12, "kubeconfig"), ("apps", "web", "values", "odd key.x")]:
        assert split_path(format_path(path)) == path
    assert format_path(("apps", "web", "values", 'a"b')) == 'apps.web.values["a\\"b"]'


def write_stack(root, stack: str, config_block: str) -> None:  # type: ignore[no-untyped-def]
    (root / "Pulumi.yaml").write_text("name: kommander\nruntime: python\n")
    (root / f"Pulumi.{stack}.yaml").write_text(config_block)


PER_LEAF_STACK = """\
config:
  kommander:workspaces:
    - name: w
      clusters:
        - name: a
          kubeconfig:
            secure: v1:AAAA
        - name: b
          kubeconfig: |
            apiVersion: v1
            clusters: [{name: c}]
            users: [{name: u}]
            contexts: [{name: x}]
"""


def test_the_offline_check_rejects_a_plaintext_secret_beside_an_encrypted_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from automation import stackfile

    write_stack(tmp_path, "hostile", PER_LEAF_STACK)
    with pytest.raises(ConfigError) as err:
        stackfile.load(tmp_path, "hostile")
    assert str(err.value).startswith("kommander:workspaces[0].clusters[1].kubeconfig: a secret; set it with")


def test_the_program_rejects_a_plaintext_secret_beside_an_encrypted_one(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    import pulumi

    from components import config

    # what the engine passes: every value decrypted, and the key (not the leaf) marked secret
    workspaces = [{"name": "w", "clusters": [{"name": "a", "kubeconfig": SECRET_KC}, {"name": "b", "kubeconfig": KC}]}]
    monkeypatch.chdir(tmp_path)
    write_stack(tmp_path, pulumi.get_stack(), PER_LEAF_STACK.replace("      clusters: [{name: c}]", "x"))
    pulumi.runtime.set_all_config({"kommander:workspaces": json.dumps(workspaces)}, ["kommander:workspaces"])
    try:
        # the stack file is another config than the engine's: the whole key counts as secret
        assert config.load().workspaces[1 - 1].clusters[1].name == "b"
        write_stack(tmp_path, pulumi.get_stack(), PER_LEAF_STACK)
        with pytest.raises(ConfigError) as err:
            config.load()
        assert str(err.value).startswith("kommander:workspaces[0].clusters[1].kubeconfig: a secret; set it with")
    finally:
        pulumi.runtime.set_all_config({}, [])


@pytest.mark.parametrize(
    ("raw", "secret_keys", "key"),
    [
        ({"clusterName": "Secret_Cluster_Name"}, ["clusterName"], "kommander:clusterName"),
        ({"helmMirrorUrl": "ftp://secret-mirror-host/x"}, ["helmMirrorUrl"], "kommander:helmMirrorUrl"),
        (
            {
                "projects": [
                    {"name": "p", "workspace": "default", "sources": [{"name": "s", "url": "git://secret-host/x"}]}
                ]
            },
            ["projects[0].sources[0].url"],
            "kommander:projects[0].sources[0].url",
        ),
        (
            {"catalogs": [{"name": "c", "url": "secret-catalog-host:x"}]},
            ["catalogs"],
            "kommander:catalogs[0].url",
        ),
        ({"gitea": {"authorEmail": "x", "branch": "secret..branch"}}, ["gitea.branch"], "kommander:gitea.branch"),
        (
            {"ingress": {"certificate": "acme", "acme": {"email": "not-an-email-secret"}}},
            ["ingress"],
            "kommander:ingress.acme.email",
        ),
        (
            {"workspaces": [{"name": "Secret_Ws"}]},
            ["workspaces"],
            "kommander:workspaces[0].name",
        ),
    ],
)
def test_an_invalid_secret_value_is_never_echoed(raw: dict, secret_keys: list[str], key: str) -> None:
    message = error(raw, secret_keys=secret_keys)
    assert message.startswith(f"{key}: "), message
    assert "secret" not in message.lower().replace("(a secret value)", ""), message


def test_a_plaintext_invalid_value_is_still_shown() -> None:
    assert error({"clusterName": "Bad_Name"}, secret_keys=[]).startswith("kommander:clusterName: 'Bad_Name' is not")


@pytest.mark.parametrize(
    ("raw", "secret_keys", "message"),
    [
        (
            {"gitea": {"branch": "prod"}},
            ["gitea.branch"],
            "kommander:gitea.branch: set as a secret, but the GitRepository Flux reads carries it in plain text; "
            "set it without --secret",
        ),
        (
            {"gitea": {"pathPrefix": "clusters/prod", "authorEmail": "ops@corp.example"}},
            ["gitea"],
            "kommander:gitea.pathPrefix: set as a secret, but every Kustomization path Flux reads carries it in "
            "plain text; set it without --secret",
        ),
    ],
)
def test_a_branch_or_path_prefix_set_as_a_secret_is_refused_not_leaked(
    raw: dict, secret_keys: list[str], message: str
) -> None:
    """Flux's objects name the branch and the folder in their specs: a secret there could not stay secret."""
    assert error(raw, secret_keys=secret_keys) == message


def test_config_knows_which_leaves_were_secret() -> None:
    cfg = parse({"gitea": {"authorEmail": "ops@corp.example", "authorName": "Ops"}}, secret_keys=["gitea.authorEmail"])
    assert cfg.gitea.is_secret("authorEmail") and not cfg.gitea.is_secret("authorName")
    assert cfg.secret_paths == frozenset({("gitea", "authorEmail")})
    assert cfg.holds_secret("gitea") and cfg.holds_secret("gitea", "authorEmail")
    assert not cfg.holds_secret("apps")
    whole = parse({"gitea": {"authorEmail": "ops@corp.example"}}, secret_keys=["gitea"])
    assert whole.gitea.is_secret("authorEmail") and whole.gitea.is_secret("branch")
    assert not parse({}).gitea.is_secret("authorEmail")


@pytest.mark.parametrize("secret_keys", [["kommander:gitea"]])
def test_a_secret_author_email_stays_secret_in_the_publishers_inputs(program, secret_keys: list[str]) -> None:  # type: ignore[no-untyped-def]
    import json
    import runpy

    from support import ROOT, stack_config

    cfg = {**stack_config("dev"), "kommander:gitea": {"authorEmail": "author-canary@corp.example"}}
    graph = program(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=cfg, secret_keys=secret_keys)
    content = graph.one("pulumi-python:dynamic:Resource", "kommander-management-repository-content")
    assert content.inputs["author_email"] == "author-canary@corp.example"
    assert "author_email" in content.secret_paths
    for r in graph:
        public = {k: v for k, v in r.inputs.items() if k not in r.secret_paths}
        assert "author-canary" not in json.dumps(public), r.name


def test_a_plaintext_author_email_stays_plain(program) -> None:  # type: ignore[no-untyped-def]
    from components import management_repository

    settings = parse({"gitea": {"authorEmail": "a@b.example"}}).gitea
    assert management_repository.secret_settings(settings) == []
    secret = parse({"gitea": {"authorEmail": "a@b.example"}}, secret_keys=["gitea.authorEmail"]).gitea
    assert management_repository.secret_settings(secret) == ["author_email"]


# --------------------------------------------------------------------------- free-form values: depth and size


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda v: {"apps": {"web": {"values": {"x": v}}}}, "kommander:apps.web.values"),
        (lambda v: {"apps": {"web": {"values": {"x": [v]}}}}, "kommander:apps.web.values"),
        (
            lambda v: {"apps": {"web": {"clusters": ["host-cluster"], "overrides": {"host-cluster": {"x": v}}}}},
            "kommander:apps.web.overrides.host-cluster",
        ),
    ],
)
@pytest.mark.parametrize("depth", [64, 1000, 100_000])
def test_values_nested_too_deep_are_a_keyed_error(build, key: str, depth: int) -> None:  # type: ignore[no-untyped-def]
    assert error(build(nested(depth))) == f"{key}: nested more than 64 levels deep"


def test_values_64_levels_deep_are_fine() -> None:
    cfg = parse({"apps": {"web": {"values": nested(63)}}})  # 63 mappings inside values: 64 levels
    assert cfg.apps["web"].values["a"]


def test_deep_json_from_the_engine_is_a_keyed_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pulumi

    from components import config

    monkeypatch.chdir("/")
    text = '{"web": {"values": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}}"
    pulumi.runtime.set_all_config({"kommander:apps": text}, [])
    try:
        with pytest.raises(ConfigError) as err:
            config.load()
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert str(err.value).startswith("kommander:apps: ")


def test_values_over_the_configmap_limit_are_a_keyed_error() -> None:
    big = {"blob": "x" * (1024 * 1024)}
    assert error({"apps": {"web": {"values": big}}}).startswith(
        "kommander:apps.web.values: 1,048,583 bytes as YAML, over the 1,032,192 one ConfigMap can hold"
    )
    # many small keys, and an override that only together with the values is too large
    half = {f"k{i}": "v" * 100 for i in range(5500)}
    other = {f"o{i}": "v" * 100 for i in range(5500)}
    raw = {"apps": {"web": {"values": half, "clusters": ["host-cluster"], "overrides": {"host-cluster": other}}}}
    assert error(raw).startswith("kommander:apps.web.overrides.host-cluster: with values, ")
    parse({"apps": {"web": {"values": half}}})  # each alone fits


# --------------------------------------------------------------------------- trailing newlines


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"clusterName": "management\n"}, "kommander:clusterName"),
        ({"versions": {"flux": "2.17.0\n"}}, "kommander:versions.flux"),
        ({"gitea": {"branch": "main\n"}}, "kommander:gitea.branch"),
        ({"gitea": {"storageSize": "10Gi\n"}}, "kommander:gitea.storageSize"),
        ({"flux": {"requeueDependency": "5s\n"}}, "kommander:flux.requeueDependency"),
        ({"namespaces": {"labels": {"team": "a\n"}}}, "kommander:namespaces.labels"),
        ({"ingress": {"domain": "example.com\n"}}, "kommander:ingress.domain"),
        ({"workspaces": [{"name": "edge\n"}]}, "kommander:workspaces[0].name"),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_valid_name(raw: dict, key: str) -> None:
    # `^...$` matches before a final newline: the object name would then fail on the API server, mid-`up`
    assert error(raw).startswith(f"{key}: ")


def test_any_key_nested_far_too_deep_is_a_keyed_error_quickly() -> None:
    import time

    deep: object = 1
    for _ in range(100_000):
        deep = [deep]
    start = time.monotonic()
    assert error({"workspaces": deep}) == "kommander:workspaces: nested more than 68 levels deep"
    assert error({"apps": {"web": {"values": nested(100_000)}}}, secret_keys=["apps"]) == (
        "kommander:apps.web.values: nested more than 64 levels deep"
    )
    assert time.monotonic() - start < 5
