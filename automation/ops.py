"""Day-two operations on the tenants' GitOps sources: read, suspend, resume, reconcile, events.

Pure functions over Kubernetes API clients (``kubernetes.client.CustomObjectsApi`` and
``CoreV1Api``, or anything with the same methods); nothing here prints. What to read
comes from the stack file alone, through the tenancy plan: no Pulumi engine, no backend.

Where the objects live (Flux fans out from the management cluster): each source's
GitRepository and every Kustomization, for every cluster, are on the management cluster
(an attached cluster's Kustomization reaches it through ``spec.kubeConfig.secretRef``),
so suspend, resume and reconcile patch the management cluster only. HelmReleases live on
each cluster; :func:`cluster_clients` reaches the attached ones with the kubeconfig
Secret the management cluster holds for them.

Signatures (stable)::

    targets(cfg: StackConfig) -> Targets
    safe_url(url: str) -> str
    select(targets: Targets, *, workspace: str | None = None, project: str | None = None,
           source: str | None = None, cluster: str | None = None) -> tuple[Source, ...]
    read_status(api: CustomObjects, targets: Targets, *, workspace=None, project=None, source=None,
                cluster=None) -> list[Row]
    cluster_clients(api_core: CoreObjects, targets: Targets, *, cluster: str | None = None,
                    make: Callable[[str], CustomObjects] = client_from_kubeconfig) -> dict[str, CustomObjects | str]
    read_helm_releases(api: CustomObjects, targets: Targets, clusters: Mapping[str, CustomObjects | str], *,
                       cluster: str | None = None) -> list[HelmReleaseRow]
    suspend(api: CustomObjects, plan: Targets, project: str, source: str, cluster: str | None = None, *,
            stack_file: Path | None = None) -> list[Change]
    resume(api: CustomObjects, plan: Targets, project: str, source: str, cluster: str | None = None, *,
           stack_file: Path | None = None) -> list[Change]
    reconcile(api: CustomObjects, plan: Targets, project: str, source: str, cluster: str | None = None, *,
              with_source: bool = False, now: datetime | None = None) -> list[Change]
    events(api_core: CoreObjects, api: CustomObjects, plan: Targets, project: str, source: str,
           cluster: str | None = None) -> list[EventRow]
    healthy(rows: Iterable[Row | HelmReleaseRow]) -> bool

Errors: :class:`UnknownTargetError` (a ``ConfigError``: an unknown workspace, project,
source or cluster, one line naming it); :class:`UnreachableError` (the management
cluster did not answer). A refused patch (HTTP 403) is not raised: it is the ``error``
of that object's :class:`Change`. With ``stack_file`` and no ``cluster``, suspend and
resume also write ``suspend: true|false`` for the source into ``Pulumi.<stack>.yaml``
(see :mod:`automation.stackedit`): the edit is prepared before any patch, written after.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import yaml

from components import config, tenancy_plan
from components.config import ConfigError
from components.tenancy_plan import REQUESTED_AT

HOST_CLUSTER = tenancy_plan.HOST_CLUSTER
KUSTOMIZATIONS = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
GIT_REPOSITORIES = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")
HELM_RELEASES = ("helm.toolkit.fluxcd.io", "v2", "helmreleases")
#: (connect, read) seconds for every request: an unreachable cluster fails fast.
REQUEST_TIMEOUT = (5, 20)
#: Condition types whose ``True`` means trouble (Flux's abnormal-polarity conditions).
ABNORMAL = frozenset(
    {"Stalled", "FetchFailed", "BuildFailed", "StorageOperationFailed", "IncludeUnavailable", "ArtifactOutdated"}
)


class CustomObjects(Protocol):
    """The part of ``kubernetes.client.CustomObjectsApi`` used here."""

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, *, _request_timeout: Any = None
    ) -> Any: ...

    def list_cluster_custom_object(
        self, group: str, version: str, plural: str, *, _request_timeout: Any = None
    ) -> Any: ...

    def patch_namespaced_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Any,
        *,
        _request_timeout: Any = None,
    ) -> Any: ...


class CoreObjects(Protocol):
    """The part of ``kubernetes.client.CoreV1Api`` used here."""

    def read_namespaced_secret(self, name: str, namespace: str, *, _request_timeout: Any = None) -> Any: ...

    def list_namespaced_event(
        self, namespace: str, *, field_selector: str | None = None, _request_timeout: Any = None
    ) -> Any: ...


class UnknownTargetError(ConfigError):
    """A workspace, project, source or cluster the stack file does not have."""


class UnreachableError(Exception):
    """The management cluster did not answer (connection refused, timeout, TLS)."""


# --------------------------------------------------------------------------- what to read


@dataclass(frozen=True)
class Target:
    """One source on one cluster: its Kustomization (on the management cluster)."""

    cluster: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Source:
    """A project's GitOps source: its GitRepository and its Kustomization per selected cluster."""

    project: str
    workspace: str
    source: str
    key: str
    """Config key of the source (``kommander:projects[0].sources[1]``)."""
    namespace: str
    repository: str
    suspend: bool
    """``suspend`` in the stack file."""
    kustomizations: tuple[Target, ...]
    url: str = ""
    """The Git URL without any user information (``https://user:pass@`` is cut: see :func:`safe_url`)."""
    ref: str = ""
    """The Git reference as ``<kind> <value>`` (``branch main``, ``tag v1.4.0``)."""
    path: str = ""
    """The path in the repository the Kustomizations apply."""


