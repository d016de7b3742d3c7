"""ManagementCluster: the whole platform, composed from the typed stack config.

The constructor reads like the dependency ladder in docs/architecture.md. Data flows as Outputs;
order that data does not imply is an explicit ``depends_on`` on a whole component.
"""

from __future__ import annotations

import pulumi

from components.app_deployment import AppDeployment, AppDeploymentArgs
from components.catalogs import CatalogRepositories, CatalogRepositoriesArgs
from components.cert_manager import CertManager, CertManagerArgs, RootCA, RootCAArgs
from components.config import KubernetesTarget
from components.flux import Flux, FluxArgs
from components.flux_configuration import FluxConfiguration, FluxConfigurationArgs
from components.gitea import Gitea, GiteaArgs
from components.helm_repositories import HelmRepositories, HelmRepositoriesArgs
from components.ingress import IngressCertificate, IngressCertificateArgs
from components.k8s import Component
from components.management_repository import ManagementRepository, ManagementRepositoryArgs
from components.namespaces import Namespaces, NamespacesArgs
from components.platform_services import ChartMuseum, Gatekeeper, GatekeeperArgs, PlatformServiceArgs
from components.sops_age import SopsAge, SopsAgeArgs
from components.stack_plan import StackPlan
from components.tenancy import Tenancy, TenancyArgs


