"""components/config.py: defaults pinned, and every error a user can hit names its key."""

from __future__ import annotations

import pytest
from secret_paths import leaves

from components import config
from components.config import ConfigError, parse


def test_defaults_are_pinned() -> None:
    cfg = parse({})
    assert cfg.clusterName == "management"
    assert (cfg.namespaces.kommander, cfg.namespaces.flux, cfg.namespaces.certManager) == (
        "kommander",
        "kommander-flux",
        "cert-manager",
    )
    assert cfg.versions.model_dump() == {
        "flux": "2.17.0",
        "certManager": "v1.19.1",
        "gitea": "12.4.0",
        "chartmuseum": "3.10.4",
        "gatekeeper": "3.20.1",
        "traefik": "37.1.2",
    }
    assert cfg.flux.concurrency == 4 and cfg.flux.logLevel == "info"
    assert cfg.helmMirrorUrl is None and cfg.applicationsPath is None
    assert cfg.ingress.certificate == "rootCA" and cfg.ingress.enabled
    assert cfg.gitea.repository == "kommander" and cfg.gitea.branch == "main"
    assert cfg.apps == {} and cfg.catalogs == [] and cfg.workspaces == [] and cfg.projects == []


@pytest.mark.parametrize(("stack", "expected"), [("dev", False), ("staging", True), ("prod", True)])
def test_protect_defaults_by_stack(stack: str, expected: bool) -> None:
    assert parse({}, stack=stack).protect is expected
    assert parse({"protect": not expected}, stack=stack).protect is (not expected)


def test_config_is_frozen() -> None:
    cfg = parse({})
    with pytest.raises(Exception, match="frozen"):
        cfg.clusterName = "other"  # type: ignore[misc]


def test_empty_strings_from_pulumi_yaml_defaults_mean_unset() -> None:
    cfg = parse({"helmMirrorUrl": "", "applicationsPath": ""})
    assert cfg.helmMirrorUrl is None and cfg.applicationsPath is None


WS = [{"name": "team", "clusters": []}]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"clusterName": "Bad_Name"}, "kommander:clusterName: 'Bad_Name' is not a valid DNS-1123 label"),
        ({"clusterNmae": "x"}, "kommander:clusterNmae: unknown config key (known: clusterName,"),
        ({"versions": {"fluxcd": "2.0.0"}}, "kommander:versions.fluxcd: unknown key (known: flux, certManager,"),
        ({"versions": {"flux": "latest"}}, "kommander:versions.flux: 'latest' is not a valid version"),
        ({"helmMirrorUrl": "ftp://mirror"}, "kommander:helmMirrorUrl: 'ftp://mirror' is not a valid http(s) URL"),
        (
            {"helmMirrorUrl": "https://user:pw@mirror.example.com"},
            "kommander:helmMirrorUrl: URLs must not carry credentials",
        ),
        (
            {"namespaces": {"flux": "kommander"}},
            "kommander:namespaces: kommander, flux and certManager must be distinct",
        ),
        ({"namespaces": {"labels": {"bad key!": "x"}}}, "kommander:namespaces.labels: 'bad key!' is not a valid label"),
        ({"flux": {"concurrency": 0}}, "kommander:flux.concurrency: input should be greater than or equal to 1"),
        ({"flux": {"logLevel": "trace"}}, "kommander:flux.logLevel: input should be 'debug', 'info' or 'error'"),
        ({"flux": {"resources": {"limits": {"memory": "lots"}}}}, "kommander:flux.resources.limits.memory: 'lots'"),
        ({"flux": {"requeueDependency": "5 seconds"}}, "kommander:flux.requeueDependency: '5 seconds' is not a valid"),
        ({"protect": "perhaps"}, "kommander:protect: input should be a valid boolean"),
        ({"ingress": {"certificate": "acme"}}, "kommander:ingress: certificate 'acme' needs an 'acme' block"),
        ({"ingress": {"certificate": "secret"}}, "kommander:ingress: certificate 'secret' needs 'secretName'"),
        (
            {"ingress": {"certificate": "acme", "acme": {"email": "nope"}}},
            "kommander:ingress.acme.email: 'nope' is not a valid email address",
        ),
        ({"ingress": {"domain": "Not A Domain"}}, "kommander:ingress.domain: 'Not A Domain' is not a valid DNS-1123"),
        ({"gitea": {"nodePort": 80}}, "kommander:gitea.nodePort: input should be greater than or equal to 30000"),
        ({"gitea": {"branch": "a..b"}}, "kommander:gitea.branch: 'a..b' is not a valid Git branch name"),
        ({"gitea": {"pathPrefix": "../x"}}, "kommander:gitea.pathPrefix: '../x' is not a valid relative path"),
        ({"applicationsPath": "/does/not/exist"}, "kommander:applicationsPath: '/does/not/exist' is not a directory"),
        ({"apps": {"Bad": {}}}, "kommander:apps.Bad"),
        ({"apps": {"reloader": {"enabled": "yes please"}}}, "kommander:apps.reloader.enabled: input should be a valid"),
        (
            {"apps": {"reloader": {"clusters": ["a"], "overrides": {"b": {}}}}},
            "kommander:apps.reloader: overrides name clusters the app is not deployed to: ['b']",
        ),
        (
            {"catalogs": [{"name": "c", "url": "git@host:x"}]},
            "kommander:catalogs[0].url: 'git@host:x' is not a valid Git",
        ),
        (
            {"catalogs": [{"name": "c", "url": "https://h/x"}, {"name": "c", "url": "https://h/y"}]},
            "kommander:catalogs[1].name: duplicate name 'c' (also catalogs[0])",
        ),
        ({"workspaces": [{"name": "a"}, {"name": "a"}]}, "kommander:workspaces[1].name: duplicate name 'a'"),
        ({"workspaces": [{"name": "kommander"}]}, "kommander:workspaces[0].name: 'kommander' is a platform namespace"),
        (
            {"workspaces": [{"name": "w", "clusters": [{"name": "host-cluster", "kubeconfig": "x"}]}]},
            "kommander:workspaces[0].clusters[0].name: 'host-cluster' is the management cluster",
        ),
        (
            {"projects": [{"name": "Team_A", "workspace": "default"}]},
            "kommander:projects[0].name: 'Team_A' is not a valid",
        ),
        (
            {"projects": [{"name": "p", "workspace": "nope"}]},
            "kommander:projects[0].workspace: unknown workspace 'nope' (defined: default)",
        ),
        (
            {"workspaces": WS, "projects": [{"name": "team", "workspace": "team"}]},
            "kommander:projects[0].namespace: 'team' is already used by workspaces[0]",
        ),
        (
            {"projects": [{"name": "p", "workspace": "default", "sources": [{"name": "s", "url": "https://h/x"}] * 2}]},
            "kommander:projects[0].sources[1].name: duplicate name 's' (also projects[0].sources[0])",
        ),
        (
            {
                "projects": [
                    {
                        "name": "p",
                        "workspace": "default",
                        "sources": [{"name": "s", "url": "https://h/x", "ref": {"branch": "a", "tag": "b"}}],
                    }
                ]
            },
            "kommander:projects[0].sources[0].ref: set exactly one of branch, tag, semver, commit",
        ),
        (
            {
                "projects": [
                    {
                        "name": "p",
                        "workspace": "default",
                        "clusterSelector": {"matchExpressions": [{"key": "env", "operator": "In"}]},
                    }
                ]
            },
            "kommander:projects[0].clusterSelector.matchExpressions[0]: operator In needs at least one value",
        ),
        (
            {
                "projects": [
                    {"name": "p", "workspace": "default", "sources": [{"name": "s", "url": "ssh://git@h/x.git"}]}
                ]
            },
            "kommander:projects[0].sources[0]: an ssh:// url needs credentials with identity and knownHosts",
        ),
    ],
)
def test_error_names_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(raw, secret_keys=leaves(raw))
    assert str(err.value).startswith(message), str(err.value)