@dataclass(frozen=True)
class Workspace:
    """A workspace and its namespace on the management cluster (its clusters: ``Targets.clusters``)."""

    name: str
    namespace: str


@dataclass(frozen=True)
class Project:
    """A project, also one without a source: its namespace and the clusters its selector picks."""

    name: str
    workspace: str
    namespace: str
    clusters: tuple[str, ...]
    """In workspace order; each of its sources has a Kustomization for each."""


@dataclass(frozen=True)
class Cluster:
    name: str
    workspace: str
    kubeconfig_secret: str | None
    """``<namespace>/<name>`` of its kubeconfig Secret on the management cluster; None for host-cluster."""


@dataclass(frozen=True)
class Targets:
    """What the stack file says exists: every source and every cluster."""

    sources: tuple[Source, ...]
    clusters: tuple[Cluster, ...]
    namespaces: Mapping[str, str] = field(default_factory=dict)
    """Project namespace -> project."""
    workspaces: tuple[Workspace, ...] = ()
    projects: tuple[Project, ...] = ()
    """Every project in the stack's order, also those without a source."""


def safe_url(url: str) -> str:
    """``url`` without user information (a password in a Git URL is never shown)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _ref(ref: config.GitRef) -> str:
    for kind in ("branch", "tag", "semver", "commit"):
        if value := getattr(ref, kind):
            return f"{kind} {value}"
    return ""


def targets(cfg: config.StackConfig) -> Targets:
    """Every workspace, project, source and cluster of the stack config (offline:
    ``stackfile.load(root, stack).config``)."""
    layout = tenancy_plan.plan(cfg.workspaces, cfg.projects)
    clusters = tuple(
        Cluster(c.name, ws.name, f"{ws.namespace}/{c.kubeconfig_secret}" if c.kubeconfig_secret else None)
        for ws in layout.workspaces
        for c in ws.clusters
    )
    sources = tuple(
        Source(
            project=p.name,
            workspace=p.workspace,
            source=sp.source.name,
            key=f"{p.key}.sources[{j}]",
            namespace=p.namespace,
            repository=sp.repository,
            suspend=sp.source.suspend,
            kustomizations=tuple(Target(t.cluster, t.namespace, t.name) for t in sp.targets),
            url=safe_url(sp.source.url),
            ref=_ref(sp.source.ref),
            path=sp.source.path,
        )
        for p in layout.projects
        for j, sp in enumerate(p.sources)
    )
    return Targets(
        sources,
        clusters,
        {p.namespace: p.name for p in layout.projects},
        workspaces=tuple(Workspace(w.name, w.namespace) for w in layout.workspaces),
        projects=tuple(Project(p.name, p.workspace, p.namespace, p.clusters) for p in layout.projects),
    )


def _unknown(what: str, name: str, known: Iterable[str], where: str = "") -> UnknownTargetError:
    names = ", ".join(sorted(set(known))) or "none"
    return UnknownTargetError(f"unknown {what} {name!r}{where} (known: {names})")


def select(
    targets: Targets,
    *,
    workspace: str | None = None,
    project: str | None = None,
    source: str | None = None,
    cluster: str | None = None,
) -> tuple[Source, ...]:
    """The sources (and their Kustomizations) the filters keep; an unknown name raises, naming it."""
    workspaces = {w.name for w in targets.workspaces}  # every cluster's among them: both come from the layout
    if workspace is not None and workspace not in workspaces:
        raise _unknown("workspace", workspace, workspaces)
    if cluster is not None and cluster not in {c.name for c in targets.clusters}:
        raise _unknown("cluster", cluster, (c.name for c in targets.clusters))
    if (
        workspace is not None
        and cluster is not None
        and cluster not in {c.name for c in targets.clusters if c.workspace == workspace}
    ):
        raise UnknownTargetError(f"cluster {cluster!r} is not in workspace {workspace!r}")
    kept = [s for s in targets.sources if workspace is None or s.workspace == workspace]
    if project is not None:
        projects = {s.project for s in targets.sources} | set(targets.namespaces.values())
        if project not in projects:
            raise _unknown("project", project, projects)
        kept = [s for s in kept if s.project == project]
        if not kept and workspace is not None:
            raise UnknownTargetError(f"project {project!r} is not in workspace {workspace!r}")
    if source is not None:
        if source not in {s.source for s in kept}:
            where = f" in project {project!r}" if project else ""
            raise _unknown("source", source, (s.source for s in kept), where)
        kept = [s for s in kept if s.source == source]
    if cluster is not None:
        kept = [
            Source(**{**s.__dict__, "kustomizations": tuple(t for t in s.kustomizations if t.cluster == cluster)})
            for s in kept
        ]
    return tuple(kept)


def _one_source(plan: Targets, project: str, source: str, cluster: str | None) -> Source:
    """The one source an action is for; with ``cluster``, it must deploy there."""
    (found,) = select(plan, project=project, source=source, cluster=cluster)
    if cluster is not None and not found.kustomizations:
        deployed = ", ".join(t.cluster for t in select(plan, project=project, source=source)[0].kustomizations)
        raise UnknownTargetError(
            f"source {source!r} of project {project!r} is not deployed to cluster {cluster!r} "
            f"(it is on: {deployed or 'no cluster'})"
        )
    return found


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Row:
    """One Flux object of a source: its GitRepository, or its Kustomization for one cluster."""

    project: str
    source: str
    cluster: str
    kind: str
    namespace: str
    name: str
    ready: str
    """``True``, ``False``, ``Unknown`` (no condition yet), ``Missing``, ``Forbidden`` or ``Unreachable``."""
    propagation: str
    """``True`` when the cluster runs the source's latest revision, else ``False``/``Unknown``."""
    revision: str
    message: str
    """Flux's Ready message, verbatim."""
    suspended: bool = False
    workspace: str = ""


