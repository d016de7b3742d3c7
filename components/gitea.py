"""Gitea: the in-cluster Git server that holds the management repository.

Random admin credentials (pulumi-random, secret end to end) in a Secret in the
kommander namespace; Gitea as a Flux HelmRelease from the ``gitea`` HelmRepository
(created by the HelmRepositories component), waiting Ready; the admin user from that
Secret (``gitea.admin.existingSecret``); persistent storage that, with ``protect``,
survives an uninstall (the chart's ``helm.sh/resource-policy: keep``) under a protected
release, and without it goes with the release (that default deleted). Push-to-create is
on, so the first push of the ManagementRepository creates the repository (private) under
the admin user. The publisher reaches Gitea at ``gitea.externalUrl`` when set, else through
a port-forward to the ``gitea-http`` Service (:func:`endpoint`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import config
from components.k8s import WAIT_READY, Component, meta

#: Helm release name; the chart's HTTP service is ``<release>-http`` on port 3000.
RELEASE = "gitea"
HTTP_SERVICE = f"{RELEASE}-http"
HTTP_PORT = 3000
ADMIN_SECRET = "gitea-admin"
#: ConfigMap (key ``values.yaml``) with the chart defaults the release deletes (values set to null).
REMOVED_DEFAULTS = "gitea-removed-defaults"


@dataclass(frozen=True)
class GiteaArgs:
    namespace: pulumi.Input[str]
    """The kommander namespace (Gitea and its admin Secret)."""
    flux_namespace: pulumi.Input[str]
    """Where the HelmRepository lives."""
    version: str
    settings: config.Gitea
    chart_repository: str = "gitea"
    """Name of the HelmRepository (in the Flux namespace) that serves the ``gitea`` chart."""
    protect: bool = False


def in_cluster_url(namespace: str) -> str:
    return f"http://{HTTP_SERVICE}.{namespace}.svc.cluster.local:{HTTP_PORT}"


@dataclass(frozen=True)
class Endpoint:
    """How the repository publisher reaches Gitea."""

    url: str
    """Gitea's base URL as the publisher names it: ``externalUrl``, else the in-cluster URL."""
    forward: dict[str, Any] | None
    """With no ``externalUrl``: the Service port to forward to through the API server
    (``{namespace, name, port}``), since nothing outside the cluster serves Gitea before Flux
    has deployed an ingress controller (which happens after the first push)."""


def http_service(namespace: str) -> dict[str, Any]:
    """Gitea's HTTP Service port: ``{namespace, name, port}``."""
    return {"namespace": namespace, "name": HTTP_SERVICE, "port": HTTP_PORT}


def endpoint(settings: config.Gitea, namespace: str) -> Endpoint:
    """``externalUrl`` as it is, else a port-forward to Gitea's HTTP Service (``nodePort`` changes nothing here)."""
    if settings.externalUrl:
        return Endpoint(settings.externalUrl, None)
    return Endpoint(in_cluster_url(namespace), http_service(namespace))


def credentials_marker(username: str, password: str) -> str:
    """A short one-way fingerprint of the admin credentials (a pod annotation, so a rotation restarts Gitea)."""
    return hashlib.sha256(f"kommander-gitea:{username}:{password}".encode()).hexdigest()[:16]


def chart_values(
    settings: config.Gitea, namespace: str, protect: bool, credentials: str | None = None
) -> dict[str, Any]:
    """Helm values of the gitea chart: single replica, SQLite, admin from the Secret, persistent (pure).

    ``credentials`` (see :func:`credentials_marker`) goes into a pod annotation
    (``gitea.podAnnotations``, the key the chart renders into its pod template): when the
    password is rotated the pod restarts and the chart re-applies the admin password
    (``passwordMode: keepUpdated``).
    """
    root_url = settings.externalUrl or in_cluster_url(namespace)
    service: dict[str, Any] = {"type": "ClusterIP", "port": HTTP_PORT}
    if settings.nodePort:
        service = {"type": "NodePort", "port": HTTP_PORT, "nodePort": settings.nodePort}
    values: dict[str, Any] = {
        "replicaCount": 1,
        "strategy": {"type": "Recreate"},
        "gitea": {
            "admin": {"existingSecret": ADMIN_SECRET, "email": "gitea-admin@localhost", "passwordMode": "keepUpdated"},
            "config": {
                "server": {"ROOT_URL": root_url + "/", "DISABLE_SSH": True},
                "database": {"DB_TYPE": "sqlite3"},
                "session": {"PROVIDER": "memory"},
                "cache": {"ADAPTER": "memory"},
                "queue": {"TYPE": "level"},
                "service": {"DISABLE_REGISTRATION": True, "REQUIRE_SIGNIN_VIEW": True},
                "repository": {"ENABLE_PUSH_CREATE_USER": True, "DEFAULT_PUSH_CREATE_PRIVATE": True},
            },
        },
        "service": {"http": service, "ssh": {"type": "ClusterIP"}},
        "persistence": {
            "enabled": True,
            "size": settings.storageSize,
            "accessModes": ["ReadWriteOnce"],
            # The chart annotates its PVC helm.sh/resource-policy: keep; only a null deletes a
            # default key (Helm merges maps, so {} would keep it), and only an absent one lets
            # Helm delete the volume on uninstall (any other value keeps it too).
            "annotations": {"helm.sh/resource-policy": "keep" if protect else None},
        },
        "postgresql": {"enabled": False},
        "postgresql-ha": {"enabled": False},
        "valkey": {"enabled": False},
        "valkey-cluster": {"enabled": False},
    }
    if credentials:
        # the chart renders gitea.podAnnotations into the pod template (no top-level podAnnotations)
        values["gitea"]["podAnnotations"] = {"kommander.d2iq.io/admin-credentials": credentials}
    return values