KUBECONFIG = "apiVersion: v1\nclusters: [{name: c}]\nusers: [{name: u}]\ncontexts: [{name: x}]\n"


def test_secret_fields_must_come_from_secret_config() -> None:
    raw = {"workspaces": [{"name": "w", "clusters": [{"name": "c1", "kubeconfig": KUBECONFIG}]}]}
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert str(err.value).startswith("kommander:workspaces[0].clusters[0].kubeconfig: a secret; set it with")
    assert "apiVersion: v1" not in str(err.value)
    cfg = parse(raw, secret_keys=["workspaces"])
    kubeconfig = cfg.workspaces[0].clusters[0].kubeconfig
    assert kubeconfig.get_secret_value() == KUBECONFIG
    assert "apiVersion" not in repr(cfg) and "apiVersion" not in str(kubeconfig)


def test_errors_never_echo_secret_values() -> None:
    raw = {
        "projects": [
            {
                "name": "p",
                "workspace": "default",
                "sources": [{"name": "s", "url": "https://h/x", "credentials": {"password": "hunter2-canary"}}],
            }
        ]
    }
    with pytest.raises(ConfigError) as err:
        parse(raw, secret_keys=["projects"])
    assert "hunter2-canary" not in str(err.value)
    assert "kommander:projects[0].sources[0].credentials: username and password go together" in str(err.value)


def test_label_selector_semantics() -> None:
    sel = config.LabelSelector.model_validate(
        {
            "matchLabels": {"env": "prod"},
            "matchExpressions": [
                {"key": "region", "operator": "In", "values": ["eu", "us"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert sel.matches({"env": "prod", "region": "eu"})
    assert not sel.matches({"env": "prod", "region": "ap"})
    assert not sel.matches({"env": "dev", "region": "eu"})
    assert not sel.matches({"env": "prod", "region": "eu", "legacy": "true"})
    assert config.LabelSelector().matches({})


def test_load_reads_pulumi_config_and_rejects_unknown_keys() -> None:
    import pulumi

    pulumi.runtime.set_all_config({"kommander:clusterName": "edge", "kommander:protect": "false"}, [])
    try:
        assert config.load().clusterName == "edge"
        pulumi.runtime.set_all_config({"kommander:bogus": "1"}, [])
        with pytest.raises(ConfigError, match=r"kommander:bogus: unknown config key"):
            config.load()
    finally:
        pulumi.runtime.set_all_config({}, [])
