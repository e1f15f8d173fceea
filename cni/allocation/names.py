"""The Kubernetes names the engine assumes, defined once for every package.

SYSTEM_NAMESPACE is where a NetworkAttachmentDefinition named without a namespace
lives (Multus's and upstream Spiderpool's default); the reconciler renders bare
network names there, and the agent and the CIDR discovery read kube-system objects.
A module of its own so that importing the name loads nothing else.
"""

SYSTEM_NAMESPACE = "kube-system"