def split_nulls(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``values`` without its null leaves, and those null leaves alone (pure).

    A null in an object Pulumi applies does not reliably reach the cluster (the Kubernetes
    provider unmarshals inputs skipping nulls: pulumi/pulumi-kubernetes#2997), so the nulls,
    which delete chart defaults, travel as YAML text in a ConfigMap instead.
    """
    kept: dict[str, Any] = {}
    nulls: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            nulls[key] = None
        elif isinstance(value, Mapping):
            kept[key], inner = split_nulls(value)
            if inner:
                nulls[key] = inner
        else:
            kept[key] = value
    return kept, nulls


class Gitea(Component):
    """Gitea from its Helm chart through Flux, with generated admin credentials."""

    url: pulumi.Output[str]
    """Gitea's URL as the repository publisher names it: ``externalUrl``, else in-cluster (see :func:`endpoint`)."""
    forward: pulumi.Output[dict[str, Any]] | None
    """The Service port the publisher forwards to through the API server; None with ``externalUrl``."""
    in_cluster_url: pulumi.Output[str]
    """Gitea's URL inside the cluster (what Flux uses)."""
    admin_username: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    """The generated admin password (secret)."""
    repository_url: pulumi.Output[str]
    """The management repository's URL as the publisher names it (under :attr:`url`)."""
    in_cluster_repository_url: pulumi.Output[str]
    """The management repository's URL inside the cluster."""
    release: k8s.apiextensions.CustomResource
    """The HelmRelease (waits Ready; depend on it before talking to Gitea)."""

    def __init__(self, name: str, args: GiteaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Gitea", name, opts)
        s = args.settings
        password = random.RandomPassword(
            f"{name}-admin-password",
            length=32,
            special=False,
            opts=self.child(additional_secret_outputs=["result"], protect=args.protect),
        )
        self.admin_password = pulumi.Output.secret(password.result)
        secret = k8s.core.v1.Secret(
            f"{name}-admin",
            metadata=meta(ADMIN_SECRET, args.namespace),
            type="Opaque",
            string_data={"username": s.adminUsername, "password": self.admin_password},
            opts=self.child(protect=args.protect),
        )
        namespace = pulumi.Output.from_input(args.namespace)
        marker = pulumi.Output.unsecret(self.admin_password.apply(lambda p: credentials_marker(s.adminUsername, p)))
        values = pulumi.Output.all(namespace, marker).apply(
            lambda v: split_nulls(chart_values(s, v[0], args.protect, v[1]))
        )
        # the chart defaults to delete, as text the HelmRelease reads first (valuesFrom, then values)
        removed = k8s.core.v1.ConfigMap(
            f"{name}-removed-defaults",
            metadata=meta(REMOVED_DEFAULTS, args.namespace),
            data={
                "values.yaml": namespace.apply(
                    lambda ns: yaml.safe_dump(split_nulls(chart_values(s, ns, args.protect))[1], sort_keys=True)
                )
            },
            opts=self.child(),
        )
        self.release = k8s.apiextensions.CustomResource(
            f"{name}-release",
            api_version="helm.toolkit.fluxcd.io/v2",
            kind="HelmRelease",
            metadata=meta(RELEASE, args.namespace, annotations=WAIT_READY),
            spec={
                "releaseName": RELEASE,
                "interval": "10m",
                "timeout": "10m",
                "chart": {
                    "spec": {
                        "chart": "gitea",
                        "version": args.version,
                        "sourceRef": {
                            "kind": "HelmRepository",
                            "name": args.chart_repository,
                            "namespace": args.flux_namespace,
                        },
                    }
                },
                "install": {"remediation": {"retries": 3}},
                "upgrade": {"remediation": {"retries": 3}},
                "valuesFrom": [{"kind": "ConfigMap", "name": REMOVED_DEFAULTS, "valuesKey": "values.yaml"}],
                "values": values.apply(lambda v: v[0]),
            },
            opts=self.child(depends_on=[secret, removed], protect=args.protect),
        )
        self.admin_username = pulumi.Output.all(self.release.id, secret.id).apply(lambda _: s.adminUsername)
        ready = pulumi.Output.all(namespace, self.release.id)
        self.in_cluster_url = ready.apply(lambda v: in_cluster_url(v[0]))
        self.url = ready.apply(lambda v: endpoint(s, v[0]).url)
        self.forward = None if s.externalUrl else ready.apply(lambda v: http_service(v[0]))
        path = f"{s.adminUsername}/{s.repository}.git"
        self.repository_url = self.url.apply(lambda u: f"{u}/{path}")
        self.in_cluster_repository_url = self.in_cluster_url.apply(lambda u: f"{u}/{path}")
        self.register_outputs(
            {
                "url": self.url,
                "in_cluster_url": self.in_cluster_url,
                "admin_username": self.admin_username,
                "repository_url": self.repository_url,
                "forward": self.forward,
            }
        )
