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


def install_crds(cluster: Cluster, *, dry_run: bool = False, adopt: bool = False, wait_seconds: float = 60.0,
                 progress=lambda line: None, steps: list | None = None) -> list[str]:
    """Install or update every CRD in schemas/crds as `reconciler.crds` decides (never taking one another
    tool installed without `adopt`, never dropping a field the installed schema has), then wait until
    each is Established. `steps`, when given, receives what was done to each (crds.CrdStep)."""
    from ruamel.yaml import YAML

    from . import crds as crd_rules

    wanted = [YAML(typ="safe", pure=False).load(path.read_text()) for path in schemas.crd_paths()]
    done = crd_rules.run(cluster, wanted, adopt=adopt, dry_run=dry_run, progress=progress)
    if steps is not None:
        steps.extend(done)
    names = [step.name for step in done]
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


def live_drift(cluster: Cluster, sync: dict) -> list[dict] | None:
    """The drift in the cluster now of the spec a NetworkSync records, when its source is a local
    path this process can read (as `plan` computes it); None when it cannot be known here (a git
    source, a path that is not on this machine, a spec that no longer validates)."""
    import os

    from .apply import plan_live
    from .errors import ReconcilerError
    from .pipeline import load_and_validate

    source = (sync.get("spec") or {}).get("source") or {}
    path = source.get("path")
    if source.get("repo") or not path or not os.path.exists(path):
        return None
    try:
        valid = load_and_validate(path)
    except ReconcilerError:
        return None
    if valid.spec.name != sync["metadata"]["name"]:
        return None
    try:
        plan, _ = plan_live(cluster, render_valid(valid), spec_name=valid.spec.name, prune=valid.spec.prune)
    except ClusterError as exc:
        if exc.reason == "NoKind":
            return None  # a kind the cluster does not serve: plan says so; status shows what it recorded
        raise
    return [{"kind": c.kind, **({"namespace": c.namespace} if c.namespace else {}), "name": c.name,
             "field": f.path, "desired": syncstatus.plain(f.after), "live": syncstatus.plain(f.before)}
            for c in plan.changes if c.action == "drift" for f in c.fields]


def retire_spec(cluster: Cluster, name: str, *, dry_run: bool = False,
                on_result=lambda result: None) -> tuple[ApplyResult, bool]:
    """`spiderpool delete NAME`: prune everything the spec owns by the same rules as apply (a pool
    or subnet still in use is disabled and drained, never deleted), then delete its NetworkSync --
    only once nothing is left draining, so `status` keeps saying what remains. -> (the result,
    whether the NetworkSync is gone)."""
    options = ApplyOptions(dry_run=dry_run, allow_empty=True)
    result = apply(cluster, [], spec_name=name, options=options, on_result=on_result)
    if dry_run or not result.ok or result.count("draining") or result.count("terminating"):
        if not dry_run:
            _record_retirement(cluster, name, result)
        return result, False
    cluster.start_run()
    probe = syncstatus.sync_object(name, source_path="", prune=True, self_heal=False)
    if cluster.serves(syncstatus.API_VERSION, syncstatus.KIND):
        cluster.delete(probe)
    return result, True


def _record_retirement(cluster: Cluster, name: str, result: ApplyResult) -> None:
    cluster.start_run()
    try:
        if not cluster.serves(syncstatus.API_VERSION, syncstatus.KIND):
            return
        live = cluster.get(syncstatus.sync_object(name, source_path="", prune=True, self_heal=False))
        if live is None:
            return
        status = syncstatus.build_status(result, revision=syncstatus.digest_revision([]),
                                         generation=int(live["metadata"].get("generation", 1)),
                                         previous=live.get("status"), started=syncstatus.now(),
                                         finished=syncstatus.now())
        cluster.update_status(live, status)
    except ClusterError:
        pass  # the deletion's outcome is what the caller reports

