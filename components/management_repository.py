"""ManagementRepository: the management Git repository's content, published by a dynamic provider.

The component reads and validates the static content (the application catalog,
``common/``, ``bootstrap/`` and the generated bootstrap manifests) at construction
time, from local files only, and passes its digest plus where it came from to a
:class:`RepositoryProvider` resource. The provider's ``diff`` compares that digest
(and the secret inputs), so ``pulumi preview`` shows a change exactly when the
repository would change; its ``create``/``update`` publish with :func:`gitrepo.publish`
(one commit per real change, none otherwise); ``delete`` leaves the repository and
its history alone. All Git and network work happens in the provider, never here.

The repository itself is created by the first push: Gitea runs with
``ENABLE_PUSH_CREATE_USER`` (see :mod:`components.gitea`), so no Gitea API client or
extra credentials are needed, and a re-run after a failed first push just pushes again.

The provider reaches Gitea at ``url`` itself when ``gitea.externalUrl`` is set; otherwise
(``forward``) through a port-forward to Gitea's Service via the stack's Kubernetes API
server (:mod:`components.portforward`), opened for the duration of a create or update
and pushed to as ``http://127.0.0.1:<ephemeral>/<owner>/<repo>.git``. The cluster's
credentials (``kubernetes``: the stack's ``kubernetes:kubeconfig`` and ``kubernetes:context``)
are a secret input and are not copied into the outputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pulumi.dynamic import (
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components import catalog, config, gitrepo, portforward, repository_content
from components.k8s import Component

#: The project's own folders: the bundled catalog, common manifests and bootstrap manifests.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Inputs that decide the repository's content: any change to one is a change to the repository.
CONTENT_KEYS = (
    "url",
    "forward",
    "branch",
    "path_prefix",
    "digest",
    "recipient",
    "username",
    "password",
    "kommander_namespace",
)
#: Outputs stored as secrets (their inputs are secret too).
SECRET_KEYS = ("password", "age_identity")
#: Inputs taken from ``gitea`` settings: input -> field (each a secret when set as one).
SETTINGS = {
    "branch": "branch",
    "path_prefix": "pathPrefix",
    "author_name": "authorName",
    "author_email": "authorEmail",
}
#: The secret input with the cluster's credentials: used to reach Gitea, never an output.
KUBERNETES_KEY = "kubernetes"


def provider_inputs(
    settings: config.Gitea,
    content: repository_content.ContentSpec,
    digest: str,
    *,
    url: pulumi.Input[str],
    username: pulumi.Input[str],
    password: pulumi.Input[str],
    recipient: pulumi.Input[str],
    age_identity: pulumi.Input[str],
    cluster_name: str,
    kommander_namespace: str,
    forward: pulumi.Input[Mapping[str, Any]] | None = None,
    kubernetes: pulumi.Input[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The inputs of :class:`RepositoryContent` (what :class:`RepositoryProvider` reads).

    ``forward`` (Gitea's Service, ``{namespace, name, port}``) makes the provider reach
    ``url`` through a port-forward, with the cluster's ``kubernetes`` target
    (``{kubeconfig, context}``; empty: the current context).
    """
    reach: dict[str, Any] = {}
    if forward is not None:
        reach = {"forward": forward, KUBERNETES_KEY: kubernetes or {"kubeconfig": "", "context": ""}}
    return {
        **reach,
        "url": url,
        **{key: _setting(settings, field) for key, field in SETTINGS.items()},
        "username": username,
        "password": password,
        "recipient": recipient,
        "age_identity": age_identity,
        "cluster_name": cluster_name,
        "kommander_namespace": kommander_namespace,
        **content.inputs(),
        "digest": digest,
    }


def _setting(settings: config.Gitea, field: str) -> pulumi.Input[str]:
    """A ``gitea`` setting as an input: a secret when it was set as one (``pulumi config set --secret``)."""
    value: str = getattr(settings, field)
    return pulumi.Output.secret(value) if settings.is_secret(field) else value


def secret_settings(settings: config.Gitea) -> list[str]:
    """The inputs (and outputs) that hold a ``gitea`` setting set as a secret."""
    return [key for key, field in SETTINGS.items() if settings.is_secret(field)]


