"""Create, update, patch and server-side apply: the write pipelines of the test server.

Each write runs under the store lock as one recipe:

    identity checks (body vs URL) -> preconditions (resourceVersion, 409) -> build the new
    object (body / patch / apply merge) -> strategy (server metadata, status split) ->
    custom-resource schema (prune, default, 422) -> field managers -> finalizers ->
    generation -> no-op detection -> commit (new resourceVersion + watch event)

`dryRun=All` runs the whole recipe and skips the commit, so the answer is exactly what the
write would have stored (a dry-run create has no resourceVersion, as upstream). A write
that changes nothing -- same content, same field ownership -- is not committed: no new
resourceVersion, no event, like the real server.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field

import yaml

from . import crds, errors, managers as mf, strategy
from .deletion import Deleter
from .fieldpaths import Shape
from .managers import Manager
from .patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from .registry import CRD_TYPE, NAMESPACE_TYPE, ResourceType
from .store import Record, Store, as_version

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class WriteOptions:
    manager: str = ""
    dry_run: bool = False
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    subresource: str = ""
    force: bool = False


@dataclass
class WriteResult:
    obj: dict
    code: int = 200
    warnings: list[str] = field(default_factory=list)


class _NoTimestampLoader(yaml.SafeLoader):
    """YAML as sigs.k8s.io/yaml reads it: timestamps stay strings."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_body(raw: bytes, content_type: str) -> object:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        if "yaml" not in content_type:
            raise errors.bad_request("the request body is not valid JSON") from None
    try:
        return yaml.load(raw, Loader=_NoTimestampLoader)
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"error converting YAML to JSON: {exc}") from None


def shape_of(rt: ResourceType) -> Shape:
    return Shape(None) if rt.builtin else Shape(rt.schema or {}, root=True)