@dataclass(frozen=True)
class HelmReleaseRow:
    """One HelmRelease on one cluster (Kommander's Helm Releases view)."""

    cluster: str
    project: str
    namespace: str
    """Namespace of the HelmRelease object."""
    name: str
    release: str
    """Helm release name: ``spec.releaseName``, else ``[targetNamespace-]name`` (Flux's default)."""
    release_namespace: str
    chart: str
    version: str
    """The deployed chart version (latest history entry), else the attempted or requested one."""
    ready: str
    message: str
    suspended: bool = False


@dataclass(frozen=True)
class Change:
    """What an action did (or failed to do) to one object, or to the stack file."""

    project: str
    source: str
    cluster: str
    kind: str
    """``Kustomization``, ``GitRepository`` or ``StackFile``."""
    namespace: str
    name: str
    field: str
    before: str
    after: str
    error: str = ""

    @property
    def changed(self) -> bool:
        return not self.error and self.before != self.after


@dataclass(frozen=True)
class EventRow:
    """A Kubernetes Event of a source's object, or one of its failing conditions."""

    time: str
    cluster: str
    kind: str
    namespace: str
    name: str
    type: str
    """``Normal``/``Warning`` for an Event, ``Condition`` for a failing condition."""
    reason: str
    message: str


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and status else None