@contextmanager
def reach(props: Mapping[str, Any]) -> Iterator[tuple[str, str, list[str]]]:
    """Where to push, for the duration of the ``with`` block: (URL, how messages name it, forward errors).

    ``url`` itself; or, with ``forward``, the same path on ``http://127.0.0.1:<ephemeral>``,
    a port-forward to Gitea's Service through the API server of the ``kubernetes`` target.
    """
    forward = props.get("forward")
    if not forward:
        yield props["url"], "", []
        return
    service = portforward.Service(str(forward["namespace"]), str(forward["name"]), int(forward["port"]))
    kube = props.get(KUBERNETES_KEY) or {}
    target = portforward.Target(str(kube.get("kubeconfig") or ""), str(kube.get("context") or ""))
    with portforward.forward(service, target) as tunnel:
        label = f"{props['url']} (through a port-forward to pod {tunnel.pod})"
        yield tunnel.url + urlsplit(props["url"]).path, label, tunnel.errors


class RepositoryProvider(ResourceProvider):
    """Publishes the management repository with GitPython (see :func:`gitrepo.publish`)."""

    #: The stack's ``kubernetes:`` config as the engine passes it (:meth:`configure`): how :meth:`read` reaches
    #: Gitea through the port-forward, since the cluster's credentials are an input only, never an output.
    _kubernetes: dict[str, str] | None = None

    def configure(self, req: ConfigureRequest) -> None:
        kubeconfig, context = req.config.get("kubernetes:kubeconfig"), req.config.get("kubernetes:context")
        self._kubernetes = {"kubeconfig": str(kubeconfig or ""), "context": str(context or "")}

    def _content(self, props: dict[str, Any]) -> tuple[dict[str, bytes], dict[str, bytes], bool]:
        """The files and plaintext secrets to publish, and whether the files are still those of ``digest``."""
        try:
            files = repository_content.collect(repository_content.ContentSpec.from_inputs(props))
        except catalog.CatalogError as exc:
            raise gitrepo.GitRepoError(f"{props['catalog_root']}: {exc}") from None
        same = repository_content.content_digest(files) == props["digest"]
        files[".sops.yaml"] = gitrepo.sops_config(props["recipient"])
        secret_path = f"{gitrepo.SECRETS_DIR}/{gitrepo.GITEA_SECRET}.enc.yaml"
        secrets = {
            secret_path: gitrepo.credentials_secret(props["kommander_namespace"], props["username"], props["password"])
        }
        return files, secrets, same

    def _publish(self, props: dict[str, Any]) -> dict[str, Any]:
        files, secrets, same = self._content(props)
        if not same:
            raise gitrepo.GitRepoError(
                "the repository content changed between preview and update (files under "
                f"{props['catalog_root']}); re-run to publish the current content"
            )
        prefix = props["path_prefix"]
        with reach(props) as (url, label, forward_errors):
            remote = gitrepo.Remote(url, props["username"], props["password"], props["branch"], label=label)
            try:
                result = gitrepo.publish(
                    remote,
                    files,
                    secrets,
                    prefix=prefix,
                    recipient=props["recipient"],
                    identity=props["age_identity"],
                    author=gitrepo.Author(props["author_name"], props["author_email"]),
                )
            except gitrepo.GitRepoError as exc:
                if not forward_errors:
                    raise
                raise gitrepo.GitRepoError(f"{exc}; port-forward: {forward_errors[0]}") from None
        outs = {k: v for k, v in props.items() if k != KUBERNETES_KEY}
        return {**outs, "commit": result.commit, "committed": result.committed}

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._publish(props)
        return CreateResult(id_=f"{props['url']}#{props['branch']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in CONTENT_KEYS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], stables=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._publish(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """The repository and its history stay: the platform's desired state is not destroyed with the stack."""

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The remote branch as it is now (``pulumi refresh``), reached as ``create`` reaches it.

        ``commit`` follows the branch head. When the branch no longer holds what was published
        (a force-push, a reset, a deleted branch or repository), ``digest`` records the difference
        instead, so the next preview shows an update and ``up`` publishes again. When the local
        content changed since, only a moved head can be told (that ``up`` publishes anyway).
        """
        files, secrets, same = self._content(props)
        kube = self._kubernetes if props.get("forward") else None
        with reach({**props, KUBERNETES_KEY: kube} if kube is not None else props) as (url, label, forward_errors):
            remote = gitrepo.Remote(url, props["username"], props["password"], props["branch"], label=label)
            try:
                seen = gitrepo.observe(
                    remote,
                    files,
                    secrets,
                    prefix=props["path_prefix"],
                    recipient=props["recipient"],
                    identity=props["age_identity"],
                )
            except gitrepo.GitRepoError as exc:
                if not forward_errors:
                    raise
                raise gitrepo.GitRepoError(f"{exc}; port-forward: {forward_errors[0]}") from None
        differs = bool(seen.added or seen.changed or seen.removed) if same else seen.commit != props.get("commit")
        outs = {**props, "commit": seen.commit}
        if differs:
            counts = f"{len(seen.added)} missing, {len(seen.changed)} changed, {len(seen.removed)} extra"
            where = f"branch {props['branch']} at {seen.commit[:12]}" if seen.commit else f"no branch {props['branch']}"
            outs["digest"] = f"changed on the remote ({where}: {counts})"
        return ReadResult(id_=id_, outs=outs)


class RepositoryContent(Resource):
    """The published content of the management repository."""

    commit: pulumi.Output[str]
    """The branch head after the last publish."""
    digest: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_KEYS))
        super().__init__(
            RepositoryProvider(),
            name,
            {**props, "commit": None, "committed": None},
            pulumi.ResourceOptions.merge(opts, secret),
        )


@dataclass(frozen=True)
class ManagementRepositoryArgs:
    url: pulumi.Input[str]
    """The repository URL as this program reaches it (credentials never in it)."""
    username: pulumi.Input[str]
    password: pulumi.Input[str]
    """The Gitea admin password (secret)."""
    recipient: pulumi.Input[str]
    """The age recipient secrets are encrypted for."""
    age_identity: pulumi.Input[str]
    """The matching age identity (secret): unchanged encrypted files are recognised, not re-encrypted."""
    settings: config.Gitea
    cluster_name: str
    kommander_namespace: str
    content: repository_content.ContentSpec
    """What the static content is built from (the stack plan's)."""
    digest: str
    """Its digest (the stack plan's: computed once, before any resource)."""
    forward: pulumi.Input[Mapping[str, Any]] | None = None
    """Gitea's Service (``{namespace, name, port}``) to reach ``url`` through a port-forward; None: ``url`` itself."""
    kubernetes: config.KubernetesTarget = field(default_factory=config.KubernetesTarget)
    """The cluster the port-forward goes through (passed to the provider as one secret)."""


class ManagementRepository(Component):
    """The management repository's content: catalog, common, bootstrap, ``.sops.yaml``, encrypted secrets."""

    commit: pulumi.Output[str]
    """The commit the branch points to after publishing (changes exactly when the content does)."""
    digest: str
    """Digest of the static content (known at preview)."""
    path: str
    """Path of the management cluster's kustomization in the repository (``./<prefix>/clusters/<cluster>``)."""
    content: RepositoryContent
    """The dynamic resource that publishes (depend on it to wait for the content)."""

    def __init__(self, name: str, args: ManagementRepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:ManagementRepository", name, opts)
        self.digest = args.digest
        prefix = args.settings.pathPrefix
        self.path = "./" + "/".join(p for p in (prefix, repository_content.cluster_path(args.cluster_name)) if p)
        self.content = RepositoryContent(
            f"{name}-content",
            provider_inputs(
                args.settings,
                args.content,
                self.digest,
                url=args.url,
                username=args.username,
                password=pulumi.Output.secret(args.password),
                recipient=args.recipient,
                age_identity=pulumi.Output.secret(args.age_identity),
                cluster_name=args.cluster_name,
                kommander_namespace=args.kommander_namespace,
                forward=args.forward,
                kubernetes=pulumi.Output.secret(args.kubernetes.inputs()) if args.forward is not None else None,
            ),
            opts=self.child(additional_secret_outputs=secret_settings(args.settings)),
        )
        self.commit = self.content.commit
        self.register_outputs({"commit": self.commit, "digest": self.digest, "path": self.path})
