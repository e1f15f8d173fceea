"""One reconcile of a spec against a cluster: apply it and record the outcome.

Glue between the pure parts (pipeline, plan, syncstatus) and the cluster
adapter: render, apply, then create/update the spec's NetworkSync — skipped when
nothing changed and the recorded status already says so, so a no-op apply makes
no write at all; an apply refused before writing (conflicts, rejected objects, an
empty spec) is recorded as failed too. Also installs the project's CRDs.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import schemas

from . import syncstatus
from .apply import ApplyOptions, ApplyRefused, ApplyResult, apply
from .kube import Cluster, ClusterError
from .plan import Plan, field_manager
from .pipeline import ValidSpec, render_valid
from .source import clean_commit

CRD_API = "apiextensions.k8s.io/v1"


def revision_of(path: str, rendered: list[dict]) -> str:
    return clean_commit(path) or syncstatus.digest_revision(rendered)


def reconcile(cluster: Cluster, valid: ValidSpec, *, path: str, options: ApplyOptions, revision: str | None = None,
              source: dict[str, str] | None = None, on_result=lambda result: None) -> ApplyResult:
    """Apply a valid spec and record the outcome. `revision` defaults to what `path` says (its
    clean commit, else a digest); `source` is recorded as the NetworkSync's spec.source;
    `on_result` hears of each object as it is done (see `apply.apply`)."""
    spec = valid.spec
    rendered = render_valid(valid)
    started = syncstatus.now()
    revision = revision or revision_of(path, rendered)
    options = dataclasses.replace(options, self_heal=options.self_heal or spec.self_heal, prune=spec.prune)
    writes_before = cluster.writes
    try:
        result = apply(cluster, rendered, spec_name=spec.name, options=options, on_result=on_result)
    except ApplyRefused as refused:
        _record_refusal(cluster, valid, refused, path=path, revision=revision, started=started, options=options,
                        source=source)
        raise
    if not result.outage:
        cluster.start_run()  # recording the outcome gets a retry budget of its own ...
    # ... unless the server went away mid-apply: then the run's budget is spent, and the record
    # is one try per request (it lands if the server is back, and costs no second wait if not)
    if options.dry_run:
        return result
    try:
        if cluster.serves(syncstatus.API_VERSION, syncstatus.KIND):
            _record(cluster, valid, path=path, result=result, revision=revision, started=started, options=options,
                    wrote=cluster.writes > writes_before, source=source)
    except ClusterError as exc:  # the objects' outcome stands; say that the record of it failed
        if result.outage:
            result.error += f"; NetworkSync {spec.name} could not record this either"
        else:
            note = f"could not record the result in NetworkSync {spec.name}: {exc}"
            result.error = f"{result.error} ({note})" if result.error else note
    return result


def _record_refusal(cluster: Cluster, valid: ValidSpec, refused: ApplyRefused, *, path: str, revision: str,
                    started: str, options: ApplyOptions, source: dict[str, str] | None = None) -> None:
    """A refused apply is an outcome too: the NetworkSync says so, not the previous success."""
    if options.dry_run or refused.reason == "NoKind":
        return
    cluster.start_run()
    try:
        if not cluster.serves(syncstatus.API_VERSION, syncstatus.KIND):
            return
        result = ApplyResult(Plan(valid.spec.name), error=str(refused), refused=True)
        _record(cluster, valid, path=path, result=result, revision=revision, started=started, options=options,
                wrote=True, source=source)
    except ClusterError:
        pass  # the refusal is what the caller reports; a failed record of it must not hide it


def _record(cluster: Cluster, valid: ValidSpec, *, path: str, result: ApplyResult, revision: str, started: str,
            options: ApplyOptions, wrote: bool, source: dict[str, str] | None = None) -> None:
    spec = valid.spec
    desired = syncstatus.sync_object(spec.name, source_path=str(path), prune=options.prune,
                                     self_heal=options.self_heal, source=source)
    live = cluster.get(desired)
    if live is None or live.get("spec") != desired["spec"]:
        live = cluster.apply(desired, force=True, manager=field_manager(spec.name))  # named after the spec: ours
    previous = live.get("status")
    status = syncstatus.build_status(result, revision=revision, generation=int(live["metadata"].get("generation", 1)),
                                     previous=previous, started=started, finished=syncstatus.now())
    if not syncstatus.is_noop(status, previous, wrote=wrote):
        cluster.update_status(live, status)


def record_stall(cluster: Cluster, *, spec_name: str, reason: str, message: str, revision: str | None,
                 source: dict[str, str] | None) -> bool:
    """Say in the spec's NetworkSync that a revision could not be applied (it does not validate,
    the source is unreadable, the apply was refused), leaving the applied revision, inventory and
    history as they are. Creates the NetworkSync if need be; returns whether it wrote."""
    if not cluster.serves(syncstatus.API_VERSION, syncstatus.KIND):
        return False
    desired = syncstatus.sync_object(spec_name, source_path=(source or {}).get("path", ""), prune=True,
                                     self_heal=False, source=source)
    live = cluster.get(desired)
    manager = field_manager(spec_name)  # named after the spec, as every write of its NetworkSync
    if live is None:
        live = cluster.apply(desired, force=True, manager=manager)
    elif source and (live.get("spec") or {}).get("source") != desired["spec"]["source"]:
        live = cluster.apply({**desired, "spec": {**live.get("spec", {}), "source": desired["spec"]["source"]}},
                             force=True, manager=manager)
    previous = live.get("status")
    patch = syncstatus.stall_status(previous, reason=reason, message=message, attempted=revision,
                                    generation=int(live["metadata"].get("generation", 1)), at=syncstatus.now())
    if syncstatus.stall_is_recorded(patch, previous):
        return False
    cluster.update_status(live, patch)
    return True


def _version(obj: dict | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


def install_crds(cluster: Cluster, *, dry_run: bool = False, wait_seconds: float = 60.0,
                 progress=lambda line: None) -> list[str]:
    """Server-side apply every CRD in schemas/crds, then wait until each is Established."""
    from ruamel.yaml import YAML

    names = []
    for path in schemas.crd_paths():
        crd: dict[str, Any] = YAML(typ="safe", pure=False).load(path.read_text())
        existing = cluster.get(crd)
        answer = cluster.apply(crd, force=True, dry_run=dry_run)
        names.append(crd["metadata"]["name"])
        same = existing is not None and _version(answer) == _version(existing)  # a no-op apply keeps it
        verb = "installed" if existing is None else "unchanged" if same else "updated"
        progress(f"{'would be ' + verb if dry_run else verb} CustomResourceDefinition {crd['metadata']['name']}")
    if dry_run:
        return names
    progress(f"waiting until the {len(names)} CustomResourceDefinitions are Established ...")
    deadline = time.monotonic() + wait_seconds
    pending = list(names)
    while pending:
        probe = {"apiVersion": CRD_API, "kind": "CustomResourceDefinition", "metadata": {"name": pending[0]}}
        live = cluster.get(probe) or {}
        conditions = (live.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise ClusterError(f"CustomResourceDefinition {pending[0]} is not Established after {wait_seconds:.0f}s")
        time.sleep(0.2)
    cluster.forget_discovery()
    return names