class Writer:
    def __init__(self, store: Store, *, seed: int | None = None):
        self.store = store
        self.rng = random.Random(seed)
        self.deleter = Deleter(store)

    # -- create ---------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: object, opts: WriteOptions) -> WriteResult:
        body = copy.deepcopy(body)
        strategy.check_identity(rt, body, namespace=namespace, name=None)
        with self.store.lock:
            return self._create_locked(rt, body, None, opts)

    def _create_locked(self, rt: ResourceType, obj: dict, managers: dict | None, opts: WriteOptions) -> WriteResult:
        """Store a new object; `managers` None means the creator (an Update) owns what it sent."""
        meta = obj["metadata"]
        meta.pop("managedFields", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._unique_name(rt, meta.get("namespace", ""), meta["generateName"])
        if rt.namespaced:
            self._require_namespace(rt, meta.get("namespace", ""), meta.get("name", ""))
        timestamp = strategy.now()
        strategy.prepare_create(rt, obj, timestamp=timestamp)
        warnings = self._check(rt, obj, opts)
        if self.store.record(rt, meta.get("namespace", ""), meta["name"]) is not None:
            raise errors.already_exists(rt.plural, rt.group, meta["name"])
        if managers is None:
            managers = mf.track_update({}, None, obj, shape_of(rt), manager=opts.manager, subresource="",
                                       api_version=rt.api_version, has_status=rt.has_status, now=timestamp)
        if rt == CRD_TYPE:
            crds.apply_crd_defaults(obj)
            obj["status"] = crds.initial_status(obj)
        record = Record(render(obj, managers), managers)
        if opts.dry_run:
            return WriteResult(as_version(record.obj, rt), 201, warnings)
        created = self.store.put(rt, record, "ADDED", None)
        if rt == CRD_TYPE:
            self._establish_created(record)
        return WriteResult(created, 201, warnings)

    def _establish_created(self, record: Record) -> None:
        """What kube-apiserver's naming and establishing controllers do right after a CRD is
        created, as a second write of its status (the create answer has no conditions yet)."""
        old = copy.deepcopy(record.obj)
        old["metadata"].pop("managedFields", None)
        new = copy.deepcopy(old)
        now = strategy.now()
        crds.establish(new, self.store.registry, now)
        managers = mf.track_update(record.managers, old, new, Shape(None), manager="kube-apiserver",
                                   subresource="status", api_version=CRD_TYPE.api_version, has_status=True, now=now)
        self.store.put(CRD_TYPE, Record(render(new, managers), managers), "MODIFIED", record.obj)

    def _unique_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        for _ in range(8):
            name = strategy.generate_name(prefix, self.rng)
            if self.store.record(rt, namespace, name) is None:
                return name
        raise errors.already_exists(rt.plural, rt.group, prefix)

    def _require_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        record = self.store.record(NAMESPACE_TYPE, "", namespace)
        if record is None:
            raise errors.not_found("namespaces", "", namespace)
        if record.obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(rt.plural, rt.group, name, f"unable to create new content in namespace "
                                                              f"{namespace} because it is being terminated")

    def _check(self, rt: ResourceType, obj: dict, opts: WriteOptions) -> list[str]:
        if rt == CRD_TYPE:
            found = crds.validate_crd(obj)
            if found:
                raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), found)
        warnings = strategy.check_custom_resource(rt, obj, opts.field_validation)
        found = strategy.validate_metadata(rt, obj)
        if found:
            raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), found)
        return warnings

    # -- update / patch -------------------------------------------------------------------------

    def update(self, rt: ResourceType, namespace: str, name: str, body: object, opts: WriteOptions) -> WriteResult:
        body = copy.deepcopy(body)
        strategy.check_identity(rt, body, namespace=namespace, name=name)
        with self.store.lock:
            record = self._existing(rt, namespace, name)
            if not body["metadata"].get("resourceVersion") and not rt.allow_unconditional_update:
                raise errors.invalid(rt.kind, rt.group, name, [errors.FieldError(
                    "metadata.resourceVersion", "Invalid", "must be specified for an update", 0)])
            return self._update_locked(rt, record, body, opts)

    def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str, raw: bytes,
              opts: WriteOptions) -> WriteResult:
        if content_type == APPLY:
            return self.apply(rt, namespace, name, parse_body(raw, content_type), opts)
        if content_type == STRATEGIC and not rt.builtin:
            raise errors.unsupported_media_type(content_type, [JSON_PATCH, MERGE, APPLY])
        patch = parse_body(raw, content_type)
        if content_type != JSON_PATCH and not isinstance(patch, dict):
            raise errors.bad_request("the patch must be a JSON object")
        if opts.force:
            raise errors.invalid(rt.kind, rt.group, name, [errors.FieldError(
                "force", "Forbidden", "may not be specified for non-apply patch")])
        with self.store.lock:
            record = self._existing(rt, namespace, name)
            current = as_version(record.obj, rt)
            try:
                if content_type == JSON_PATCH:
                    patched = json_patch(current, patch)
                elif content_type == STRATEGIC:
                    patched = strategic_merge_patch(current, patch)
                else:
                    patched = merge_patch(current, patch)
            except PatchError as exc:
                if exc.invalid:
                    raise errors.ApiError(422, "Invalid", str(exc)) from None
                raise errors.bad_request(str(exc)) from None
            strategy.check_identity(rt, patched, namespace=namespace, name=name)
            return self._update_locked(rt, record, patched, opts)

    def _existing(self, rt: ResourceType, namespace: str, name: str) -> Record:
        record = self.store.record(rt, namespace, name)
        if record is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return record

    def _update_locked(self, rt: ResourceType, record: Record, new: dict, opts: WriteOptions) -> WriteResult:
        old = as_version(record.obj, rt)
        self._precondition(rt, old, new)
        requested = new["metadata"].pop("managedFields", None)
        base = record.managers
        if requested is not None and not opts.subresource:
            try:
                decoded = mf.from_managed_fields(requested)
            except ValueError as exc:
                raise errors.bad_request(f"error decoding managed fields: {exc}") from None
            reset = requested == [] or requested == [{}]
            # as upstream: managedFields reset with [] or [{}]; entries owning nothing fall back
            # to the live ones (clients that do not understand them cannot drop them by accident)
            if reset or (any(m.fields for m in decoded.values()) and not mf.same(decoded, record.managers)):
                base = decoded
        old.get("metadata", {}).pop("managedFields", None)
        new = strategy.prepare_update(rt, old, new, subresource=opts.subresource)
        warnings = self._check(rt, new, opts)
        # an update of an object without managedFields does not start tracking them (upstream's
        # skip-non-applied manager); only an apply does, see apply()
        managers = {} if not base else mf.track_update(
            base, old, new, shape_of(rt), manager=opts.manager, subresource=opts.subresource,
            api_version=rt.api_version, has_status=rt.has_status, now=strategy.now())
        result = self._finish_update(rt, record, old, new, managers, opts)
        result.warnings = warnings
        return result

    def _precondition(self, rt: ResourceType, old: dict, new: dict) -> None:
        wanted = new["metadata"].get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, old["metadata"]["name"])
        uid = new["metadata"].get("uid")
        if uid and uid != old["metadata"].get("uid"):
            raise errors.conflict(rt.plural, rt.group, old["metadata"]["name"],
                                  f"Precondition failed: UID in precondition: {old['metadata'].get('uid')}, "
                                  f"UID in object meta: {uid}")

    def _finish_update(self, rt: ResourceType, record: Record, old: dict, new: dict, managers: dict,
                       opts: WriteOptions) -> WriteResult:
        self._check_finalizers(rt, old, new)
        strategy.bump_generation(rt, old, new)
        if rt == CRD_TYPE and opts.subresource != "status":
            crds.apply_crd_defaults(new)
            crds.establish(new, self.store.registry, strategy.now(), register=not opts.dry_run)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _same_object(old, new) and mf.same(managers, record.managers):
            return WriteResult(as_version(record.obj, rt))
        updated = Record(render(new, managers), managers)
        terminating = bool(new["metadata"].get("deletionTimestamp"))
        if opts.dry_run:
            return WriteResult(as_version(updated.obj, rt))
        if terminating and not new["metadata"].get("finalizers"):
            self.store.put(rt, updated, "MODIFIED", record.obj)
            return WriteResult(self.deleter.remove(rt, updated.obj))
        return WriteResult(self.store.put(rt, updated, "MODIFIED", record.obj))

    @staticmethod
    def _check_finalizers(rt: ResourceType, old: dict, new: dict) -> None:
        if not old["metadata"].get("deletionTimestamp"):
            return
        added = [f for f in new["metadata"].get("finalizers") or [] if f not in (old["metadata"].get("finalizers") or [])]
        if added:
            raise errors.invalid(rt.kind, rt.group, old["metadata"]["name"], [errors.FieldError(
                "metadata.finalizers", "Forbidden",
                f"no new finalizers can be added if the object is being deleted, found new finalizers "
                f"[]string{{{', '.join(json.dumps(a) for a in added)}}}")])

    # -- server-side apply ----------------------------------------------------------------------

    def apply(self, rt: ResourceType, namespace: str, name: str, config: object, opts: WriteOptions) -> WriteResult:
        if not isinstance(config, dict):
            raise errors.bad_request("the apply configuration must be a YAML or JSON object")
        for key in ("apiVersion", "kind"):
            if not config.get(key):
                raise errors.bad_request(f"{key} must be set")
        if (config.get("metadata") or {}).get("managedFields") is not None:
            raise errors.bad_request("metadata.managedFields must be nil")
        if not opts.manager:
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.FieldError(
                "fieldManager", "Required", "is required for apply patch")])
        config = copy.deepcopy(config)
        sent_namespace = str((config.get("metadata") or {}).get("namespace") or "")
        strategy.check_identity(rt, config, namespace=namespace, name=name)
        warnings = strategy.prune_config(rt, config, opts.field_validation, sent_namespace=sent_namespace)
        with self.store.lock:
            record = self.store.record(rt, namespace, name)
            if record is None and opts.subresource:
                raise errors.not_found(rt.plural, rt.group, name)
            live = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": {}} if record is None \
                else as_version(record.obj, rt)
            if record is not None:
                self._precondition(rt, live, config)
            live["metadata"].pop("managedFields", None)
            base = record.managers if record else {}
            if record is not None and not base:
                base = mf.before_first_apply(live, shape_of(rt), subresource=opts.subresource,
                                             api_version=rt.api_version, has_status=rt.has_status,
                                             now=strategy.now())
            merged, managers = mf.apply(base, live, config, shape_of(rt),
                                        manager=opts.manager, subresource=opts.subresource,
                                        api_version=rt.api_version, has_status=rt.has_status,
                                        force=opts.force, now=strategy.now())
            annotations = merged.get("metadata", {}).get("annotations") or {}
            if opts.manager == mf.KUBECTL and mf.LAST_APPLIED in annotations and not opts.subresource:
                annotations[mf.LAST_APPLIED] = mf.last_applied_annotation(config)
            if record is None:
                merged["metadata"].update({k: v for k, v in config["metadata"].items() if k in ("name", "namespace")})
                result = self._create_locked(rt, merged, managers, opts)
            else:
                new = strategy.prepare_update(rt, live, merged, subresource=opts.subresource)
                self._check(rt, new, opts)
                result = self._finish_update(rt, record, live, new, managers, opts)
            result.warnings = warnings
            return result


def render(obj: dict, managers: dict[tuple, Manager]) -> dict:
    out = copy.deepcopy(obj)
    if managers:
        out["metadata"]["managedFields"] = mf.to_managed_fields(managers)
    else:
        out["metadata"].pop("managedFields", None)
    return out


def _same_object(old: dict, new: dict) -> bool:
    def strip(obj: dict) -> dict:
        meta = {k: v for k, v in obj["metadata"].items() if k not in ("managedFields", "resourceVersion")}
        return {**{k: v for k, v in obj.items() if k not in ("apiVersion",)}, "metadata": meta}
    return strip(old) == strip(new)
