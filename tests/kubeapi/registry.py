"""Which resources the test server serves, and the facts about each one clients rely on.

A `ResourceType` is one (group, version, plural) as discovery shows it: kind, scope, short
names, categories, whether it has a `status` subresource, whether `metadata.generation` is
tracked, which field selectors it accepts and, for custom resources, the CRD version's schema
and printer columns. The `Registry` holds the built-in types plus whatever CRDs registered;
every other module asks it to resolve URLs, kinds and discovery documents.

Objects of one resource share a storage key across versions (`group/plural`), the way one
etcd prefix holds all served versions of a CRD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
              "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName")
EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    tracks_generation: bool = False
    field_selectors: tuple[str, ...] = ()
    builtin: bool = True
    allow_unconditional_update: bool = True
    schema: dict | None = field(default=None, compare=False, hash=False)
    printer_columns: tuple = field(default=(), compare=False, hash=False)
    crd_name: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> str:
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def selectable_fields(self) -> set[str]:
        return {"metadata.name", "metadata.namespace", *self.field_selectors}

    @property
    def default_field_conversion(self) -> bool:
        """Whether kube-apiserver's default field-label conversion serves this type (only the
        metadata fields; its own error wording): built-ins without a conversion of their own."""
        return self.builtin and (self.group, self.kind) not in CUSTOM_FIELD_LABEL_CONVERSIONS


# built-in kinds with their own field-label conversion (k8s.io/kubernetes pkg/apis/*/v1/conversion.go)
CUSTOM_FIELD_LABEL_CONVERSIONS = {
    ("", "Pod"), ("", "Node"), ("", "ReplicationController"), ("", "Event"), ("", "Namespace"),
    ("", "Secret"), ("", "Service"), ("batch", "Job"), ("certificates.k8s.io", "CertificateSigningRequest"),
}


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool, **kw) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, singular=kind.lower(), **kw)


BUILTINS: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "Namespace", False, short_names=("ns",), has_status=True,
        field_selectors=("status.phase",)),
    _rt("", "v1", "nodes", "Node", False, short_names=("no",), has_status=True,
        field_selectors=("spec.unschedulable",)),
    _rt("", "v1", "pods", "Pod", True, short_names=("po",), categories=("all",), has_status=True,
        field_selectors=POD_FIELDS),
    _rt("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    _rt("", "v1", "secrets", "Secret", True, field_selectors=("type",)),
    _rt("", "v1", "services", "Service", True, short_names=("svc",), categories=("all",),
        has_status=True, field_selectors=("spec.clusterIP", "spec.type")),
    _rt("", "v1", "endpoints", "Endpoints", True, short_names=("ep",)),
    _rt("", "v1", "events", "Event", True, short_names=("ev",), field_selectors=EVENT_FIELDS),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
    _rt("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",),
        categories=("all",), has_status=True, tracks_generation=True),
    _rt("apps", "v1", "statefulsets", "StatefulSet", True, short_names=("sts",),
        categories=("all",), has_status=True, tracks_generation=True),
    _rt("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",), categories=("all",),
        has_status=True, tracks_generation=True),
    _rt("apps", "v1", "replicasets", "ReplicaSet", True, short_names=("rs",), categories=("all",),
        has_status=True, tracks_generation=True),
    _rt("batch", "v1", "jobs", "Job", True, categories=("all",), has_status=True,
        tracks_generation=True, field_selectors=("status.successful",)),
    _rt("batch", "v1", "cronjobs", "CronJob", True, short_names=("cj",), categories=("all",),
        has_status=True, tracks_generation=True),
    _rt("coordination.k8s.io", "v1", "leases", "Lease", True),
    _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
        False, short_names=("crd", "crds"), categories=("api-extensions",), has_status=True,
        tracks_generation=True, allow_unconditional_update=False),
)

CRD_TYPE = BUILTINS[-1]
NAMESPACE_TYPE = BUILTINS[0]


def version_priority(version: str) -> tuple:
    """Kubernetes' version ordering: GA > beta > alpha, higher numbers first; others last."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0))


class Registry:
    """Resource types by URL coordinates; mutated only under the store lock."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rt in BUILTINS:
            self._types[(rt.group, rt.version, rt.plural)] = rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first (core group is "")."""
        groups: dict[str, set[str]] = {}
        for group, version, _ in self._types:
            groups.setdefault(group, set()).add(version)
        return {g: sorted(vs, key=version_priority) for g, vs in groups.items()}

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for (g, v, _), rt in self._types.items() if g == group and v == version]

    def versions_of(self, storage_key: str) -> list[ResourceType]:
        return [rt for rt in self._types.values() if rt.storage_key == storage_key]

    def register_crd(self, crd_name: str, types: list[ResourceType]) -> None:
        self.unregister_crd(crd_name)
        for rt in types:
            self._types[(rt.group, rt.version, rt.plural)] = rt

    def unregister_crd(self, crd_name: str) -> None:
        for key in [k for k, rt in self._types.items() if rt.crd_name == crd_name]:
            del self._types[key]

    def names_in_group(self, group: str, crd_name: str) -> tuple[set[str], set[str]]:
        """(resource names, kinds) served in `group` by owners other than CRD `crd_name`: plurals,
        singulars and short names; kinds and list kinds."""
        resources, kinds = set(), set()
        for rt in self._types.values():
            if rt.group != group or (rt.crd_name and rt.crd_name == crd_name):
                continue
            resources |= {rt.plural, rt.singular, *rt.short_names}
            kinds |= {rt.kind, rt.kind + "List"}
        return resources, kinds

    def name_taken(self, group: str, names: set[str], crd_name: str) -> bool:
        """Whether a plural/singular/short name/kind is already served in `group` by another owner."""
        for rt in self._types.values():
            if rt.group != group or (rt.crd_name and rt.crd_name == crd_name):
                continue
            if names & {rt.plural, rt.singular, rt.kind, *rt.short_names}:
                return True
        return False
