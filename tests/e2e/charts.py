"""Stand-in controller charts, generated at test time: they install only the upstream CRDs.

Charts cannot be downloaded here and no controller image could run. The stack installs Flux and cert-manager
through ``kommander:charts.flux`` / ``charts.certManager`` from these local charts instead; each installs the
upstream CRDs of the pinned version from ``../shared/schemas/crds/`` the way the real chart does (as templates, so a
Helm uninstall deletes them, unless cert-manager's ``crds.keep`` puts ``helm.sh/resource-policy: keep`` on them),
and nothing else. The CRD files are read through ``.Files.Get`` so Helm does not template their text.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHARED_CRDS = ROOT.parent / "shared" / "schemas" / "crds"

FLUX_PREFIXES = ("source.toolkit.fluxcd.io_", "kustomize.toolkit.fluxcd.io_", "helm.toolkit.fluxcd.io_")
CERT_MANAGER_PREFIXES = ("cert-manager.io_",)


class MissingUpstreamFilesError(RuntimeError):
    pass


def upstream_crds(prefixes: tuple[str, ...]) -> list[dict]:
    if not SHARED_CRDS.is_dir():
        raise MissingUpstreamFilesError(
            f"the upstream CRDs are missing: {SHARED_CRDS} (../shared/schemas/crds beside the clone)"
        )
    docs = []
    for path in sorted(SHARED_CRDS.glob("*.yaml")):
        if path.name.startswith(prefixes):
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    if not docs:
        raise MissingUpstreamFilesError(f"no CRDs matching {prefixes} in {SHARED_CRDS}")
    return docs


def _dump(docs: list[dict]) -> str:
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in docs)


def _keep(docs: list[dict]) -> list[dict]:
    out = []
    for d in docs:
        d = {**d, "metadata": {**d["metadata"]}}
        d["metadata"]["annotations"] = {**(d["metadata"].get("annotations") or {}), "helm.sh/resource-policy": "keep"}
        out.append(d)
    return out


def _chart(root: Path, name: str, version: str, values: dict, template: str, files: dict[str, str]) -> Path:
    chart = root / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "files").mkdir(exist_ok=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": name,
                "version": version,
                "description": "e2e stand-in: installs the upstream CRDs only",
            }
        )
    )
    (chart / "values.yaml").write_text(yaml.safe_dump(values))
    (chart / "templates" / "crds.yaml").write_text(template)
    for fname, text in files.items():
        (chart / "files" / fname).write_text(text)
    return chart


def flux_chart(root: Path, version: str = "2.17.0") -> Path:
    return _chart(
        root,
        "flux2",
        version,
        {"installCRDs": True},
        '{{- if .Values.installCRDs }}\n{{ .Files.Get "files/crds.yaml" }}\n{{- end }}\n',
        {"crds.yaml": _dump(upstream_crds(FLUX_PREFIXES))},
    )


def cert_manager_chart(root: Path, version: str = "v1.19.1") -> Path:
    crds = upstream_crds(CERT_MANAGER_PREFIXES)
    template = (
        "{{- if .Values.crds.enabled }}\n"
        "{{- if .Values.crds.keep }}\n"
        '{{ .Files.Get "files/crds-keep.yaml" }}\n'
        "{{- else }}\n"
        '{{ .Files.Get "files/crds.yaml" }}\n'
        "{{- end }}\n"
        "{{- end }}\n"
    )
    return _chart(
        root,
        "cert-manager",
        version.lstrip("v"),
        {"crds": {"enabled": False, "keep": True}},
        template,
        {"crds.yaml": _dump(crds), "crds-keep.yaml": _dump(_keep(crds))},
    )
