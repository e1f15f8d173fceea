"""The REST layer: one request in, one response (or watch stream) out; no sockets here.

Maps a parsed request to the store and the write pipelines the way the apiserver's handlers
do: resolves the resource (404 for unknown ones, 405 for verbs a scope does not allow),
reads the query parameters clients send (labelSelector, fieldSelector, limit/continue,
watch/resourceVersion/timeoutSeconds/allowWatchBookmarks/sendInitialEvents, dryRun,
fieldManager, fieldValidation, force, propagationPolicy), negotiates the answer's shape from
`Accept` (plain objects, `Table` for kubectl, `PartialObjectMetadata`), and counts and
perturbs requests through `Stats` and `Faults`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Generator, Iterator

from . import discovery, errors, protobuf, requestinfo, tables
from .faults import WRITE_VERBS, Faults
from .registry import ResourceType
from .selectors import FieldRequirement, parse_field_selector, parse_label_selector
from .stats import RequestRecord, Stats
from .store import Store, as_version
from .watch import WatchRequest, stream
from .writes import WriteOptions, WriteResult, Writer, parse_body


RESOURCE_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}


@dataclass
class Request:
    method: str
    path: str
    query: dict  # name -> [values]
    headers: dict  # lower-case name -> value
    body: bytes = b""

    def param(self, name: str, default: str = "") -> str:
        return (self.query.get(name) or [default])[0]


@dataclass
class Response:
    code: int
    body: object  # dict (JSON) or bytes/str (text)
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StreamResponse:
    events: Generator[dict, None, None]  # JSON-able watch events


@dataclass(frozen=True)
class Settings:
    server_address: Callable[[], str]
    bookmark_interval: float = 1.0
    max_watch_seconds: float = 1800.0
    stopped: Callable[[], bool] = lambda: False


def _table_version(accept: str) -> str | None:
    for media in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip()
                  for p in media.split(";")[1:] if "=" in p}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return f"meta.k8s.io/{params.get('v', 'v1')}"
        if params.get("as") in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return "partial"
        if media.split(";")[0].strip() in ("application/json", "*/*", "application/*"):
            return None
    return None


class API:
    def __init__(self, store: Store, writer: Writer, stats: Stats, faults: Faults, settings: Settings):
        self.store, self.writer, self.stats, self.faults, self.settings = store, writer, stats, faults, settings

    def handle(self, request: Request) -> Response | StreamResponse:
        info = requestinfo.parse(request.method, request.path, request.query)
        dry_run = request.param("dryRun") == "All"
        code = 500
        try:
            result = self._serve_resource(info, request) if info.is_resource else self._serve_other(request)
            code = result.code if isinstance(result, Response) else 200
            return result
        except errors.ApiError as err:
            code = err.code
            raise
        finally:
            verb = info.verb if info.is_resource else "nonresource"
            resource = f"{info.resource}.{info.group}" if info.group else info.resource
            self.stats.record(RequestRecord(request.method, request.path, verb, resource, code,
                                            dry_run and verb in WRITE_VERBS, request.headers.get("content-type", "")))

    # -- non-resource paths ---------------------------------------------------------------------

    def _serve_other(self, request: Request) -> Response:
        path, registry = request.path.rstrip("/") or "/", self.store.registry
        parts = [p for p in path.split("/") if p]
        with self.store.lock:
            if path == "/version":
                return Response(200, discovery.SERVER_VERSION)
            if path in ("/healthz", "/livez", "/readyz"):
                return Response(200, b"ok")
            if path == "/api":
                return Response(200, discovery.api_versions(self.settings.server_address()))
            if path == "/apis":
                return Response(200, discovery.api_group_list(registry))
            if parts[:1] == ["api"] and len(parts) == 2:
                doc = discovery.api_resource_list(registry, "", parts[1])
            elif parts[:1] == ["apis"] and len(parts) == 2:
                doc = discovery.api_group(registry, parts[1])
            elif parts[:1] == ["apis"] and len(parts) == 3:
                doc = discovery.api_resource_list(registry, parts[1], parts[2])
            elif path == "/openapi/v3":
                doc = discovery.openapi_v3_index(registry)
            elif parts[:2] == ["openapi", "v3"] and parts[2:3] == ["api"] and len(parts) == 4:
                doc = discovery.openapi_v3_document(registry, "", parts[3])
            elif parts[:2] == ["openapi", "v3"] and parts[2:3] == ["apis"] and len(parts) == 5:
                doc = discovery.openapi_v3_document(registry, parts[3], parts[4])
            else:
                doc = None
        if doc is None:
            return Response(404, b"404 page not found")
        return Response(200, doc)

    # -- resources ------------------------------------------------------------------------------

    def _resolve(self, info: requestinfo.RequestInfo) -> ResourceType:
        with self.store.lock:
            rt = self.store.registry.lookup(info.group, info.version, info.resource)
        if rt is None or (info.namespace and not rt.namespaced):
            raise errors.not_found_path()
        if info.subresource and not (info.subresource == "status" and rt.has_status):
            raise errors.not_found_path()
        if rt.namespaced and not info.namespace and info.verb not in ("list", "watch", "deletecollection"):
            if info.verb == "create":
                raise errors.method_not_allowed()
            raise errors.not_found_path()
        return rt

    def _serve_resource(self, info: requestinfo.RequestInfo, request: Request) -> Response | StreamResponse:
        rt = self._resolve(info)
        dry_run = request.param("dryRun")
        if dry_run not in ("", "All"):
            raise errors.bad_request(f'Invalid dryRun value: "{dry_run}". Valid values: "All"')
        self._inject_fault(info, rt)  # Faults.decide filters by verb: writes unless configured otherwise
        if info.verb not in RESOURCE_VERBS:
            raise errors.method_not_allowed()
        return getattr(self, f"_{info.verb}")(info, rt, request)

    def _inject_fault(self, info: requestinfo.RequestInfo, rt: ResourceType) -> None:
        fault = self.faults.decide(info.verb, info.resource)
        if fault is None:
            return
        if fault.kind == "slow":
            time.sleep(fault.seconds)
        elif fault.kind == "conflict" and info.verb in WRITE_VERBS:
            raise errors.conflict(rt.plural, rt.group, info.name or "")
        elif fault.kind == "conflict":  # a read cannot conflict: what a loaded server answers instead
            raise errors.ApiError(429, "TooManyRequests", "injected fault: the server is overloaded")
        else:
            raise errors.internal("injected fault")

    def _shape(self, rt: ResourceType, request: Request, objects: list[dict], *, single: bool,
               list_meta: dict | None = None) -> dict:
        wanted = _table_version(request.headers.get("accept", ""))
        if wanted == "partial":
            partials = [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": o["metadata"]} for o in objects]
            if single:
                return partials[0]
            return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                    "metadata": list_meta or {}, "items": partials}
        if wanted:
            return tables.to_table(rt, objects, include_object=request.param("includeObject", "Metadata"),
                                   list_meta=list_meta, api_version=wanted)
        if single:
            return objects[0]
        items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} if rt.builtin else o
                 for o in objects]
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": list_meta or {}, "items": items}

    def _get(self, info, rt, request) -> Response:
        obj = self.store.get(rt, info.namespace, info.name)
        return Response(200, self._shape(rt, request, [obj], single=True))

    def _selectors(self, rt: ResourceType, request: Request) -> tuple[list, list]:
        try:
            labels = parse_label_selector(request.param("labelSelector"))
            fields = parse_field_selector(request.param("fieldSelector"), rt.selectable_fields(),
                                          default_conversion=rt.default_field_conversion)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        return labels, fields

    def _list(self, info, rt, request) -> Response:
        labels, fields = self._selectors(rt, request)
        try:
            limit = int(request.param("limit", "0") or 0)
        except ValueError:
            raise errors.bad_request("limit must be an integer") from None
        items, meta = self.store.list(rt, info.namespace, labels=labels, fields=fields, limit=limit,
                                      continue_token=request.param("continue"))
        return Response(200, self._shape(rt, request, items, single=False, list_meta=meta))

    def _watch(self, info, rt, request) -> StreamResponse:
        labels, fields = self._selectors(rt, request)
        if info.name:
            fields = [*fields, FieldRequirement("metadata.name", False, info.name)]
        rv = request.param("resourceVersion")
        if rv and not rv.isdigit():
            raise errors.bad_request(f'resourceVersion: Invalid value: "{rv}": must be an integer')
        try:
            timeout = float(request.param("timeoutSeconds") or self.settings.max_watch_seconds)
        except ValueError:
            raise errors.bad_request("timeoutSeconds must be a number") from None
        watch = WatchRequest(
            storage_key=rt.storage_key, namespace=info.namespace, labels=labels, fields=fields,
            resource_version=rv, send_initial_events=request.param("sendInitialEvents") == "true",
            allow_bookmarks=request.param("allowWatchBookmarks") in ("true", "1"),
            timeout=min(timeout, self.settings.max_watch_seconds),
            bookmark_interval=self.settings.bookmark_interval,
            bookmark_object=lambda rv_, annotations: {
                "kind": rt.kind, "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(rv_), **({"annotations": annotations} if annotations else {})}},
        )
        events = stream(self.store, watch, stopped=self.settings.stopped)

        def encoded() -> Iterator[dict]:
            for kind, obj in events:
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    obj = self._shape(rt, request, [as_version(obj, rt)], single=True)
                yield {"type": kind, "object": obj}

        return StreamResponse(encoded())

    # -- writes ---------------------------------------------------------------------------------

    def _write_options(self, request: Request, info, *, force: bool = False) -> WriteOptions:
        manager = request.param("fieldManager")
        if not manager and request.headers.get("content-type", "").split(";")[0] != "application/apply-patch+yaml":
            manager = request.headers.get("user-agent", "unknown").split("/")[0][:128]
        if len(manager) > 128:
            raise errors.ApiError(422, "Invalid", "fieldManager: Too long: may not be more than 128 bytes")
        validation = request.param("fieldValidation", "Warn") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(f'fieldValidation: Unsupported value: "{validation}": supported values: '
                                     f'"Ignore", "Strict", "Warn"')
        return WriteOptions(manager=manager, dry_run=request.param("dryRun") == "All", field_validation=validation,
                            subresource=info.subresource, force=force)

    def _respond(self, result: WriteResult) -> Response:
        headers = [("Warning", f'299 - {json.dumps(w)}') for w in result.warnings]
        return Response(result.code, result.obj, headers)

    @staticmethod
    def _decode(request: Request) -> object:
        content_type = request.headers.get("content-type", "")
        if protobuf.is_protobuf(content_type):
            return protobuf.decode(request.body)
        return parse_body(request.body, content_type)

    def _body(self, request: Request) -> object:
        body = self._decode(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        return body

    def _create(self, info, rt, request) -> Response:
        if info.name:
            raise errors.method_not_allowed()
        return self._respond(self.writer.create(rt, info.namespace, self._body(request), self._write_options(request, info)))

    def _update(self, info, rt, request) -> Response:
        return self._respond(self.writer.update(rt, info.namespace, info.name, self._body(request),
                                                self._write_options(request, info)))

    def _patch(self, info, rt, request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        accepted = ["application/json-patch+json", "application/merge-patch+json",
                    "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
        if content_type not in accepted:
            raise errors.unsupported_media_type(content_type, accepted)
        force = request.param("force") in ("true", "1")
        return self._respond(self.writer.patch(rt, info.namespace, info.name, content_type, request.body,
                                               self._write_options(request, info, force=force)))

    def _delete_options(self, request: Request) -> dict:
        options = self._decode(request) if request.body.strip() else {}
        options = options if isinstance(options, dict) else {}
        if request.param("propagationPolicy"):
            options["propagationPolicy"] = request.param("propagationPolicy")
        return options

    def _delete(self, info, rt, request) -> Response:
        options = self._delete_options(request)
        dry_run = request.param("dryRun") == "All" or options.get("dryRun") == ["All"]
        body = self.writer.deleter.delete(rt, info.namespace, info.name, options, dry_run=dry_run)
        return Response(200, body)

    def _deletecollection(self, info, rt, request) -> Response:
        labels, fields = self._selectors(rt, request)
        items, _ = self.store.list(rt, info.namespace, labels=labels, fields=fields)
        options = self._delete_options(request)
        body = self.writer.deleter.delete_collection(rt, info.namespace, items, options,
                                                     dry_run=request.param("dryRun") == "All")
        return Response(200, body)