def _is_api_error(exc: BaseException) -> bool:
    """An HTTP answer from the API server (as opposed to no answer at all)."""
    return _status_code(exc) is not None


def _reason(exc: BaseException) -> str:
    code = _status_code(exc)
    if code is None:
        text = " ".join(str(exc).split())
        return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
    return f"HTTP {code} {getattr(exc, 'reason', '') or ''}".strip()


def _unreachable(exc: BaseException) -> UnreachableError:
    return UnreachableError(f"cannot reach the management cluster: {_reason(exc)}")


def _get(api: CustomObjects, gvp: tuple[str, str, str], namespace: str, name: str) -> dict[str, Any] | int:
    """The object, or the HTTP status that refused it (404, 403...)."""
    group, version, plural = gvp
    try:
        obj = api.get_namespaced_custom_object(
            group, version, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
        )
    except Exception as exc:
        code = _status_code(exc)
        if code in (401, 403, 404):
            return code
        if code is None:
            raise _unreachable(exc) from None
        raise
    return dict(obj)


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _refused(code: int) -> tuple[str, str]:
    if code == 404:
        return "Missing", "not found"
    return "Forbidden", f"HTTP {code}: no permission to read it"


def _row(
    src: Source, cluster: str, kind: str, namespace: str, name: str, obj: dict[str, Any] | int, latest: str
) -> Row:
    """The Row of one object (``obj`` an int: the HTTP status that refused it)."""
    if isinstance(obj, int):
        ready, message = _refused(obj)
        return Row(src.project, src.source, cluster, kind, namespace, name, ready, "Unknown", "", message,
                   workspace=src.workspace)  # fmt: skip
    cond = _condition(obj, "Ready")
    status = obj.get("status") or {}
    if kind == "GitRepository":
        revision = latest
        propagation = "True" if latest else "Unknown"
    else:
        revision = str(status.get("lastAppliedRevision", ""))
        propagated = _condition(obj, "Propagation")
        if propagated is not None:
            propagation = str(propagated.get("status", "Unknown"))
        elif not latest:
            propagation = "Unknown"
        else:
            propagation = "True" if revision == latest else "False"
    return Row(
        src.project,
        src.source,
        cluster,
        kind,
        namespace,
        name,
        ready=str(cond.get("status", "Unknown")) if cond else "Unknown",
        propagation=propagation,
        revision=revision,
        message=str(cond.get("message", "")) if cond else "",
        suspended=bool((obj.get("spec") or {}).get("suspend", False)),
        workspace=src.workspace,
    )


def _source_rows(api: CustomObjects, src: Source) -> list[Row]:
    repo = _get(api, GIT_REPOSITORIES, src.namespace, src.repository)
    latest = (
        "" if isinstance(repo, int) else str(((repo.get("status") or {}).get("artifact") or {}).get("revision", ""))
    )
    rows = [_row(src, HOST_CLUSTER, "GitRepository", src.namespace, src.repository, repo, latest)]
    for t in src.kustomizations:
        ks = _get(api, KUSTOMIZATIONS, t.namespace, t.name)
        rows.append(_row(src, t.cluster, "Kustomization", t.namespace, t.name, ks, latest))
    return rows


def read_status(
    api: CustomObjects,
    targets: Targets,
    *,
    workspace: str | None = None,
    project: str | None = None,
    source: str | None = None,
    cluster: str | None = None,
) -> list[Row]:
    """Each selected source's GitRepository, then its Kustomization per cluster (management cluster reads)."""
    rows: list[Row] = []
    chosen = select(targets, workspace=workspace, project=project, source=source, cluster=cluster)
    for src in sorted(chosen, key=lambda s: (s.project, s.source)):
        rows += _source_rows(api, src)
    return rows


def client_from_kubeconfig(text: str) -> CustomObjects:
    """A CustomObjectsApi from a kubeconfig's text (nothing is written to disk)."""
    from kubernetes import client
    from kubernetes import config as kube_config

    api: CustomObjects = client.CustomObjectsApi(kube_config.new_client_from_config_dict(yaml.safe_load(text)))
    return api


