"""The management-cluster stack: load the typed config, build the platform, export."""

import pulumi

from components import config
from components.management_cluster import ManagementCluster

cfg = config.load()
cluster = ManagementCluster("kommander", cfg)

pulumi.export("clusterName", cfg.clusterName)
pulumi.export("namespaces", {"kommander": cluster.namespaces.kommander, "flux": cluster.namespaces.flux})
pulumi.export("caIssuer", cluster.root_ca.issuer_name)
pulumi.export("fluxVersion", cluster.flux.version)
