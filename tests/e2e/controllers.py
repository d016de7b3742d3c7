"""A status writer that plays the controllers' part on an API server where none runs.

Flux's source, kustomize and helm controllers, cert-manager and Gatekeeper cannot run here (no kubelet, no
images). What the stack waits for is their status: ``pulumi.com/waitFor: condition=Ready`` holds a resource until
its ``Ready`` condition is ``True`` for the object's current generation. :class:`StatusWriter` polls the API server
and, for every object of those kinds, writes the status the real controller writes when it succeeds:

- Flux objects (GitRepository, HelmRepository, OCIRepository, Bucket, Kustomization, HelmRelease):
  ``observedGeneration`` and a ``Ready=True`` condition (reason ``Succeeded``) with its ``observedGeneration``, and
  a reconcile request handled as Flux handles it: a new ``reconcile.fluxcd.io/requestedAt`` value (an annotation
  change, no new generation) is reconciled and recorded as ``status.lastHandledReconcileAt``; a suspended object is
  left alone, as Flux leaves it (a suspended object is never reconciled);
- cert-manager (ClusterIssuer, Issuer, Certificate): ``Ready=True``; for a Certificate also the Secret it names
  (``kubernetes.io/tls`` with ``tls.crt``, ``tls.key`` and ``ca.crt``), self-signed for its common name;
- Gatekeeper (ConstraintTemplate): ``status.created: true``.

It does not apply what Kustomizations or HelmReleases point at, and it never reports a failure: tests that need a
failing controller patch the status themselves.
"""

from __future__ import annotations

import base64
import datetime
import threading
from dataclasses import dataclass
from typing import Any

from cluster import certificate, pem_key, x509_name
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client
from kubernetes.client.exceptions import ApiException

FLUX_GROUPS = ("source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io")
#: Flux's reconcile request annotation (fluxcd/pkg ``meta.ReconcileRequestAnnotation``).
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
CERT_MANAGER_GROUP = "cert-manager.io"
GATEKEEPER_GROUP = "templates.gatekeeper.sh"
READY_KINDS = {
    "GitRepository",
    "HelmRepository",
    "OCIRepository",
    "Bucket",
    "Kustomization",
    "HelmRelease",
    "ClusterIssuer",
    "Issuer",
    "Certificate",
}


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_condition(generation: int, reason: str = "Succeeded") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": reason,
        "message": "stand-in controller: ready",
        "lastTransitionTime": _now(),
        "observedGeneration": generation,
    }


def reconcile_request(obj: dict[str, Any]) -> str | None:
    """The ``reconcile.fluxcd.io/requestedAt`` value of a Flux object (None: none, or not a Flux object)."""
    if obj["apiVersion"].split("/")[0] not in FLUX_GROUPS:
        return None
    return (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT) or None


def is_ready(obj: dict[str, Any]) -> bool:
    """Whether ``obj`` already carries the status this writer would write."""
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation", 1)
    if obj["kind"] == "ConstraintTemplate":
        return bool(status.get("created"))
    conditions = status.get("conditions") or []
    request = reconcile_request(obj)
    if request and status.get("lastHandledReconcileAt") != request:
        return False
    return status.get("observedGeneration") == generation and any(
        c.get("type") == "Ready" and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in conditions
    )


def self_signed_tls(common_name: str, dns_names: list[str]) -> dict[str, str]:
    """The data of a ``kubernetes.io/tls`` Secret: a self-signed certificate for ``common_name`` and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509_name(common_name or "stand-in")
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    cert = certificate(name, key, name, key, ca=True, sans=sans).public_bytes(serialization.Encoding.PEM)
    files = {"tls.crt": cert, "tls.key": pem_key(key), "ca.crt": cert}
    return {k: base64.b64encode(v).decode() for k, v in files.items()}


class StatusWriter:
    """Polls the API server every ``interval`` seconds in a thread and marks the controllers' objects Ready."""

    def __init__(self, api_client: client.ApiClient, interval: float = 0.5) -> None:
        self.api = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.ext = client.ApiextensionsV1Api(api_client)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written: list[tuple[str, str, str]] = []
        """(kind, namespace, name) of every status written, in order."""
        self.errors: list[str] = []

    def kinds(self) -> list[Kind]:
        out = []
        for crd in self.ext.list_custom_resource_definition().items:
            spec = crd.spec
            if spec.names.kind not in READY_KINDS and spec.group != GATEKEEPER_GROUP:
                continue
            if spec.group not in (*FLUX_GROUPS, CERT_MANAGER_GROUP, GATEKEEPER_GROUP):
                continue
            version = next(v.name for v in spec.versions if v.storage)
            out.append(Kind(spec.group, version, spec.names.plural, spec.names.kind, spec.scope == "Namespaced"))
        return out

    def reconcile_once(self) -> None:
        for kind in self.kinds():
            try:
                items = self.custom.list_cluster_custom_object(kind.group, kind.version, kind.plural)["items"]
            except ApiException as exc:
                if exc.status != 404:
                    self.errors.append(f"list {kind.plural}: {exc.status}")
                continue
            for obj in items:
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                if (obj.get("spec") or {}).get("suspend") is True:
                    continue  # Flux never reconciles a suspended object
                if is_ready(obj):
                    continue
                self._mark(kind, obj)

    def _mark(self, kind: Kind, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        generation = meta.get("generation", 1)
        status = dict(obj.get("status") or {})
        if kind.kind == "ConstraintTemplate":
            status["created"] = True
        else:
            status["observedGeneration"] = generation
            status["conditions"] = [ready_condition(generation)]
            if request := reconcile_request(obj):
                status["lastHandledReconcileAt"] = request
            if kind.kind == "Kustomization":
                status["lastAppliedRevision"] = "stand-in"
            if kind.kind == "Certificate":
                self._certificate_secret(obj)
        obj["status"] = status
        try:
            if kind.namespaced:
                self.custom.replace_namespaced_custom_object_status(
                    kind.group, kind.version, meta["namespace"], kind.plural, meta["name"], obj
                )
            else:
                self.custom.replace_cluster_custom_object_status(
                    kind.group, kind.version, kind.plural, meta["name"], obj
                )
        except ApiException as exc:
            if exc.status not in (404, 409):  # gone or changed meanwhile: the next round sees it again
                self.errors.append(f"status of {kind.kind} {meta.get('namespace')}/{meta['name']}: {exc.status}")
            return
        self.written.append((kind.kind, meta.get("namespace", ""), meta["name"]))

    def _certificate_secret(self, cert: dict[str, Any]) -> None:
        spec = cert.get("spec") or {}
        name, namespace = spec.get("secretName"), cert["metadata"]["namespace"]
        if not name:
            return
        try:
            self.core.read_namespaced_secret(name, namespace)
            return
        except ApiException as exc:
            if exc.status != 404:
                raise
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=namespace,
                annotations={"cert-manager.io/certificate-name": cert["metadata"]["name"]},
            ),
            type="kubernetes.io/tls",
            data=self_signed_tls(spec.get("commonName", ""), list(spec.get("dnsNames") or [])),
        )
        try:
            self.core.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.reconcile_once()
            except Exception as exc:  # keep writing; the test reads errors at the end
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="status-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