def _plain(obj: Any) -> Any:
    """An API response as plain JSON-shaped data (model objects become camelCase dicts)."""
    if isinstance(obj, dict | list | str | int | float | bool) or obj is None:
        return obj
    from kubernetes.client import ApiClient

    return ApiClient.sanitize_for_serialization(ApiClient.__new__(ApiClient), obj)


def cluster_clients(
    api_core: CoreObjects,
    targets: Targets,
    *,
    cluster: str | None = None,
    make: Callable[[str], CustomObjects] = client_from_kubeconfig,
) -> dict[str, CustomObjects | str]:
    """A client per attached cluster, from its kubeconfig Secret on the management cluster;
    a string says why there is none (it shows as ``Unreachable``)."""
    out: dict[str, CustomObjects | str] = {}
    for c in targets.clusters:
        if c.kubeconfig_secret is None or (cluster is not None and c.name != cluster):
            continue
        namespace, _, name = c.kubeconfig_secret.partition("/")
        try:
            secret = _plain(api_core.read_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT))
            data = (secret.get("data") or {}).get(tenancy_plan.KUBECONFIG_KEY)
            if not data:
                out[c.name] = f"Secret {c.kubeconfig_secret} has no {tenancy_plan.KUBECONFIG_KEY}"
                continue
            out[c.name] = make(base64.b64decode(data).decode())
        except Exception as exc:
            if _status_code(exc) == 404:
                out[c.name] = f"kubeconfig Secret {c.kubeconfig_secret} not found"
            elif _status_code(exc) is None and not isinstance(exc, ValueError | KeyError | yaml.YAMLError):
                raise _unreachable(exc) from None
            else:  # never the Secret's content in the message
                why = _reason(exc) if _is_api_error(exc) else "not a usable kubeconfig"
                out[c.name] = f"kubeconfig Secret {c.kubeconfig_secret}: {why}"
    return out


def _release_row(cluster: str, project: str, hr: Mapping[str, Any]) -> HelmReleaseRow:
    meta, spec, status = hr.get("metadata") or {}, hr.get("spec") or {}, hr.get("status") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    target = spec.get("targetNamespace")
    history = status.get("history") or []
    latest = history[0] if history else {}
    chart_spec = (spec.get("chart") or {}).get("spec") or {}
    chart = latest.get("chartName") or chart_spec.get("chart") or (spec.get("chartRef") or {}).get("name", "")
    version = latest.get("chartVersion") or status.get("lastAttemptedRevision") or chart_spec.get("version", "")
    cond = _condition(hr, "Ready")
    return HelmReleaseRow(
        cluster=cluster,
        project=project,
        namespace=namespace,
        name=name,
        release=str(latest.get("name") or spec.get("releaseName") or (f"{target}-{name}" if target else name)),
        release_namespace=str(latest.get("namespace") or target or namespace),
        chart=str(chart),
        version=str(version),
        ready=str(cond.get("status", "Unknown")) if cond else "Unknown",
        message=str(cond.get("message", "")) if cond else "",
        suspended=bool(spec.get("suspend", False)),
    )