class ManagementCluster(Component):
    """A Kommander-style GitOps management cluster."""

    namespaces: Namespaces
    """The platform's namespaces."""
    flux: Flux
    """The Flux controllers (every Flux custom resource depends on it)."""
    cert_manager: CertManager
    """cert-manager (every cert-manager custom resource depends on it)."""
    root_ca: RootCA
    """The self-signed root CA and its ``kommander-ca`` ClusterIssuer."""
    gitea: Gitea
    """The in-cluster Git server."""
    sops_age: SopsAge
    """The age key pair for the repository's SOPS-encrypted secrets."""
    management_repository: ManagementRepository
    """The management repository's published content."""
    flux_configuration: FluxConfiguration
    """Flux's GitRepository and ``apps-kommander`` Kustomization over the management repository."""

    def __init__(
        self,
        name: str,
        stack: StackPlan,
        opts: pulumi.ResourceOptions | None = None,
        kubernetes: KubernetesTarget | None = None,
    ) -> None:
        """``stack``: the plan (``stack_plan.build(cfg)``, which raised every config error already);
        ``kubernetes``: the stack's Kubernetes target (``config.kubernetes_target()``), which the repository
        publisher port-forwards to Gitea through; None: the current context."""
        super().__init__("kommander:index:ManagementCluster", name, opts)
        self._name = name
        self._stack = stack
        self._platform()
        self._repository(kubernetes or KubernetesTarget())
        self._workloads()
        self.register_outputs(
            {
                "kommander_namespace": self.namespaces.kommander,
                "flux_namespace": self.namespaces.flux,
                "ca_issuer": self.root_ca.issuer_name,
                "flux_version": self.flux.version,
            }
        )

    def _platform(self) -> None:
        """Namespaces, Flux, cert-manager and the root CA, the Helm repositories, the ingress certificate."""
        name, cfg = self._name, self._stack.cfg
        mirror = cfg.helmMirrorUrl
        ca_file = str(cfg.helmMirrorCaFile.resolve()) if cfg.helmMirrorCaFile else None
        # 1. namespaces
        self.namespaces = Namespaces(
            f"{name}-namespaces",
            NamespacesArgs(
                kommander=cfg.namespaces.kommander,
                flux=cfg.namespaces.flux,
                cert_manager=cfg.namespaces.certManager,
                labels=cfg.namespaces.labels,
            ),
            opts=self.child(),
        )
        # 2. Flux (controllers + CRDs)
        self.flux = Flux(
            f"{name}-flux",
            FluxArgs(self.namespaces.flux, cfg.versions.flux, cfg.flux, mirror, cfg.charts.flux, ca_file),
            opts=self.child(),
        )
        # 3. cert-manager, then the root CA (its custom resources need cert-manager's CRDs and webhook)
        self.cert_manager = CertManager(
            f"{name}-cert-manager",
            CertManagerArgs(
                self.namespaces.cert_manager, cfg.versions.certManager, mirror, cfg.charts.certManager, ca_file
            ),
            opts=self.child(),
        )
        self.root_ca = RootCA(
            f"{name}-root-ca",
            RootCAArgs(self.cert_manager.namespace, protect=cfg.protect),
            opts=self.child(depends_on=[self.cert_manager]),
        )
        # 4. the catalogs' Helm repositories (Flux objects), through the mirror when one is set
        self.helm_repositories = HelmRepositories(
            f"{name}-helm-repositories",
            HelmRepositoriesArgs(self.namespaces.flux, self._stack.helm_repositories),
            opts=self.child(depends_on=[self.flux]),
        )
        # 5. the platform's TLS for ingress.domain (cert-manager objects, after the root CA)
        self.ingress_certificate: IngressCertificate | None = None
        if cfg.ingress.enabled:
            self.ingress_certificate = IngressCertificate(
                f"{name}-ingress-certificate",
                IngressCertificateArgs(self.namespaces.kommander, cfg.ingress, self.root_ca.issuer_name),
                opts=self.child(depends_on=[self.cert_manager, self.root_ca]),
            )

    def _repository(self, kubernetes: KubernetesTarget) -> None:
        """Gitea, the age key, the management repository's content, and Flux pointed at it."""
        name, cfg = self._name, self._stack.cfg
        # 6. Gitea, through Flux (HelmRelease) from the `gitea` HelmRepository
        self.gitea = Gitea(
            f"{name}-gitea",
            GiteaArgs(
                self.namespaces.kommander, self.namespaces.flux, cfg.versions.gitea, cfg.gitea, protect=cfg.protect
            ),
            opts=self.child(depends_on=[self.flux, self.cert_manager, self.helm_repositories]),
        )
        # 7. the age key pair the repository's secrets are encrypted for
        self.sops_age = SopsAge(
            f"{name}-sops-age",
            SopsAgeArgs(self.namespaces.flux, protect=cfg.protect),
            opts=self.child(depends_on=[self.namespaces]),
        )
        # 8. the management repository's content, pushed to Gitea (at gitea.externalUrl, else port-forwarded)
        self.management_repository = ManagementRepository(
            f"{name}-management-repository",
            ManagementRepositoryArgs(
                url=self.gitea.repository_url,
                forward=self.gitea.forward,
                kubernetes=kubernetes,
                username=self.gitea.admin_username,
                password=self.gitea.admin_password,
                recipient=self.sops_age.recipient,
                age_identity=self.sops_age.private_key,
                settings=cfg.gitea,
                cluster_name=cfg.clusterName,
                kommander_namespace=cfg.namespaces.kommander,
                content=self._stack.content,
                digest=self._stack.digest,
            ),
            opts=self.child(depends_on=[self.gitea, self.sops_age]),
        )
        # 9. Flux pointed at the management repository
        self.flux_configuration = FluxConfiguration(
            f"{name}-flux-configuration",
            FluxConfigurationArgs(
                namespace=self.namespaces.flux,
                url=self.gitea.in_cluster_repository_url,
                branch=cfg.gitea.branch,
                path=self.management_repository.path,
                username=self.gitea.admin_username,
                password=self.gitea.admin_password,
                revision=self.management_repository.commit,
                decryption_secret=self.sops_age.secret_name,
                variables=self._stack.variables,
            ),
            opts=self.child(depends_on=[self.flux, self.management_repository, self.sops_age]),
        )

    def _workloads(self) -> None:
        """Tenancy, ChartMuseum and Gatekeeper, the AppDeployments, the catalog repositories."""
        name, stack = self._name, self._stack
        cfg, layout = stack.cfg, stack.tenancy
        # 10. workspaces, attached clusters, projects and their GitOps sources (Flux custom resources)
        self.tenancy: Tenancy = Tenancy(
            f"{name}-tenancy",
            TenancyArgs(
                cfg.workspaces,
                cfg.projects,
                self.namespaces.flux,
                flux=self.flux,
                layout=layout,
                path_prefix=cfg.gitea.pathPrefix,
            ),
            opts=self.child(),
        )
        # 11. ChartMuseum and Gatekeeper, applied directly (Ready before their AppDeployments adopt them)
        variables = stack.catalog_variables
        services: list[pulumi.Resource] = [self.flux, self.helm_repositories, self.flux_configuration]
        self.chartmuseum = ChartMuseum(
            f"{name}-chartmuseum",
            PlatformServiceArgs(self.namespaces.kommander, stack.platform_releases["chartmuseum"], protect=cfg.protect),
            opts=self.child(depends_on=services),
        )
        self.gatekeeper = Gatekeeper(
            f"{name}-gatekeeper",
            GatekeeperArgs(
                self.namespaces.kommander,
                stack.platform_releases["gatekeeper"],
                flux_namespace=self.namespaces.flux,
                excluded_namespaces=stack.gatekeeper_excluded,
                path_prefix=cfg.gitea.pathPrefix,
            ),
            opts=self.child(depends_on=services),
        )
        # 12. AppDeployments: the core apps always, optional ones from kommander:apps (dependencies first)
        adopted: dict[str, list[pulumi.Resource]] = {
            "chartmuseum": [self.chartmuseum],
            "gatekeeper": [self.gatekeeper],
            "gitea": [self.gitea],
        }
        self.app_deployments: dict[str, AppDeployment] = {}
        for app in stack.app_plans:
            needs = [*adopted.get(app.app, []), *(self.app_deployments[d] for d in app.depends_on)]
            self.app_deployments[app.app] = AppDeployment(
                f"{name}-app-{app.app}",
                AppDeploymentArgs(
                    app,
                    self.namespaces.flux,
                    variables,
                    cfg.gitea.pathPrefix,
                    kubeconfig_secrets=self.tenancy.kubeconfig_secrets,
                    namespaces=self.tenancy.namespaces,
                ),
                opts=self.child(depends_on=[*services, *needs]),
            )
        # 13. catalog GitRepositories, copied into matching workspace and project namespaces
        self.catalogs = CatalogRepositories(
            f"{name}-catalogs",
            CatalogRepositoriesArgs(
                tuple(cfg.catalogs),
                self.namespaces.kommander,
                stack.catalog_placements,
                cfg.ingress.domain if cfg.ingress.enabled else None,
                namespaces=self.tenancy.namespaces,
            ),
            opts=self.child(depends_on=[self.flux, self.flux_configuration]),
        )
