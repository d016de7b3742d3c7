"""The management-cluster stack: load the typed config, build the platform, export."""

import pulumi

from components import config, gc_policy, stack_plan
from components.management_cluster import ManagementCluster

gc_policy.young_collections_only()
cfg = config.load()
# every name, the catalog, the app plan and the repository content, checked before any resource
plan = stack_plan.build(cfg)
cluster = ManagementCluster("kommander", plan, kubernetes=config.kubernetes_target())

pulumi.export("clusterName", cfg.clusterName)
pulumi.export("namespaces", {"kommander": cluster.namespaces.kommander, "flux": cluster.namespaces.flux})
pulumi.export("caIssuer", cluster.root_ca.issuer_name)
pulumi.export("fluxVersion", cluster.flux.version)
pulumi.export("applications", {app: d.version for app, d in cluster.app_deployments.items()})
pulumi.export("ingressTlsSecret", cluster.ingress_certificate.secret_name if cluster.ingress_certificate else None)
pulumi.export("giteaUrl", cluster.gitea.url)
pulumi.export("managementRepositoryUrl", cluster.gitea.repository_url)
pulumi.export("managementRepositoryCommit", cluster.management_repository.commit)
pulumi.export("tenants", cluster.tenancy.status)