def read_helm_releases(
    api: CustomObjects,
    targets: Targets,
    clusters: Mapping[str, CustomObjects | str],
    *,
    cluster: str | None = None,
) -> list[HelmReleaseRow]:
    """Every HelmRelease on every cluster (``api`` reads host-cluster, ``clusters`` the attached ones)."""
    if cluster is not None:
        select(targets, cluster=cluster)
    rows: list[HelmReleaseRow] = []
    group, version, plural = HELM_RELEASES
    for c in targets.clusters:
        if cluster is not None and c.name != cluster:
            continue
        reader: CustomObjects | str = api if c.kubeconfig_secret is None else clusters.get(c.name, "no client")
        if isinstance(reader, str):
            rows.append(HelmReleaseRow(c.name, "", "", "", "", "", "", "", "Unreachable", reader))
            continue
        try:
            listing = reader.list_cluster_custom_object(group, version, plural, _request_timeout=REQUEST_TIMEOUT)
        except Exception as exc:
            if c.kubeconfig_secret is None and not _is_api_error(exc):
                raise _unreachable(exc) from None
            code = _status_code(exc)
            ready = "Forbidden" if code in (401, 403) else "Unreachable"
            rows.append(HelmReleaseRow(c.name, "", "", "", "", "", "", "", ready, _reason(exc)))
            continue
        items = sorted(listing.get("items", []), key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
        for hr in items:
            rows.append(_release_row(c.name, targets.namespaces.get(hr["metadata"]["namespace"], ""), hr))
    return rows


def healthy(rows: Iterable[Row | HelmReleaseRow]) -> bool:
    """True when every object is Ready, or suspended on purpose."""
    return all(r.ready == "True" or r.suspended for r in rows)


# --------------------------------------------------------------------------- actions


def _patch(
    api: CustomObjects,
    gvp: tuple[str, str, str],
    src: Source,
    cluster: str,
    namespace: str,
    name: str,
    field_name: str,
    body: dict[str, Any],
    read: Callable[[Mapping[str, Any]], str],
    after: str,
) -> Change:
    kind = "GitRepository" if gvp == GIT_REPOSITORIES else "Kustomization"
    change = Change(src.project, src.source, cluster, kind, namespace, name, field_name, "", after)
    current = _get(api, gvp, namespace, name)
    if isinstance(current, int):
        return Change(**{**change.__dict__, "error": _refused(current)[1]})
    before = read(current)
    if before == after:
        return Change(**{**change.__dict__, "before": before})
    group, version, plural = gvp
    try:
        api.patch_namespaced_custom_object(
            group, version, namespace, plural, name, body, _request_timeout=REQUEST_TIMEOUT
        )
    except Exception as exc:
        if not _is_api_error(exc):
            raise _unreachable(exc) from None
        code = _status_code(exc)
        error = f"HTTP {code}: no permission to patch it" if code in (401, 403) else _reason(exc)
        return Change(**{**change.__dict__, "before": before, "error": error})
    return Change(**{**change.__dict__, "before": before})


def _set_suspend(
    api: CustomObjects,
    plan: Targets,
    project: str,
    source: str,
    cluster: str | None,
    value: bool,
    stack_file: Path | None,
) -> list[Change]:
    src = _one_source(plan, project, source, cluster)
    edit = None
    if stack_file is not None and cluster is None:
        from automation import stackedit

        edit = stackedit.prepare_suspend(stack_file, src.key, value)  # raises before anything is patched
    text = "true" if value else "false"
    changes = [
        _patch(
            api,
            KUSTOMIZATIONS,
            src,
            t.cluster,
            t.namespace,
            t.name,
            "spec.suspend",
            {"spec": {"suspend": value}},
            lambda obj: "true" if (obj.get("spec") or {}).get("suspend") else "false",
            text,
        )
        for t in src.kustomizations
    ]
    if edit is not None:
        changes.append(
            Change(
                src.project, src.source, "", "StackFile", "", edit.path.name, f"{src.key}.suspend", edit.before, text
            )
        )
        edit.write()
    return changes


def suspend(
    api: CustomObjects,
    plan: Targets,
    project: str,
    source: str,
    cluster: str | None = None,
    *,
    stack_file: Path | None = None,
) -> list[Change]:
    """Suspend the source's Kustomizations (``spec.suspend: true``) on every cluster, or on ``cluster``;
    with ``stack_file`` (and no cluster), also set the source's ``suspend: true`` there so it lasts."""
    return _set_suspend(api, plan, project, source, cluster, True, stack_file)


def resume(
    api: CustomObjects,
    plan: Targets,
    project: str,
    source: str,
    cluster: str | None = None,
    *,
    stack_file: Path | None = None,
) -> list[Change]:
    """The reverse of :func:`suspend` (``spec.suspend: false``; the stack file's ``suspend: false``)."""
    return _set_suspend(api, plan, project, source, cluster, False, stack_file)


def requested_at(now: datetime) -> str:
    """The annotation's value as ``flux reconcile`` writes it (RFC 3339 with nanoseconds)."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def reconcile(
    api: CustomObjects,
    plan: Targets,
    project: str,
    source: str,
    cluster: str | None = None,
    *,
    with_source: bool = False,
    now: datetime | None = None,
) -> list[Change]:
    """Ask Flux to reconcile now (``reconcile.fluxcd.io/requestedAt``), the GitRepository first with
    ``with_source``. A suspended object is not annotated (its Change says so), as ``flux reconcile`` refuses it."""
    src = _one_source(plan, project, source, cluster)
    stamp = requested_at(now or datetime.now(UTC))
    body = {"metadata": {"annotations": {REQUESTED_AT: stamp}}}

    def annotation(obj: Mapping[str, Any]) -> str:
        return str(((obj.get("metadata") or {}).get("annotations") or {}).get(REQUESTED_AT, ""))

    changes = []
    objects = [(GIT_REPOSITORIES, HOST_CLUSTER, src.namespace, src.repository)] if with_source else []
    objects += [(KUSTOMIZATIONS, t.cluster, t.namespace, t.name) for t in src.kustomizations]
    for gvp, where, namespace, name in objects:
        current = _get(api, gvp, namespace, name)
        kind = "GitRepository" if gvp == GIT_REPOSITORIES else "Kustomization"
        if not isinstance(current, int) and (current.get("spec") or {}).get("suspend"):
            changes.append(
                Change(
                    src.project,
                    src.source,
                    where,
                    kind,
                    namespace,
                    name,
                    f"metadata.annotations[{REQUESTED_AT}]",
                    annotation(current),
                    stamp,
                    error="suspended: resume it first",
                )
            )
            continue
        changes.append(
            _patch(
                api, gvp, src, where, namespace, name, f"metadata.annotations[{REQUESTED_AT}]", body, annotation, stamp
            )
        )
    return changes


def _event_rows(api_core: CoreObjects, cluster: str, kind: str, namespace: str, name: str) -> list[EventRow]:
    selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    try:
        listing = _plain(
            api_core.list_namespaced_event(namespace, field_selector=selector, _request_timeout=REQUEST_TIMEOUT)
        )
    except Exception as exc:
        if not _is_api_error(exc):
            raise _unreachable(exc) from None
        return [EventRow("", cluster, kind, namespace, name, "Error", "EventsUnreadable", _reason(exc))]
    rows = []
    for ev in listing.get("items") or []:
        when = ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp")
        rows.append(
            EventRow(
                str(when or "").replace("+00:00", "Z"),  # the client's datetimes, written as Kubernetes does
                cluster,
                kind,
                namespace,
                name,
                str(ev.get("type", "")),
                str(ev.get("reason", "")),
                str(ev.get("message", "")),
            )
        )
    return rows


def _failing(cluster: str, kind: str, namespace: str, name: str, obj: Mapping[str, Any]) -> list[EventRow]:
    rows = []
    for cond in (obj.get("status") or {}).get("conditions") or []:
        ctype, status = str(cond.get("type", "")), str(cond.get("status", ""))
        bad = status == "True" if ctype in ABNORMAL else status == "False"
        if bad:
            rows.append(
                EventRow(
                    str(cond.get("lastTransitionTime", "")),
                    cluster,
                    kind,
                    namespace,
                    name,
                    "Condition",
                    f"{ctype}={status} {cond.get('reason', '')}".strip(),
                    str(cond.get("message", "")),
                )
            )
    return rows


def events(
    api_core: CoreObjects,
    api: CustomObjects,
    plan: Targets,
    project: str,
    source: str,
    cluster: str | None = None,
) -> list[EventRow]:
    """Recent Events of the source's GitRepository and Kustomizations, and their failing conditions,
    oldest first (as ``flux events --for``); all on the management cluster, where Flux records them."""
    src = _one_source(plan, project, source, cluster)
    objects = [(HOST_CLUSTER, "GitRepository", GIT_REPOSITORIES, src.namespace, src.repository)]
    objects += [(t.cluster, "Kustomization", KUSTOMIZATIONS, t.namespace, t.name) for t in src.kustomizations]
    rows: list[EventRow] = []
    for where, kind, gvp, namespace, name in objects:
        rows += _event_rows(api_core, where, kind, namespace, name)
        current = _get(api, gvp, namespace, name)
        if isinstance(current, int):
            rows.append(EventRow("", where, kind, namespace, name, "Condition", "Missing", _refused(current)[1]))
        else:
            rows += _failing(where, kind, namespace, name, current)
    return sorted(rows, key=lambda r: (r.time == "", r.time))
