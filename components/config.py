"""The stack configuration: the one reader of ``pulumi.Config``.

Everything the program needs from ``Pulumi.<stack>.yaml`` is parsed here into frozen,
typed objects. Bad input is rejected before any resource is registered, with one
message that names the key (``kommander:projects[2].name: 'Team_A' is not a valid
DNS-1123 label``).

:func:`parse` is pure (plain mappings in, :class:`StackConfig` out) so that tests and
the automation driver validate stack files without a Pulumi engine; :func:`load`
reads the live Pulumi config and calls it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import SplitResult, urlsplit

import pulumi
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

PROJECT = "kommander"

#: The config keys of the project namespace (documented in README.md, Configuration).
KEYS = (
    "clusterName",
    "namespaces",
    "versions",
    "flux",
    "helmMirrorUrl",
    "helmMirrorCaSecret",
    "helmMirrorCaFile",
    "charts",
    "ingress",
    "gitea",
    "applicationsPath",
    "apps",
    "catalogs",
    "workspaces",
    "projects",
    "protect",
)

#: A path into the config: ``("workspaces", 0, "clusters", 1, "kubeconfig")``.
ConfigPath = tuple[str | int, ...]

#: Secret leaves: these fields must come from ``pulumi config set --secret``.
SECRET_FIELDS = frozenset({"kubeconfig", "password", "identity", "knownHosts", "eabHmacKey"})


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. The message names the key; Pulumi prints it without a traceback."""


# --------------------------------------------------------------------------- validators

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")


def dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS1123_LABEL.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid DNS-1123 label (lowercase letters, digits and '-', at most 63)")
    return value


def dns_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid DNS-1123 subdomain")
    return value


def _label_key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if prefix:
        dns_subdomain(prefix)
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        raise ValueError(f"{key!r} is not a valid label key")
    return key


def labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        _label_key(key)
        if len(val) > 63 or not _LABEL_VALUE.fullmatch(val):
            raise ValueError(f"label {key}: {val!r} is not a valid label value")
    return value


#: Characters a configured URL may not hold: quotes, backslash, backtick, angle brackets (besides whitespace and
#: control or format characters). Each would be percent-encoded in a real URL; raw, they break out of YAML or
#: shell text and hide what the URL is.
_URL_FORBIDDEN = frozenset("\"'\\`<>")


def url_text(value: str) -> str:
    """Reject whitespace, control and format characters (bidi overrides, zero-width) and quotes in a URL."""
    for i, ch in enumerate(value):
        if ch in _URL_FORBIDDEN or ch.isspace() or unicodedata.category(ch)[0] in "CZ":
            name = unicodedata.name(ch, f"U+{ord(ch):04X}")
            raise ValueError(f"is not a valid URL: character {i + 1} is {name}; percent-encode it or remove it")
    return value


def _parse_url(value: str) -> SplitResult:
    """``value`` split, with its port checked; a ValueError for malformed text (no traceback)."""
    url_text(value)
    try:
        parsed = urlsplit(value)
        parsed.port  # noqa: B018 (raises for a port out of range or not a number)
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    return parsed


_CREDENTIALS = "URLs must not carry credentials; use the credentials block (a secret)"


def http_url(value: str) -> str:
    parsed = _parse_url(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{value!r} is not a valid http(s) URL")
    if parsed.username is not None or parsed.password is not None:
        raise ValueError(_CREDENTIALS)
    return value.rstrip("/")


def git_url(value: str) -> str:
    if value.startswith(("http://", "https://")):
        return http_url(value)
    parsed = _parse_url(value)
    if parsed.scheme == "ssh" and parsed.hostname:
        if parsed.password is not None:  # ssh://git@host is how SSH sources are written; a password is not
            raise ValueError(_CREDENTIALS)
        return value
    raise ValueError(f"{value!r} is not a valid Git URL (https://… or ssh://…)")


def helm_url(value: str) -> str:
    if value.startswith("oci://") and len(value) > len("oci://"):
        parsed = _parse_url(value)
        if parsed.username is not None or parsed.password is not None:
            raise ValueError("URLs must not carry credentials; registry credentials belong in a Secret")
        if not parsed.hostname:
            raise ValueError(f"{value!r} is not a valid OCI URL (oci://<registry>/<path>)")
        return value.rstrip("/")
    return http_url(value)


def chart_source(value: str) -> str:
    """A chart repository URL (http(s) or oci), or a local chart directory (with Chart.yaml) or .tgz archive."""
    if value.startswith(("http://", "https://", "oci://")):
        return helm_url(value)
    path = Path(value)
    if path.is_dir():
        if not (path / "Chart.yaml").is_file():
            raise ValueError(f"{value!r} is a directory without Chart.yaml, not a Helm chart")
        return value
    if path.is_file():
        if not value.endswith((".tgz", ".tar.gz")):
            raise ValueError(f"{value!r} is not a chart archive (.tgz)")
        return value
    raise ValueError(
        f"{value!r} is neither a repository URL (https://, oci://) nor an existing chart directory or archive"
    )


def duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid duration (for example '1m', '10m0s', '1h')")
    return value


def quantity(value: str) -> str:
    if not _QUANTITY.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid Kubernetes quantity (for example '100m', '256Mi')")
    return value


def version(value: str) -> str:
    if not _VERSION.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid version (for example '1.2.3' or 'v1.2.3')")
    return value


def kubeconfig(value: str) -> str:
    """A kubeconfig: YAML with non-empty ``clusters``, ``users`` and ``contexts``. Never echoes the value."""
    try:
        doc = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"is not a kubeconfig: not valid YAML{where}") from None
    missing = [k for k in ("clusters", "users", "contexts") if not isinstance(doc, dict) or not doc.get(k)]
    if missing or not all(isinstance(doc[k], list) for k in ("clusters", "users", "contexts")):
        raise ValueError(f"is not a kubeconfig: needs non-empty lists clusters, users, contexts (missing: {missing})")
    return value


DnsLabel = Annotated[str, AfterValidator(dns_label)]
Labels = Annotated[dict[str, str], AfterValidator(labels)]
HttpUrl = Annotated[str, AfterValidator(http_url)]
GitUrl = Annotated[str, AfterValidator(git_url)]
Duration = Annotated[str, AfterValidator(duration)]
Quantity = Annotated[str, AfterValidator(quantity)]
Version = Annotated[str, AfterValidator(version)]
ChartSource = Annotated[str, AfterValidator(chart_source)]


def _unique(items: Iterable[Any], key: str) -> None:
    """Names in a list must be unique: the error names the second occurrence."""
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.name in seen:
            raise ConfigError(
                f"{PROJECT}:{key}[{i}].name: duplicate name {item.name!r} (also {key}[{seen[item.name]}])"
            )
        seen[item.name] = i


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False, hide_input_in_errors=True)

    _secret_fields: frozenset[str] = PrivateAttr(default=frozenset())
    _secret_all: bool = PrivateAttr(default=False)

    def is_secret(self, field: str) -> bool:
        """Whether ``field`` holds a value set as a secret (all of it, or a leaf inside it): wrap it in
        ``pulumi.Output.secret`` wherever it is used."""
        return self._secret_all or field in self._secret_fields


# --------------------------------------------------------------------------- sections


class Namespaces(_Model):
    """Where the platform lives."""

    kommander: DnsLabel = "kommander"
    flux: DnsLabel = "kommander-flux"
    certManager: DnsLabel = "cert-manager"
    labels: Labels = Field(default_factory=dict)

    @field_validator("kommander", "flux", "certManager")
    @classmethod
    def _not_kubernetes(cls, value: str) -> str:
        # the stack creates these namespaces and deletes them on destroy: never one of Kubernetes' own
        why = reserved_namespace(value)
        if why:
            raise ValueError(f"{value!r} is {why}; the platform creates and deletes its namespaces")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> Namespaces:
        names = [self.kommander, self.flux, self.certManager]
        if len(set(names)) != len(names):
            raise ValueError(f"kommander, flux and certManager must be distinct namespaces, got {names}")
        return self


class Versions(_Model):
    """Pinned versions of what the stack installs (Helm chart versions)."""

    flux: Version = "2.17.0"
    certManager: Version = "v1.19.1"
    gitea: Version = "12.4.0"
    chartmuseum: Version = "3.10.4"
    gatekeeper: Version = "3.20.1"
    traefik: Version = "37.1.2"


class Charts(_Model):
    """Where the controller charts Pulumi installs itself come from, instead of their upstream repository.

    Each is a chart repository URL (``https://``, ``oci://``) or a local chart directory or ``.tgz`` archive
    (relative to the project), for air-gapped installs; a local chart is installed as it is (its own version).
    """

    flux: ChartSource | None = None
    certManager: ChartSource | None = None


class Resources(_Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class ResourceRequirements(_Model):
    requests: Resources = Resources(cpu="100m", memory="64Mi")
    limits: Resources = Resources(memory="1Gi")


class Flux(_Model):
    """Flux controller tuning."""

    concurrency: int = Field(default=4, ge=1, le=100)
    logLevel: Literal["debug", "info", "error"] = "info"
    resources: ResourceRequirements = ResourceRequirements()
    requeueDependency: Duration = "5s"


class Acme(_Model):
    email: str
    server: HttpUrl = "https://acme-v02.api.letsencrypt.org/directory"
    solverClass: str = "traefik"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.fullmatch(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ValueError(f"{value!r} is not a valid email address")
        return value


class Ingress(_Model):
    """The platform's ingress and TLS."""

    enabled: bool = True
    domain: str = "kommander.127.0.0.1.nip.io"
    certificate: Literal["rootCA", "acme", "secret"] = "rootCA"
    acme: Acme | None = None
    secretName: DnsLabel | None = None

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return dns_subdomain(value)

    @model_validator(mode="after")
    def _source(self) -> Ingress:
        if self.certificate == "acme" and self.acme is None:
            raise ValueError("certificate 'acme' needs an 'acme' block with at least 'email'")
        if self.certificate == "secret" and self.secretName is None:
            raise ValueError("certificate 'secret' needs 'secretName' (a TLS Secret in the kommander namespace)")
        return self


class Gitea(_Model):
    """The in-cluster Git server and the management repository."""

    externalUrl: HttpUrl | None = None
    nodePort: int | None = Field(default=None, ge=30000, le=32767)
    adminUsername: DnsLabel = "kommander-admin"
    repository: DnsLabel = "kommander"
    branch: str = "main"
    pathPrefix: str = ""
    authorName: str = "Kommander"
    authorEmail: str = "kommander@localhost"
    storageSize: Quantity = "10Gi"

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not re.fullmatch(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", value) or ".." in value or value.endswith((".lock", "/")):
            raise ValueError(f"{value!r} is not a valid Git branch name")
        return value

    @field_validator("pathPrefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if value and (".." in value.split("/") or not re.fullmatch(r"^[A-Za-z0-9._/-]+$", value)):
            raise ValueError(f"{value!r} is not a valid relative path")
        return value


class App(_Model):
    """One optional application: ``kommander:apps.<name>``."""

    enabled: bool = True
    version: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    clusters: list[DnsLabel] = Field(default_factory=lambda: ["host-cluster"])
    overrides: dict[DnsLabel, dict[str, Any]] = Field(default_factory=dict)
    variables: dict[Annotated[str, StringConstraints(pattern=r"^[_A-Za-z][_A-Za-z0-9]*$")], str] = Field(
        default_factory=dict
    )
    """Substitution variables the app's manifests need that the stack does not set (``${name}``)."""

    @model_validator(mode="after")
    def _overrides(self) -> App:
        unknown = sorted(set(self.overrides) - set(self.clusters))
        if unknown:
            raise ValueError(f"overrides name clusters the app is not deployed to: {unknown}")
        return self


class LabelSelectorRequirement(_Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        _label_key(self.key)
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(_Model):
    matchLabels: Labels = Field(default_factory=dict)
    matchExpressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    def matches(self, target: Mapping[str, str]) -> bool:
        """Kubernetes label-selector semantics (an empty selector matches everything)."""
        for key, val in self.matchLabels.items():
            if target.get(key) != val:
                return False
        for req in self.matchExpressions:
            present = req.key in target
            if req.operator == "In" and (not present or target[req.key] not in req.values):
                return False
            if req.operator == "NotIn" and present and target[req.key] in req.values:
                return False
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
        return True


class GitRef(_Model):
    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    commit: str | None = None

    @model_validator(mode="after")
    def _one(self) -> GitRef:
        set_ = [k for k in ("branch", "tag", "semver", "commit") if getattr(self, k)]
        if len(set_) != 1:
            raise ValueError(f"set exactly one of branch, tag, semver, commit (got {set_ or 'none'})")
        if self.commit and not re.fullmatch(r"^[0-9a-f]{7,40}$", self.commit):
            raise ValueError(f"commit {self.commit!r} is not a hexadecimal Git SHA")
        return self


class Catalog(_Model):
    """A catalog Git repository propagated to matching workspaces and projects."""

    name: DnsLabel
    url: GitUrl
    ref: GitRef = GitRef(branch="main")
    interval: Duration = "10m"
    selector: LabelSelector = LabelSelector()


class Cluster(_Model):
    """An attached cluster of a workspace; its kubeconfig is secret config."""

    name: DnsLabel
    labels: Labels = Field(default_factory=dict)
    kubeconfig: SecretStr

    @field_validator("name")
    @classmethod
    def _not_host(cls, value: str) -> str:
        if value == "host-cluster":
            raise ValueError("'host-cluster' is the management cluster, attached automatically")
        return value

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig(cls, value: SecretStr) -> SecretStr:
        kubeconfig(value.get_secret_value())
        return value


class Workspace(_Model):
    name: DnsLabel
    labels: Labels = Field(default_factory=dict)
    clusters: list[Cluster] = Field(default_factory=list)


class Credentials(_Model):
    """Git credentials: username/password (HTTPS) or an SSH identity with known_hosts."""

    username: str | None = None
    password: SecretStr | None = None
    identity: SecretStr | None = None
    knownHosts: SecretStr | None = None

    @model_validator(mode="after")
    def _kind(self) -> Credentials:
        basic = self.username is not None or self.password is not None
        ssh = self.identity is not None or self.knownHosts is not None
        if basic and ssh:
            raise ValueError("use either username/password or identity/knownHosts, not both")
        if basic and (self.username is None or self.password is None):
            raise ValueError("username and password go together")
        if ssh and (self.identity is None or self.knownHosts is None):
            raise ValueError("identity and knownHosts go together")
        if not basic and not ssh:
            raise ValueError("give username/password or identity/knownHosts")
        return self


class GitOpsSource(_Model):
    name: DnsLabel
    url: GitUrl
    ref: GitRef = GitRef(branch="main")
    path: str = "./"
    interval: Duration = "1m"
    suspend: bool = False
    prune: bool = True
    credentials: Credentials | None = None

    @model_validator(mode="after")
    def _ssh_needs_identity(self) -> GitOpsSource:
        if self.url.startswith("ssh://") and (self.credentials is None or self.credentials.identity is None):
            raise ValueError("an ssh:// url needs credentials with identity and knownHosts")
        if self.credentials and self.credentials.identity and not self.url.startswith("ssh://"):
            raise ValueError("SSH credentials need an ssh:// url")
        return self


class Project(_Model):
    name: DnsLabel
    workspace: DnsLabel
    namespace: DnsLabel | None = None
    labels: Labels = Field(default_factory=dict)
    clusterSelector: LabelSelector = LabelSelector()
    sources: list[GitOpsSource] = Field(default_factory=list)


# --------------------------------------------------------------------------- the whole


class StackConfig(_Model):
    """The typed stack configuration."""

    clusterName: DnsLabel = "management"
    namespaces: Namespaces = Namespaces()
    versions: Versions = Versions()
    flux: Flux = Flux()
    helmMirrorUrl: Annotated[str, AfterValidator(helm_url)] | None = None
    helmMirrorCaSecret: DnsLabel | None = None
    """A Secret in the flux namespace (key ``ca.crt``) trusted by every HelmRepository (air-gapped mirrors)."""
    helmMirrorCaFile: Path | None = None
    """A PEM CA bundle on the machine running Pulumi, trusted by the Helm client that installs Flux and
    cert-manager from an https mirror (``helmMirrorCaSecret`` is the in-cluster copy Flux trusts)."""
    charts: Charts = Charts()
    ingress: Ingress = Ingress()
    gitea: Gitea = Gitea()
    applicationsPath: Path | None = None
    apps: dict[DnsLabel, App] = Field(default_factory=dict)
    catalogs: list[Catalog] = Field(default_factory=list)
    workspaces: list[Workspace] = Field(default_factory=list)
    projects: list[Project] = Field(default_factory=list)
    protect: bool = False

    _secret_paths: frozenset[ConfigPath] = PrivateAttr(default=frozenset())

    @property
    def secret_paths(self) -> frozenset[ConfigPath]:
        """The config paths that were set as secrets (``("gitea", "authorEmail")``; a whole key: ``("gitea",)``)."""
        return self._secret_paths

    def holds_secret(self, *path: str | int) -> bool:
        """Whether the value at ``path`` is secret or holds a secret leaf (``holds_secret("apps", "web")``)."""
        n = len(path)
        return any(p[:n] == path or path[: len(p)] == p for p in self._secret_paths)

    @field_validator("helmMirrorCaFile")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        try:
            text = value.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{str(value)!r} cannot be read ({type(exc).__name__})") from None
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise ValueError(f"{str(value)!r} holds no PEM certificate")
        return value

    @field_validator("applicationsPath")
    @classmethod
    def _apps_path(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{str(value)!r} is not a directory")
        return value


def _cross_checks(cfg: StackConfig) -> None:
    """Checks that span sections; each names the key it blames."""
    _unique(cfg.catalogs, "catalogs")
    _unique(cfg.workspaces, "workspaces")
    _unique(cfg.projects, "projects")
    for i, w in enumerate(cfg.workspaces):
        _unique(w.clusters, f"workspaces[{i}].clusters")
    for i, p in enumerate(cfg.projects):
        _unique(p.sources, f"projects[{i}].sources")
    workspaces = {w.name for w in cfg.workspaces} | {"default"}
    from components.tenancy_plan import DEFAULT_WORKSPACE_NAMESPACE  # it imports this module

    for field in ("kommander", "flux", "certManager"):
        if getattr(cfg.namespaces, field) == DEFAULT_WORKSPACE_NAMESPACE:
            raise ConfigError(
                f"kommander:namespaces.{field}: {DEFAULT_WORKSPACE_NAMESPACE!r} is the default workspace's namespace"
            )
    platform = platform_namespaces(cfg)
    for i, w in enumerate(cfg.workspaces):
        if w.name in platform:
            raise ConfigError(f"kommander:workspaces[{i}].name: {w.name!r} is {platform[w.name]}")
        why = reserved_namespace(w.name) if w.name != "default" else None  # its namespace is not 'default'
        if why:
            raise ConfigError(f"kommander:workspaces[{i}].name: {w.name!r} is {why}; a workspace is its namespace")
    namespaces: dict[str, str] = {w.name: f"workspaces[{i}]" for i, w in enumerate(cfg.workspaces)}
    for i, p in enumerate(cfg.projects):
        if p.workspace not in workspaces:
            raise ConfigError(
                f"kommander:projects[{i}].workspace: unknown workspace {p.workspace!r} "
                f"(defined: {', '.join(sorted(workspaces))})"
            )
        ns = p.namespace or p.name
        field = "namespace" if p.namespace else "name"
        why = reserved_namespace(ns)
        if why:
            raise ConfigError(f"kommander:projects[{i}].{field}: {ns!r} is {why}; choose another project namespace")
        if ns in platform or ns in namespaces:
            other = namespaces.get(ns) or platform[ns]
            raise ConfigError(f"kommander:projects[{i}].namespace: {ns!r} is already used by {other}")
        namespaces[ns] = f"projects[{i}]"


#: Kubernetes' own namespaces; every ``kube-*`` name is reserved for Kubernetes too.
KUBERNETES_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def reserved_namespace(name: str) -> str | None:
    """Why a tenant namespace may not be ``name`` (Kubernetes' own), or None."""
    if name in KUBERNETES_NAMESPACES or name.startswith("kube-"):
        return "a namespace reserved for Kubernetes"
    return None


def platform_namespaces(cfg: StackConfig) -> dict[str, str]:
    """The namespaces the platform itself creates (``namespaces.*`` and the default workspace's), each with what
    it is."""
    from components.tenancy_plan import DEFAULT_WORKSPACE_NAMESPACE  # it imports this module

    ns = cfg.namespaces
    return {
        DEFAULT_WORKSPACE_NAMESPACE: "the default workspace's namespace",
        **dict.fromkeys((ns.kommander, ns.flux, ns.certManager), "a platform namespace"),
    }


#: How deep free-form values (``apps.<app>.values``, ``overrides.<cluster>``) may nest: mappings and lists.
MAX_DEPTH = 64
#: How deep any key may nest: free-form values and the levels around them (``apps.<app>.overrides.<cluster>``).
MAX_KEY_DEPTH = MAX_DEPTH + 4
#: The largest YAML of one app's values on one cluster: Kubernetes caps a ConfigMap's data at 1 MiB
#: (1048576 bytes); 16 KiB of it are left for the object's metadata and the patch that carries values to an
#: attached cluster.
MAX_VALUES_BYTES = 1024 * 1024 - 16 * 1024
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _free_form(raw: Mapping[str, Any]) -> Iterator[tuple[ConfigPath, Any]]:
    apps = raw.get("apps")
    for name, app in apps.items() if isinstance(apps, Mapping) else ():
        if not isinstance(app, Mapping):
            continue
        if "values" in app:
            yield ("apps", name, "values"), app["values"]
        overrides = app.get("overrides")
        for cluster, values in overrides.items() if isinstance(overrides, Mapping) else ():
            yield ("apps", name, "overrides", cluster), values


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting of mappings and lists (a scalar: 0), counted without recursion and up to ``limit + 1``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > limit:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def _free_form_depth(raw: Mapping[str, Any]) -> None:
    for path, value in _free_form(raw):
        if _depth(value) > MAX_DEPTH:
            raise ConfigError(f"{PROJECT}:{format_path(path)}: nested more than {MAX_DEPTH} levels deep")


def _key_depth(raw: Mapping[str, Any]) -> None:
    """No key nests deeper than free-form values may (plus the levels around them)."""
    for key, value in raw.items():
        if _depth(value, MAX_KEY_DEPTH) > MAX_KEY_DEPTH:
            raise ConfigError(f"{PROJECT}:{key_segment(key, first=True)}: nested more than {MAX_KEY_DEPTH} levels deep")


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base`` as Helm merges values: nested mappings merged, everything else replaced."""
    out = dict(base)
    for key, value in top.items():
        old = out.get(key)
        out[key] = _merge(old, value) if isinstance(value, Mapping) and isinstance(old, Mapping) else value
    return out


def _yaml_size(values: Mapping[str, Any]) -> int:
    return len(yaml.dump(dict(values), Dumper=_DUMPER, sort_keys=True, allow_unicode=True).encode())


def _values_size(cfg: StackConfig) -> None:
    """An app's values on each of its clusters fit the ConfigMap (or patch) that carries them."""
    for name, app in cfg.apps.items():
        key = f"{PROJECT}:{format_path(('apps', name))}"
        size = _yaml_size(app.values) if app.values else 0
        if size > MAX_VALUES_BYTES:
            raise ConfigError(f"{key}.values: {_too_large(size)}")
        for cluster, override in app.overrides.items():
            size = _yaml_size(_merge(app.values, override)) if override else 0
            if size > MAX_VALUES_BYTES:
                raise ConfigError(f"{key}.overrides.{cluster}: with values, {_too_large(size)}")


def _too_large(size: int) -> str:
    return (
        f"{size:,} bytes as YAML, over the {MAX_VALUES_BYTES:,} one ConfigMap can hold (Kubernetes caps an "
        "object at 1 MiB); keep large data in the chart or a file it reads"
    )


# --------------------------------------------------------------------------- errors


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def key_segment(part: str, first: bool = False) -> str:
    """A key in a config path: ``.name`` when plain, ``['odd key']`` (quoted) otherwise."""
    if _PLAIN_KEY.fullmatch(part):
        return part if first else f".{part}"
    return f"[{part!r}]"


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-after", "function-", "literal[", "union[", "str", "constrained")):
            continue
        else:
            out += key_segment(part, first=not out)
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that holds the field at ``loc`` (for listing the known keys)."""
    model: Any = StackConfig
    skip_key = False
    for part in loc:
        if isinstance(part, int):
            continue
        if skip_key:  # a key of a dict-valued field (apps.<name>)
            skip_key = False
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        skip_key = get_origin(field.annotation) is dict
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _message(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        parent = _model_at(tuple(err["loc"])[:-1])
        known = f" (known: {', '.join(parent.model_fields)})" if parent else ""
        return f"unknown key{known}"
    if kind == "missing":
        return "required key is missing"
    return msg[0].lower() + msg[1:]


def format_error(exc: ValidationError) -> str:
    """One line per problem, each starting with the full config key."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        path = _path(tuple(err["loc"]))
        lines.append(f"{PROJECT}:{path}: {_message(err)}" if path else f"{PROJECT}: {_message(err)}")
    return "\n".join(lines)


def _unknown_key_hint(raw: Mapping[str, Any]) -> None:
    for key in raw:
        if key not in KEYS:
            raise ConfigError(
                f"{PROJECT}:{key_segment(key, first=True)}: unknown config key (known: {', '.join(KEYS)})"
            )


_PATH_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_PATH_TOKEN = re.compile(r'\.([A-Za-z_$][A-Za-z0-9_$-]*)|\[([0-9]+)\]|\[("(?:[^"\\]|\\.)*")\]')


def format_path(path: ConfigPath) -> str:
    """A config path as ``pulumi config set --path`` writes it: ``workspaces[0].clusters[1].kubeconfig``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PATH_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def split_path(text: str) -> ConfigPath:
    """The inverse of :func:`format_path` (a top-level key alone is a path of one)."""
    head = _PATH_KEY.match(text)
    if head is None:
        return (text,)
    parts: list[str | int] = [head.group(0)]
    pos = head.end()
    while pos < len(text):
        token = _PATH_TOKEN.match(text, pos)
        if token is None:
            return (text,)  # not a path: a key of its own
        key, index, quoted = token.groups()
        parts.append(key if key is not None else int(index) if index is not None else json.loads(quoted))
        pos = token.end()
    return tuple(parts)


def _under(path: ConfigPath, secret: frozenset[ConfigPath]) -> bool:
    return any(path[:i] in secret for i in range(1, len(path) + 1))


def _walk(node: Any, path: ConfigPath) -> Iterator[tuple[ConfigPath, Any]]:
    """Every (path, value) below ``node``, depth first, without recursion, down to :data:`MAX_KEY_DEPTH`
    levels (deeper config is rejected by :func:`_key_depth`)."""
    stack: list[tuple[ConfigPath, Any]] = [(path, node)]
    while stack:
        here, value = stack.pop()
        yield here, value
        if len(here) > MAX_KEY_DEPTH:
            continue
        if isinstance(value, Mapping):
            stack.extend(((*here, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend(((*here, i), v) for i, v in reversed(list(enumerate(value))))


def _secret_leaves_are_secret(raw: Mapping[str, Any], secret: frozenset[ConfigPath]) -> None:
    """A secret field may only be set where Pulumi holds it encrypted: at that leaf, or a key around it."""
    for path, value in _walk(raw, ()):
        if path and path[-1] in SECRET_FIELDS and value is not None and not _under(path, secret):
            here = format_path(path)
            raise ConfigError(
                f"{PROJECT}:{here}: a secret; set it with "
                f"`pulumi config set --secret --path '{here}' …` so it is stored encrypted"
            )


#: Settings that name what Flux reads (a branch, a folder): written in plain text into Flux objects' specs, so
#: they cannot be kept secret, and setting one as a secret is an error rather than a leak.
PLAIN_ONLY = {
    ("gitea", "branch"): "the GitRepository Flux reads carries it",
    ("gitea", "pathPrefix"): "every Kustomization path Flux reads carries it",
}


def _plain_only_settings_are_plain(raw: Mapping[str, Any], secret: frozenset[ConfigPath]) -> None:
    for path, where in PLAIN_ONLY.items():
        node: Any = raw
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None and _under(path, secret):
            raise ConfigError(
                f"{PROJECT}:{format_path(path)}: set as a secret, but {where} in plain text; set it without --secret"
            )


def _secret_strings(raw: Mapping[str, Any], secret: frozenset[ConfigPath]) -> set[str]:
    """The string values set as secrets (never to be echoed in a message)."""
    return {v for path, v in _walk(raw, ()) if isinstance(v, str) and v and _under(path, secret)}


def _redact(message: str, secrets: set[str]) -> str:
    """``message`` (one problem a line, each ``<key>: <what>``) with every secret value taken out of ``<what>``."""
    lines = []
    for line in message.split("\n"):
        key, sep, what = line.partition(": ")
        for value in sorted(secrets, key=len, reverse=True):
            what = what.replace(repr(value), "(a secret value)")
            if len(value) >= 4:
                what = what.replace(value, "(a secret value)")
        lines.append(f"{key}{sep}{what}")
    return "\n".join(lines)


def _mark_secrets(cfg: StackConfig, secret: frozenset[ConfigPath]) -> None:
    """Record on each model which of its fields were set as secrets (see :meth:`_Model.is_secret`)."""
    cfg._secret_paths = secret
    for path in secret:
        node: Any = cfg
        for part in path:
            if isinstance(node, _Model):
                if not isinstance(part, str) or part not in type(node).model_fields:
                    break
                node._secret_fields = node._secret_fields | {part}
                node = getattr(node, part)
            else:
                node = _child(node, part)
                if node is _NONE:
                    break
        else:
            for _, value in _walk_models(node):
                value._secret_all = True


_NONE = object()


def _child(node: Any, part: str | int) -> Any:
    """``node[part]`` of a list or dict, or ``_NONE``."""
    if isinstance(node, list):
        return node[part] if isinstance(part, int) and 0 <= part < len(node) else _NONE
    if isinstance(node, dict):
        return node.get(part, _NONE)
    return _NONE


def _walk_models(node: Any) -> Iterator[tuple[None, _Model]]:
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, _Model):
            yield None, value
            stack.extend(getattr(value, f) for f in type(value).model_fields)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())


def parse(raw: Mapping[str, Any], secret_keys: Iterable[str] = (), stack: str = "dev") -> StackConfig:
    """Validate a mapping of project config keys (without the ``kommander:`` prefix).

    ``secret_keys`` lists what Pulumi holds encrypted: a key (all of it is secret) or the
    path of one leaf (``workspaces[0].clusters[0].kubeconfig``, as ``--path`` writes it).
    ``protect`` defaults to true on every stack but ``dev``. No message echoes a secret value.
    """
    secret = frozenset(split_path(k) for k in secret_keys)
    try:
        return _parse(raw, secret, stack)
    except ConfigError as exc:
        secrets = _secret_strings(raw, secret) if secret else set()
        if not secrets:
            raise
        raise ConfigError(_redact(str(exc), secrets)) from None


def _parse(raw: Mapping[str, Any], secret: frozenset[ConfigPath], stack: str) -> StackConfig:
    _unknown_key_hint(raw)
    _free_form_depth(raw)
    _key_depth(raw)
    _secret_leaves_are_secret(raw, secret)
    optional_strings = ("helmMirrorUrl", "helmMirrorCaSecret", "helmMirrorCaFile", "applicationsPath")
    data = {k: v for k, v in raw.items() if not (k in optional_strings and v == "")}
    data.setdefault("protect", stack != "dev")
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_error(exc)) from None
    _plain_only_settings_are_plain(raw, secret)
    _cross_checks(cfg)
    _values_size(cfg)
    from components import tenancy_plan  # it imports this module

    tenancy_plan.plan(cfg.workspaces, cfg.projects)  # its names and collisions, in the config stage
    _mark_secrets(cfg, secret)
    return cfg


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError):  # nested too deep for the parser: validation says which key
        return value


def _is_secure(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


#: At most this many nodes of a stack file's value are compared (a YAML alias bomb is a small file).
_MAX_NODES = 100_000


def secure_leaf_paths(key: str, value: Any) -> list[str]:
    """The paths (``--path`` syntax) of the ``secure:`` leaves in a stack file's value of ``key``."""
    found = _secure_leaves(value, value, (key,))
    return [format_path(p) for p in found] if found else []


def _secure_leaves(file_value: Any, engine_value: Any, key: ConfigPath) -> list[ConfigPath] | None:
    """The ``secure:`` leaves of a stack file's value when, beside them, it is the value the engine passed
    (``engine_value``); None when it is not that value (another file, an environment) or too large to compare."""
    out: list[ConfigPath] = []
    stack: list[tuple[ConfigPath, Any, Any]] = [(key, file_value, engine_value)]
    seen = 0
    while stack:
        path, theirs, ours = stack.pop()
        seen += 1
        if seen > _MAX_NODES or len(path) > MAX_KEY_DEPTH:
            return None
        if _is_secure(theirs):
            out.append(path)
            continue
        if isinstance(theirs, str) and isinstance(ours, Mapping | list):
            theirs = _decode(theirs)
        if isinstance(theirs, Mapping):
            if not isinstance(ours, Mapping) or set(theirs) != set(ours):
                return None
            stack.extend(((*path, k), v, ours[k]) for k, v in theirs.items())
        elif isinstance(theirs, list):
            if not isinstance(ours, list) or len(theirs) != len(ours):
                return None
            stack.extend(((*path, i), v, ours[i]) for i, v in enumerate(theirs))
        elif theirs != ours and str(theirs).lower() != str(ours).lower():
            return None
    return out


def _stack_file_values(stack: str) -> Mapping[str, Any]:
    """The ``config:`` block of ``Pulumi.<stack>.yaml`` beside ``Pulumi.yaml`` (or in its ``stackConfigDir``);
    empty when there is none or it cannot be read."""
    from pulumi.runtime import settings

    given = settings.get_root_directory()
    root = Path(given) if given and Path(given).is_dir() else Path.cwd()  # outside an engine: here
    try:
        project = yaml.safe_load((root / "Pulumi.yaml").read_text())
        folder = root / str(project.get("stackConfigDir") or "") if isinstance(project, dict) else root
        data = yaml.safe_load((folder / f"Pulumi.{stack.rpartition('/')[2]}.yaml").read_text())
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError, RecursionError):
        return {}
    values = data.get("config") if isinstance(data, dict) else None
    return values if isinstance(values, dict) else {}


def secret_leaves(raw: Mapping[str, Any], secret_keys: Iterable[str], stack: str) -> list[str]:
    """What of ``secret_keys`` (the keys the engine holds encrypted: any leaf of them) is secret, leaf by leaf.

    The engine tells only the key; the stack file tells which leaves are ``secure:``. When the file's value of
    a key is the value the engine passed, those leaves; otherwise (no file, an ESC environment) the whole key.
    """
    values: Mapping[str, Any] | None = None
    out: list[str] = []
    for key in secret_keys:
        if values is None:
            values = _stack_file_values(stack)
        missing = object()
        theirs = values.get(f"{PROJECT}:{key}", values.get(key, missing))
        leaves = None if theirs is missing else _secure_leaves(theirs, raw.get(key), (key,))
        out.extend(format_path(p) for p in leaves) if leaves else out.append(key)
    return out


def load() -> StackConfig:
    """Read this stack's ``kommander:*`` config from the Pulumi engine and validate it."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key in KEYS:
        full = f"{PROJECT}:{key}"
        value = runtime_config.get_config(full)
        if value is None:
            continue
        plain = key in ("clusterName", "helmMirrorUrl", "helmMirrorCaSecret", "helmMirrorCaFile", "applicationsPath")
        raw[key] = value if plain else _decode(value)
        if runtime_config.is_config_secret(full):
            secret_keys.append(key)
    present = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    unknown = sorted(k for k in present if k.startswith(f"{PROJECT}:") and k.split(":", 1)[1] not in KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown config key (known: {', '.join(KEYS)})")
    stack = pulumi.get_stack()
    return parse(raw, secret_leaves(raw, secret_keys, stack), stack)


class KubernetesTarget(_Model):
    """The stack's Kubernetes target, as the Kubernetes provider reads it (the ``kubernetes:`` namespace).

    Neither set: ``$KUBECONFIG`` (else ``~/.kube/config``) at its current context. The
    repository publisher reaches Gitea through this cluster's API server (a port-forward).
    """

    kubeconfig: SecretStr | None = None
    """``kubernetes:kubeconfig``: a path to a kubeconfig file, or its content."""
    context: str | None = None
    """``kubernetes:context``: a context of that kubeconfig."""

    def inputs(self) -> dict[str, str]:
        """Plain ``{kubeconfig, context}`` (empty strings when unset), to be wrapped as one secret."""
        return {
            "kubeconfig": self.kubeconfig.get_secret_value() if self.kubeconfig else "",
            "context": self.context or "",
        }


def kubernetes_target() -> KubernetesTarget:
    """Read ``kubernetes:kubeconfig`` and ``kubernetes:context`` from the Pulumi engine."""
    from pulumi.runtime import config as runtime_config

    kubeconfig = runtime_config.get_config("kubernetes:kubeconfig")
    context = runtime_config.get_config("kubernetes:context")
    return KubernetesTarget(kubeconfig=SecretStr(kubeconfig) if kubeconfig else None, context=context or None)
