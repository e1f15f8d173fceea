"""The `spiderpool` command line (also run as `helm spiderpool ...`).

The only module that prints. Each subcommand is a short function over the
pipeline; exit codes (docs/commands.md): validate 0/1, render 0/1, plan 0 (with
`--detailed-exitcode`: 0 no changes, 2 changes, 1 error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Callable, TextIO

from kubeclient.errors import ApiError, NotFound

from . import __version__, planview
from .errors import ReconcilerError, SpecInvalid, SpecLoadError, StateError
from .pipeline import load_and_validate, render_valid
from .autopoolguard import guard as guard_auto_pools
from .plan import make_plan
from .yamlio import dump_stream, load_state

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 (2 is `plan --detailed-exitcode`'s "changes"), and a
    long option must be spelled out (`--stat` is not `--state`). Subcommand parsers are this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _common(*, namespace: bool) -> argparse.ArgumentParser:
    """The options every command takes. `-n/--namespace` only where it means something: the
    `ipam` views. A spec's objects are rendered the same whoever runs it and wherever (the Argo
    CD contract), so the namespace of a network lives in the spec (`networks[].namespace`,
    default kube-system), never in the caller's flags or environment."""
    common = Parser(add_help=False)
    cluster = common.add_argument_group("cluster access")
    cluster.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="kubeconfig file (default: $KUBECONFIG)")
    cluster.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context (default: $SPIDERPOOL_CONTEXT)")
    if namespace:
        cluster.add_argument("-n", "--namespace", default=argparse.SUPPRESS,
                             help="only this namespace's objects (default: $SPIDERPOOL_NAMESPACE, else all)")
    cluster.add_argument("--retry-budget", type=float, metavar="SECONDS", default=argparse.SUPPRESS,
                         help="how long to retry failing API requests before giving up (default: 30)")
    cluster.add_argument("--request-timeout", type=float, metavar="SECONDS", default=argparse.SUPPRESS,
                         help="how long one API request may take (default: 20)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument("--no-color", action="store_const", const="never", dest="color", default=argparse.SUPPRESS,
                        help="never colour the output")
    common.add_argument("--color", choices=("auto", "always", "never"), default=argparse.SUPPRESS,
                        help="colour the output (default: auto, only on a terminal)")
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common(namespace=False)
    with_namespace = _common(namespace=True)
    parser = Parser(
        prog="spiderpool", parents=[common],
        description="Run a cluster's underlay network (Spiderpool pools, subnets, Multus attachments, "
                    "Calico pools) from a NetworkSpec kept in git.")
    parser.add_argument("--version", action="version", version=f"spiderpool-gitops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    validate = sub.add_parser("validate", parents=[common], help="check a spec (schema and semantic rules)",
                              description="Check a spec; every error is printed as file:line:col: path: message.")
    validate.add_argument("path", metavar="PATH", help="a spec file or a directory of *.yaml/*.yml")
    validate.add_argument("-o", "--output", choices=("text", "json"), default="text")
    validate.set_defaults(func=cmd_validate)

    render = sub.add_parser("render", parents=[common], help="print the Kubernetes objects a spec becomes",
                            description="Print the objects as a YAML stream (the Argo CD plugin contract).")
    render.add_argument("path", metavar="PATH")
    render.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    _render_options(render)
    render.set_defaults(func=cmd_render)

    cmp = sub.add_parser(
        "argocd-cmp", parents=[common], help="the Argo CD config-management plugin's discover and generate",
        description="What examples/argocd/plugin.yaml runs in argocd-cmp-server, in the application's directory. "
                    "discover: print the files there that hold a NetworkSpec (nothing, exit 0, when none do). "
                    "generate: `render` the spec with the options of the Application: parameters spec-path, "
                    "allow-empty, sync-waves, prune-confirm ($PARAM_SPEC_PATH, ...), or plugin env entries "
                    "SPEC_PATH, ALLOW_EMPTY, SYNC_WAVES, PRUNE_CONFIRM ($ARGOCD_ENV_SPEC_PATH, ...); a parameter "
                    "wins. Error locations are shown relative to the repo ($ARGOCD_APP_SOURCE_PATH).")
    cmp.add_argument("step", choices=("discover", "generate"))
    cmp.set_defaults(func=cmd_argocd_cmp)

    plan = sub.add_parser("plan", parents=[common], help="show what apply would change",
                          description="Diff the rendered objects against a cluster: --offline compares with an "
                                      "empty cluster, or with the objects in --state FILE.")
    plan.add_argument("path", metavar="PATH")
    plan.add_argument("--offline", action="store_true", help="do not contact a cluster")
    plan.add_argument("--state", metavar="FILE",
                      help="cluster objects to compare with (YAML/JSON stream or List, as `kubectl get -o yaml` "
                           "prints them); implies --offline")
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 0 when nothing changes, 2 when something does, 1 on error")
    plan.add_argument("-o", "--output", choices=("text", "json"), default="text")
    plan.set_defaults(func=cmd_plan)

    apply = sub.add_parser("apply", parents=[common], help="make the cluster match the spec",
                           description="Plan against the cluster, then server-side apply in dependency order, "
                                       "prune owned leftovers and record the result in the spec's NetworkSync.")
    apply.add_argument("path", metavar="PATH")
    apply.add_argument("--dry-run", action="store_true", help="send every write as a server-side dry run")
    _apply_options(apply)
    apply.add_argument("-o", "--output", choices=("text", "json"), default="text")
    apply.set_defaults(func=cmd_apply)

    watch = sub.add_parser(
        "watch", parents=[common], help="follow a git repo or a directory; apply each new valid revision",
        description="Follow a source and keep the cluster at its newest valid revision: every new revision is "
                    "loaded, validated, planned, applied and recorded in the spec's NetworkSync. A revision that "
                    "does not validate is never applied (NetworkSync Stalled; the last good one stays). Prints one "
                    "line per revision. SIGHUP reconciles now; SIGTERM/SIGINT finish the current apply and exit 0.")
    watch.add_argument("path", nargs="?", metavar="PATH", help="a local spec file or directory (instead of --repo)")
    _git_source(watch.add_argument_group("git source"))
    triggers = watch.add_argument_group("triggers")
    _triggers(triggers)
    triggers.add_argument("--once", action="store_true", help="reconcile once and exit (0 applied, 1 otherwise)")
    triggers.add_argument("--debounce", type=float, default=0.3, metavar="S",
                          help="for PATH: wait until files are quiet this long before reconciling (default: 0.3)")
    _apply_options(watch)
    watch.add_argument("-o", "--output", choices=("text", "json"), default="text",
                       help="text lines, or one JSON object per line")
    watch.set_defaults(func=cmd_watch)

    status = sub.add_parser(
        "status", parents=[common], help="show NetworkSync status of applied specs",
        description="Each applied spec's NetworkSync: ready, revision, objects, drift, history. Drift is the "
                    "cluster's now (a plan against it) when the spec's recorded source path is readable here; "
                    "otherwise it is as of the last apply, and says so.")
    status.add_argument("name", nargs="?", help="one spec's details (default: a table of all)")
    status.add_argument("-o", "--output", choices=("text", "json"), default="text")
    status.set_defaults(func=cmd_status)

    delete = sub.add_parser(
        "delete", parents=[common], help="retire a spec: prune everything it owns, then its NetworkSync",
        description="Delete every object the spec NAME owns, by apply's prune rules (a pool or subnet still "
                    "holding IPs is disabled and drained, never deleted), then its NetworkSync. Exit 0 when all "
                    "is gone; 1 on a failure, or while something still drains (run it again once it is empty; "
                    "the NetworkSync is kept until then).")
    delete.add_argument("name", metavar="NAME", help="the spec's metadata.name (as `spiderpool status` lists it)")
    delete.add_argument("--dry-run", action="store_true", help="send every delete as a server-side dry run")
    delete.add_argument("--concurrency", type=int, default=8, metavar="N", help=argparse.SUPPRESS)
    delete.add_argument("-o", "--output", choices=("text", "json"), default="text")
    delete.set_defaults(func=cmd_delete)

    drift = sub.add_parser("drift", parents=[common], help="show what nodes see that differs from the spec",
                           description="Print every node's NodeReport (exit 1 when any finding is an Error).")
    drift.add_argument("-o", "--output", choices=("text", "json"), default="text")
    drift.set_defaults(func=cmd_drift)

    crds = sub.add_parser(
        "install-crds", parents=[common], help="install this project's CRDs into the cluster",
        description="Install or update this project's CRDs. A CRD another tool installed (upstream Spiderpool's "
                    "Helm chart, say) is refused, naming its owner, unless --adopt. An installed schema never "
                    "loses a field: ours is written merged with it, and a CRD serving a version ours does not "
                    "know is left as it is.")
    crds.add_argument("--dry-run", action="store_true", help="say what would be installed, updated or left "
                                                              "unchanged; write nothing")
    crds.add_argument("--adopt", action="store_true", help="take over CRDs another tool installed (their schema's "
                                                            "fields are kept)")
    crds.set_defaults(func=cmd_install_crds)

    cni = sub.add_parser("install-cni", help="write the CNI plugin executables into the runtime's plugin dir",
                         description="Write each CNI plugin as a standalone script run by this Python with -IS.")
    cni.add_argument("--dest", default="/opt/cni/bin", metavar="DIR", help="plugin directory (default: /opt/cni/bin)")
    cni.add_argument("--python", metavar="PATH",
                     help="interpreter for the scripts' shebang, as the node sees it (default: this one, outside "
                          "any virtualenv)")
    cni.set_defaults(func=cmd_install_cni)

    agent = sub.add_parser("agent", parents=[common], help="run the node agent (the IPAM plugin's backend)",
                           description="Serve the spiderpool CNI plugin on a unix socket from a watched cache.")
    agent.add_argument("--node", default=os.environ.get("NODE_NAME"), required=not os.environ.get("NODE_NAME"),
                       help="this node's name (default: $NODE_NAME)")
    agent.add_argument("--socket", default="/var/run/spidernet/spiderpool.sock", metavar="PATH",
                       help="unix socket to serve (default: /var/run/spidernet/spiderpool.sock)")
    agent.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    agent.add_argument("--health-listen", metavar="HOST:PORT",
                       help="also serve /healthz, /readyz and /metrics over TCP here, for probes and Prometheus "
                            "(e.g. 0.0.0.0:9712; default: off; the plugins' routes stay on the socket)")
    agent.set_defaults(func=cmd_agent)

    controller = sub.add_parser(
        "controller", parents=[common], help="run the in-cluster controller: the GitOps loop and the IPAM controllers",
        description="Follow a git source as `watch` does (from flags or a ConfigMap) and run the IP garbage collector, "
                    "SpiderCoordinator CIDR discovery and the SpiderSubnet auto-pool controller, only while this "
                    "replica holds the leader Lease. Logs JSON "
                    "lines; records an Event on the NetworkSync per outcome; serves Prometheus metrics.")
    controller.add_argument("--gc-interval", type=float, default=120.0, metavar="S",
                            help="seconds between full passes (default: 120)")
    controller.add_argument("--gc-grace", type=float, default=30.0, metavar="S",
                            help="seconds a record must look leaked before it is released (default: 30)")
    controller.add_argument("--coordinator-interval", type=float, default=60.0, metavar="S",
                            help="seconds between SpiderCoordinator CIDR discovery passes (default: 60)")
    controller.add_argument("--auto-pools", action=argparse.BooleanOptionalAction, default=True,
                            help="run the SpiderSubnet auto-pool controller (default: on)")
    controller.add_argument("--auto-pool-default-ip-number", metavar="N|+N",
                            default=os.environ.get("SPIDERPOOL_AUTO_POOL_DEFAULT_IP_NUMBER") or "+1",
                            help="size of an app's auto pool when its template has no ipam.spidernet.io/ippool-ip-number: "
                                 "+N = replicas + N, N = fixed (default: $SPIDERPOOL_AUTO_POOL_DEFAULT_IP_NUMBER, else +1)")
    controller.add_argument("--auto-pool-interval", type=float, default=60.0, metavar="S",
                            help="seconds between full auto-pool passes besides those events trigger (default: 60)")
    controller.add_argument("--once", action="store_true",
                            help="run the IPAM passes until nothing is pending, then exit (no loop, no election)")
    controller.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    source = controller.add_argument_group("git source (as for watch; none: only the IPAM controllers run)")
    _git_source(source)
    source.add_argument("--source-configmap", metavar="NAMESPACE/NAME",
                        help="read repo, ref, path, interval, backoffMax, credentialsFile, caFile from this "
                             "ConfigMap (flags give the defaults), and follow its changes")
    _triggers(source)
    _apply_options(source)
    election = controller.add_argument_group("leader election (a coordination.k8s.io Lease)")
    election.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                          help="act only while holding the Lease (default: on)")
    election.add_argument("--lease-name", default="spiderpool-controller", help="(default: spiderpool-controller)")
    election.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE") or "kube-system",
                          help="(default: $POD_NAMESPACE, else kube-system)")
    election.add_argument("--leader-elect-identity", metavar="ID",
                          help="this replica's name in the Lease (default: $POD_NAME or the host, plus a suffix)")
    election.add_argument("--lease-duration", type=float, default=15.0, metavar="S",
                          help="how long a standby waits on an unrenewed Lease before taking it (default: 15)")
    election.add_argument("--renew-deadline", type=float, default=10.0, metavar="S",
                          help="how long the leader keeps acting without a renewal (default: 10)")
    election.add_argument("--retry-period", type=float, default=2.0, metavar="S",
                          help="how often the Lease is tried and renewed (default: 2)")
    controller.add_argument("--metrics-listen", metavar="HOST:PORT",
                            help="serve /metrics, /healthz and /readyz here (e.g. 0.0.0.0:9711; default: off)")
    controller.set_defaults(func=cmd_controller)

    ipam = sub.add_parser("ipam", parents=[with_namespace], help="IP allocation views: pools, subnets, endpoints, check")
    views = ipam.add_subparsers(dest="view", metavar="VIEW", required=True)
    for name, text in (("pools", "SpiderIPPools as `kubectl get sp` shows them"),
                       ("subnets", "SpiderSubnets as `kubectl get ss` shows them"),
                       ("endpoints", "SpiderEndpoints as `kubectl get se` shows them (all namespaces unless -n)"),
                       ("check", "audit records against pods: duplicates, leaks, missing pods (exit 1 if any)")):
        view = views.add_parser(name, parents=[with_namespace], help=text)
        view.add_argument("-o", "--output", choices=("text", "json"), default="text")
    ipam.set_defaults(func=cmd_ipam)

    completion = sub.add_parser("completion", help="print a shell completion script (bash or zsh)",
                                description="Print a completion script generated from this CLI's flags. bash: "
                                            "`source <(spiderpool completion bash)`; zsh: "
                                            "`source <(spiderpool completion zsh)`.")
    completion.add_argument("shell", choices=("bash", "zsh"))
    completion.set_defaults(func=cmd_completion)
    return parser



def _apply_options(parser) -> None:
    """What apply, watch and the controller's loop share about how a spec is applied."""
    parser.add_argument("--adopt", action="store_true", help="take over same-named objects this spec does not own")
    parser.add_argument("--allow-empty", action="store_true",
                        help="allow a spec that renders nothing to prune everything it owns")
    parser.add_argument("--self-heal", action="store_true", help="revert hand edits of owned objects (drift)")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N",
                        help="writes in flight at once within one dependency level (default: 8)")


def _render_options(parser) -> None:
    parser.add_argument("--allow-empty", action="store_true",
                        help="print a spec that renders nothing, or whose every pool is disabled, instead of "
                             "refusing it (a GitOps tool with prune would delete everything the spec owned)")
    parser.add_argument("--sync-waves", action="store_true",
                        help="annotate Argo CD sync waves: subnets 0, pools and reserved IPs 1, coordinator, "
                             "attachments and Calico pools 2")
    parser.add_argument("--prune-confirm", action="store_true",
                        help="annotate every SpiderIPPool `argocd.argoproj.io/sync-options: Prune=confirm`")


def _git_source(group) -> None:
    """The git source of watch and the controller."""
    group.add_argument("--repo", metavar="URL", help="git remote: https://, ssh://, git://, file:// or user@host:path")
    group.add_argument("--ref", default="HEAD", help="branch, tag or full commit SHA (default: the remote's HEAD)")
    group.add_argument("--path", dest="repo_path", default=".", metavar="DIR",
                       help="the spec's directory or file inside the repo (default: the root)")
    group.add_argument("--credentials-file", metavar="FILE",
                       help="a git credential-store line (https://user:token@host), user:token, a bare token, or "
                            "an SSH private key, whose server is checked against a known_hosts file beside it "
                            "(default: $SPIDERPOOL_GIT_TOKEN with $SPIDERPOOL_GIT_USERNAME); read again before "
                            "each fetch")
    group.add_argument("--ca-file", metavar="FILE",
                       help="the CA certificates (PEM) git verifies an https remote's certificate with, e.g. a "
                            "private CA's for a self-hosted git host; read again before each fetch")
    group.add_argument("--cache-dir", metavar="DIR",
                       help="where the working copy is kept (default: $SPIDERPOOL_CACHE_DIR, else "
                            "$XDG_CACHE_HOME/spiderpool-gitops/sources)")


def _triggers(group) -> None:
    """When watch and the controller reconcile: the poll, the webhook, the retry backoff."""
    group.add_argument("--interval", type=float, default=60.0, metavar="S",
                       help="poll the source and re-check drift every S seconds, +-10%% (default: 60)")
    group.add_argument("--webhook-listen", metavar="HOST:PORT",
                       help="serve a push webhook (GitHub HMAC, GitLab token, X-Spiderpool-Token)")
    group.add_argument("--webhook-secret-file", metavar="FILE",
                       help="the webhook's shared secret (default: $SPIDERPOOL_WEBHOOK_SECRET)")
    group.add_argument("--backoff-max", type=float, default=300.0, metavar="S",
                       help="longest wait between retries of a failing apply (default: 300)")

def cmd_completion(args: argparse.Namespace) -> int:
    from .completion import script

    sys.stdout.write(script(_parser(), args.shell))
    return EXIT_OK


def _retry(args: argparse.Namespace):
    """--retry-budget and --request-timeout (or their env), else the one set of defaults."""
    from kubeclient.retry import RetryPolicy

    default = RetryPolicy()
    return RetryPolicy(
        budget_seconds=float(_option(args, "retry_budget", "SPIDERPOOL_RETRY_BUDGET", default.budget_seconds)),
        request_timeout=float(_option(args, "request_timeout", "SPIDERPOOL_REQUEST_TIMEOUT", default.request_timeout)))


def _connect(args: argparse.Namespace):
    """The reconciler's client (server-side apply over any kind)."""
    from .kube import connect

    return connect(kubeconfig=_option(args, "kubeconfig", "KUBECONFIG"),
                   context=_option(args, "context", "SPIDERPOOL_CONTEXT"), retry=_retry(args))


def _option(args: argparse.Namespace, name: str, env: str | None = None, default=None):
    value = getattr(args, name, None)
    if value is None and env:
        value = os.environ.get(env) or None
    return default if value is None else value


def _color(args: argparse.Namespace, stream: TextIO) -> bool:
    mode = _option(args, "color", default="auto")
    if mode == "auto":
        return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    return mode == "always"


def _print_spec_errors(error: SpecInvalid, stream: TextIO) -> None:
    for item in error.errors:
        print(item, file=stream)
    count = len(error.errors)
    print(f"{count} error{'s' if count != 1 else ''}: the spec is invalid; nothing was rendered or applied.", file=stream)


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        valid = load_and_validate(args.path)
    except SpecInvalid as exc:
        if args.output == "json":
            print(json.dumps({"valid": False, "errors": [
                {"file": e.location.file, "line": e.location.line, "col": e.location.col, "path": e.path,
                 "message": e.message} for e in exc.errors]}, indent=2))
        _print_spec_errors(exc, sys.stderr)
        return EXIT_ERROR
    spec = valid.spec
    counts = {"zones": len(spec.zones), "subnets": len(spec.subnets), "ippools": len(spec.ippools),
              "reservedIPs": len(spec.reserved_ips), "networks": len(spec.networks)}
    words = {"zones": "zone", "subnets": "subnet", "ippools": "pool", "reservedIPs": "reserved IP range",
             "networks": "network"}
    if args.output == "json":
        print(json.dumps({"valid": True, "spec": spec.name, "counts": counts, "errors": []}, indent=2))
    else:
        shown = ", ".join(f"{n} {words[k]}{'' if n == 1 else 's'}" for k, n in counts.items())
        print(f"NetworkSpec {spec.name!r} is valid ({shown}).")
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    return _render(args.path, output=args.output, allow_empty=args.allow_empty, sync_waves=args.sync_waves,
                   prune_confirm=args.prune_confirm)


def _render(path: str, *, output: str = "yaml", allow_empty: bool = False, sync_waves: bool = False,
            prune_confirm: bool = False, shown_under: str = "") -> int:
    """Render to stdout; nothing on stdout unless it all worked. `shown_under` prefixes the
    files of error locations (the app's path in its repo, for Argo CD)."""
    from .pipeline import empty_render_error
    from .render import with_argocd_annotations

    try:
        valid = load_and_validate(path)
    except SpecInvalid as exc:
        _print_spec_errors(SpecInvalid([_under(shown_under, e) for e in exc.errors]), sys.stderr)
        return EXIT_ERROR
    objects = render_valid(valid)
    refusal = None if allow_empty else empty_render_error(valid, objects)
    if refusal is not None:  # one line: it is what Argo CD shows as the app's error
        print(f"{_under(shown_under, refusal)} (nothing was rendered)", file=sys.stderr)
        return EXIT_ERROR
    objects = with_argocd_annotations(objects, sync_waves=sync_waves, prune_confirm=prune_confirm)
    if output == "json":
        sys.stdout.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n")
    else:
        sys.stdout.write(dump_stream(objects))
    return EXIT_OK


def _under(prefix: str, error):
    from .errors import Location, SpecError

    file = error.location.file
    if not prefix or os.path.isabs(file):
        return error
    return SpecError(Location(os.path.normpath(os.path.join(prefix, file)), error.location.line, error.location.col),
                     error.path, error.message)


def cmd_argocd_cmp(args: argparse.Namespace) -> int:
    from .argocdcmp import find_specs, options_from_env

    if args.step == "discover":
        for file in find_specs("."):
            print(file)
        return EXIT_OK
    options = options_from_env(os.environ)
    return _render(options.spec_path, allow_empty=options.allow_empty, sync_waves=options.sync_waves,
                   prune_confirm=options.prune_confirm, shown_under=options.source_path)


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        valid = load_and_validate(args.path)
    except SpecInvalid as exc:
        _print_spec_errors(exc, sys.stderr)
        return EXIT_ERROR
    if args.offline or args.state:
        live = load_state(args.state) if args.state else []
        against = f"the objects in {args.state}" if args.state else "an empty cluster (offline)"
        rendered = render_valid(valid)
        plan = make_plan(rendered, live, spec_name=valid.spec.name, prune=valid.spec.prune)
        guard_auto_pools(plan, rendered, live)
    else:
        from .apply import plan_live

        try:
            cluster = _connect(args)
        except ApiError as exc:
            if exc.reason != "Config":
                raise
            raise ReconcilerError(f"{exc}; give --kubeconfig FILE, or plan without a cluster with --offline "
                                  "(against an empty one) or --state FILE") from None
        against = f"the cluster at {cluster.server}"
        plan, _ = plan_live(cluster, render_valid(valid), spec_name=valid.spec.name, prune=valid.spec.prune)
    if args.output == "json":
        sys.stdout.write(planview.render_json(plan, against=against))
    else:
        sys.stdout.write(planview.render_text(plan, against=against, color=_color(args, sys.stdout)))
    if plan.refused:
        print(f"spiderpool: error: {len(plan.refused)} change(s) refused: "
              + "; ".join(f"{c.ref}: {c.reason}" for c in plan.refused[:3]), file=sys.stderr)
        return EXIT_ERROR
    if plan.rejected:
        print(f"spiderpool: error: the API server would refuse {len(plan.rejected)} object(s): "
              + "; ".join(c.reason for c in plan.rejected[:3]), file=sys.stderr)
        return EXIT_ERROR
    if plan.conflicts:
        print(f"spiderpool: error: {len(plan.conflicts)} object(s) in the way that this spec does not own: "
              + ", ".join(c.ref for c in plan.conflicts[:5]) + (" ..." if len(plan.conflicts) > 5 else ""),
              file=sys.stderr)
        return EXIT_ERROR
    if args.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


APPLY_SYMBOLS = {"created": "+", "updated": "~", "deleted": "-", "draining": "-", "terminating": "-",
                 "drifted": "~", "conflict": "!", "failed": "!", "skipped": ".", "unchanged": "="}
APPLY_COLORS = {"created": "32", "updated": "33", "deleted": "31", "draining": "35", "terminating": "35",
                "drifted": "35", "conflict": "1;31", "failed": "1;31"}
APPLY_WORDS = {"skipped": "not attempted"}
DRY_RUN_WORDS = {"created": "would be created", "updated": "would be updated", "deleted": "would be deleted",
                 "draining": "would be drained"}


def _apply_line(r, *, dry_run: bool, color: bool) -> str | None:
    """One object's outcome as a line, or None for those not worth a line (unchanged, not attempted)."""
    if (r.action == "unchanged" and not r.message) or r.action == "skipped":
        return None
    words = (DRY_RUN_WORDS if dry_run else {}).get(r.action) or APPLY_WORDS.get(r.action, r.action)
    line = f"  {APPLY_SYMBOLS[r.action]} {r.change.ref} {words}" + (f": {r.message}" if r.message else "")
    code = APPLY_COLORS.get(r.action)
    return f"\x1b[{code}m{line}\x1b[0m" if color and code else line


def _apply_summary(counts: dict[str, int], *, ok: bool, dry_run: bool) -> str:
    words = {**APPLY_WORDS, **(DRY_RUN_WORDS if dry_run else {})}
    shown = ", ".join(f"{n} {words.get(a, a)}" for a, n in counts.items()) or "nothing to do"
    if dry_run:
        return f"Dry run {'complete' if ok else 'FAILED'}, nothing was stored: {shown}."
    return f"Apply {'complete' if ok else 'FAILED'}: {shown}."


def cmd_apply(args: argparse.Namespace) -> int:
    import threading

    from .apply import ApplyOptions
    from .sync import reconcile

    try:
        valid = load_and_validate(args.path)
    except SpecInvalid as exc:
        _print_spec_errors(exc, sys.stderr)
        return EXIT_ERROR
    cluster = _connect(args)
    options = ApplyOptions(dry_run=args.dry_run, adopt=args.adopt, allow_empty=args.allow_empty,
                           self_heal=args.self_heal, concurrency=args.concurrency)
    print(f"{'Dry run: checking' if args.dry_run else 'Applying'} NetworkSpec {valid.spec.name!r} against "
          f"{cluster.server}{' (every write is a server-side dry run: nothing is stored)' if args.dry_run else ''}"
          " ...", file=sys.stderr, flush=True)
    color = _color(args, sys.stdout)
    lock = threading.Lock()

    def stream(r) -> None:  # each object as it is done, not all at the end
        if args.output == "json":
            return
        line = _apply_line(r, dry_run=args.dry_run, color=color)
        if line is not None:
            with lock:
                print(line, flush=True)

    result = reconcile(cluster, valid, path=args.path, options=options, on_result=stream)
    counts = {a: result.count(a) for a in APPLY_SYMBOLS if result.count(a)}
    if args.output == "json":
        print(json.dumps({"spec": valid.spec.name, "dryRun": args.dry_run, "ok": result.ok, "error": result.error,
                          "writes": cluster.writes,
                          "counts": counts, "objects": [
                              {"action": r.action, "kind": r.change.kind, "name": r.change.name,
                               **({"namespace": r.change.namespace} if r.change.namespace else {}),
                               **({"message": r.message} if r.message else {})} for r in result.results]}, indent=2))
    else:
        print(_apply_summary(counts, ok=result.ok, dry_run=args.dry_run), flush=True)
    for warning in result.warnings:
        print(f"spiderpool: warning: {warning}", file=sys.stderr)
    if result.error:
        print(f"spiderpool: error: {result.error}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_ERROR


def _watch_source(args: argparse.Namespace):
    from .source import GitSource, LocalSource

    if bool(args.repo) == bool(args.path):
        raise ReconcilerError("give either PATH (a local directory) or --repo URL, not both and not neither")
    if args.path:
        return LocalSource(args.path)
    cache = args.cache_dir or os.environ.get("SPIDERPOOL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spiderpool-gitops", "sources")
    return GitSource(args.repo, ref=args.ref, path=args.repo_path, cache_dir=cache,
                     credentials_file=args.credentials_file, ca_file=args.ca_file, environ=dict(os.environ))


def _short_revision(revision: str | None) -> str:
    if not revision:
        return "-"
    return revision[:15] if revision.startswith("sha256:") else revision[:8]


def _print_outcome(outcome, *, output: str) -> None:
    import time as _time

    if output == "json":
        print(json.dumps({"time": _time.strftime("%Y-%m-%dT%H:%M:%S%z"), "result": outcome.result,
                          "reason": outcome.reason, "revision": outcome.revision, "spec": outcome.spec,
                          "seconds": round(outcome.seconds, 3), "plan": outcome.plan, "counts": outcome.counts,
                          "errors": list(outcome.errors), "appliedRevision": outcome.applied_revision,
                          "retryIn": outcome.retry_in}), flush=True)
        return
    plan = f"+{outcome.plan.get('add', 0)} ~{outcome.plan.get('change', 0)} -{outcome.plan.get('destroy', 0)}"
    line = f"{_time.strftime('%H:%M:%S')} {_short_revision(outcome.revision)}"
    kept = f"{_short_revision(outcome.applied_revision)} stays applied" if outcome.applied_revision \
        else "nothing applied"
    retry = f"; retry in {outcome.retry_in:g}s" if outcome.retry_in is not None else ""
    if outcome.ok:
        drift = f" ({outcome.counts['drifted']} drifted, not reverted)" if outcome.counts.get("drifted") else ""
        line += f" {plan} {outcome.result}{drift} {outcome.seconds:.2f}s"
    elif outcome.result == "invalid":
        count = sum(1 for e in outcome.errors if not e.startswith("could not record"))
        line += f" invalid {outcome.seconds:.2f}s: {count} error{'s' if count != 1 else ''}; {kept}"
    elif outcome.result == "failed":
        line += f" {plan} failed {outcome.seconds:.2f}s; {kept}{retry}"
    else:
        line += f" source error {outcome.seconds:.2f}s; {kept}{retry}"
    print(line, flush=True)
    for error in outcome.errors:
        print(f"    {error}", flush=True)


def cmd_watch(args: argparse.Namespace) -> int:
    from .apply import ApplyOptions
    from .loop import Loop
    from .schedule import Timing

    if args.interval <= 0 or args.backoff_max <= 0:
        raise ReconcilerError("--interval and --backoff-max must be positive")
    source = _watch_source(args)
    options = ApplyOptions(adopt=args.adopt, allow_empty=args.allow_empty, self_heal=args.self_heal,
                           concurrency=args.concurrency)
    loop = Loop(source, connect=lambda: _connect(args), options=options,
                timing=Timing(interval=args.interval, backoff_first=min(1.0, args.interval),
                              backoff_max=max(args.backoff_max, 1.0)),
                report=lambda outcome: _print_outcome(outcome, output=args.output))
    try:
        if args.once:
            outcome = loop.step(force=True)
            return EXIT_OK if outcome is None or outcome.ok else EXIT_ERROR
        return _follow(args, loop, source)
    finally:
        source.close()


def _follow(args: argparse.Namespace, loop, source) -> int:
    import signal

    from .dirwatch import DirectoryWatch
    from .webhook import Webhook, read_secret

    stoppers = []
    if args.webhook_listen:
        secret_env = os.environ.get("SPIDERPOOL_WEBHOOK_SECRET", "").strip().encode()
        if not args.webhook_secret_file and not secret_env:
            raise ReconcilerError("--webhook-listen needs --webhook-secret-file (or $SPIDERPOOL_WEBHOOK_SECRET)")
        secret = read_secret(args.webhook_secret_file) if args.webhook_secret_file else secret_env
        hook = Webhook(args.webhook_listen, secret=secret, on_hook=lambda kind: loop.wakeup.kick()).start()
        stoppers.append(hook.stop)
    if args.path:
        watcher = DirectoryWatch(args.path, on_change=loop.wakeup.kick, debounce=args.debounce).start()
        stoppers.append(watcher.stop)
    signal.signal(signal.SIGTERM, lambda *_: loop.request_stop())
    signal.signal(signal.SIGINT, lambda *_: loop.request_stop())
    signal.signal(signal.SIGHUP, lambda *_: loop.wakeup.kick(requested=True))
    triggers = [f"poll every {args.interval:g}s"] + ([f"webhook at {hook.url}"] if args.webhook_listen else []) + \
        (["file changes"] if args.path else [])
    print(f"Watching {source}; triggers: {', '.join(triggers)}, SIGHUP. SIGTERM or Ctrl-C stops.",
          file=sys.stderr, flush=True)
    try:
        loop.run()
    finally:
        for stop in stoppers:
            stop()
    print("spiderpool watch: stopped.", file=sys.stderr, flush=True)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from . import statusview
    from .sync import live_drift

    cluster = _connect(args)
    syncs = cluster.list("gitops.spidernet.io/v1alpha1", "NetworkSync")
    if args.name:
        syncs = [s for s in syncs if s["metadata"]["name"] == args.name]
        if not syncs:
            print(f"spiderpool: error: no NetworkSync {args.name!r} in the cluster (has the spec been applied?)",
                  file=sys.stderr)
            return EXIT_ERROR
    live = {s["metadata"]["name"]: live_drift(cluster, s) for s in syncs}
    if args.output == "json":
        print(json.dumps({"items": [statusview.summary(s, live=live[s["metadata"]["name"]]) for s in syncs]},
                         indent=2))
    elif args.name:
        sys.stdout.write(statusview.details(syncs[0], live=live[args.name]))
    else:
        sys.stdout.write(statusview.table(syncs, live=live))
    healthy = all(statusview.ready(s) and not live[s["metadata"]["name"]] for s in syncs)
    return EXIT_OK if healthy else EXIT_ERROR


def cmd_delete(args: argparse.Namespace) -> int:
    from .sync import retire_spec

    cluster = _connect(args)
    syncs = cluster.list("gitops.spidernet.io/v1alpha1", "NetworkSync") \
        if cluster.serves("gitops.spidernet.io/v1alpha1", "NetworkSync") else []
    print(f"{'Dry run: checking the deletion of' if args.dry_run else 'Deleting'} NetworkSpec {args.name!r} from "
          f"{cluster.server}{' (nothing is stored)' if args.dry_run else ''} ...", file=sys.stderr, flush=True)
    color = _color(args, sys.stdout)

    def stream(r) -> None:
        line = _apply_line(r, dry_run=args.dry_run, color=color) if args.output == "text" else None
        if line is not None:
            print(line, flush=True)

    result, gone = retire_spec(cluster, args.name, dry_run=args.dry_run, on_result=stream)
    known = any(s["metadata"]["name"] == args.name for s in syncs)
    if not result.results and not known:
        print(f"spiderpool: error: no spec {args.name!r} in the cluster: no NetworkSync and no object it owns",
              file=sys.stderr)
        return EXIT_ERROR
    counts = {a: result.count(a) for a in APPLY_SYMBOLS if result.count(a)}
    if args.output == "json":
        print(json.dumps({"spec": args.name, "dryRun": args.dry_run, "ok": result.ok, "error": result.error,
                          "networkSyncDeleted": gone, "counts": counts}, indent=2))
    else:
        summary = _apply_summary(counts, ok=result.ok, dry_run=args.dry_run)
        if gone:
            summary += f" NetworkSync {args.name} deleted."
        print(summary.replace("Apply ", "Delete ", 1))
    if result.error:
        print(f"spiderpool: error: {result.error}", file=sys.stderr)
        return EXIT_ERROR
    draining = result.count("draining") + result.count("terminating")
    if draining and not args.dry_run:
        print(f"spiderpool: error: {draining} object(s) still hold IPs and are draining (disabled, never deleted "
              f"while in use); run `spiderpool delete {args.name}` again once they are released; NetworkSync "
              f"{args.name} is kept until then", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_drift(args: argparse.Namespace) -> int:
    from . import driftview

    reports = _connect(args).list("gitops.spidernet.io/v1alpha1", "NodeReport")
    if args.output == "json":
        print(json.dumps({"items": [driftview.summary(r) for r in reports]}, indent=2))
    else:
        sys.stdout.write(driftview.table(reports))
    return EXIT_ERROR if driftview.has_errors(reports) else EXIT_OK


def cmd_install_crds(args: argparse.Namespace) -> int:
    from .sync import install_crds

    from .crds import CrdsRefused

    cluster = _connect(args)
    steps: list = []
    try:
        install_crds(cluster, dry_run=args.dry_run, adopt=args.adopt, steps=steps,
                     progress=lambda line: print(line, file=sys.stderr, flush=True))
    except CrdsRefused as exc:
        print(f"spiderpool: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    tally = {}
    for step in steps:
        tally[step.action] = tally.get(step.action, 0) + 1
    words = {"install": "installed", "update": "updated", "adopt": "adopted", "unchanged": "unchanged",
             "keep": "kept as they are"}
    counts = ", ".join(f"{tally[a]} {'would be ' + words[a] if args.dry_run and a not in ('unchanged', 'keep') else words[a]}"
                       for a in words if tally.get(a))
    print(f"{len(steps)} CustomResourceDefinitions: {counts}" +
          (" (dry run: nothing was written)." if args.dry_run else "; all Established."))
    return EXIT_OK


def cmd_install_cni(args: argparse.Namespace) -> int:
    from cni.install import InstallError, install

    try:
        written = install(args.dest, interpreter=args.python)
    except InstallError as exc:
        print(f"spiderpool: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for item in written:
        print(f"{'installed' if item.changed else 'unchanged'} {item.path}")
    return EXIT_OK


def _agent_connect(args: argparse.Namespace):
    """The agent's client (fixed paths, watches, guarded writes), for the controllers and `ipam`."""
    from agent.kube import connect

    return connect(kubeconfig=_option(args, "kubeconfig", "KUBECONFIG"),
                   context=_option(args, "context", "SPIDERPOOL_CONTEXT"), request_timeout=_retry(args).request_timeout)


def cmd_agent(args: argparse.Namespace) -> int:
    from agent.main import run_agent

    return run_agent(node=args.node, socket_path=args.socket, kubeconfig=_option(args, "kubeconfig", "KUBECONFIG"),
                     context=_option(args, "context", "SPIDERPOOL_CONTEXT"), log_level=args.log_level,
                     health_listen=args.health_listen)


def cmd_controller(args: argparse.Namespace) -> int:
    import signal
    import threading

    from agent.logs import setup

    from .controller import serve

    setup(args.log_level)
    if args.once:
        return _controller_once(args)
    settings = _controller_settings(args)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    code = serve(settings, connect=lambda: _connect(args), connect_agent=lambda: _agent_connect(args), stop=stop,
                 on_serving=lambda what: print(f"spiderpool controller: serving {what}", file=sys.stderr, flush=True))
    if code != EXIT_OK:  # the Lease was lost: exit now, without waiting for writes still in flight to finish
        print("spiderpool controller: leader election lost; exiting", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(code)
    return code


def _controller_once(args: argparse.Namespace) -> int:
    from agent.coordinatorstatus import CoordinatorStatusSync
    from agent.ipgc import IpGc

    try:
        gc = IpGc(_agent_connect(args), interval=args.gc_interval, grace=args.gc_grace)
        CoordinatorStatusSync(_agent_connect(args), interval=args.coordinator_interval).sync_once()
        if args.auto_pools:
            _auto_pools_once(args)
        results = gc.run_until_clean()
    except ApiError as exc:
        print(f"spiderpool: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    released = sum(len(r.released) for r in results)
    swept = sum(len(r.endpoints_deleted) for r in results)
    failed = sum(len(r.failed) for r in results)
    print(f"IP GC: {released} leaked IP(s) released, {swept} SpiderEndpoint(s) without records deleted, "
          f"in {len(results)} pass(es){f'; {failed} failure(s)' if failed else ''}.")
    return EXIT_ERROR if failed else EXIT_OK


def _auto_pool_default(args: argparse.Namespace):
    from cni.allocation.autopool import parse_ip_number

    try:
        return parse_ip_number(args.auto_pool_default_ip_number)
    except ValueError as exc:
        raise ReconcilerError(f"--auto-pool-default-ip-number: {exc}") from None


def _auto_pools_once(args: argparse.Namespace) -> None:
    """Auto-pool passes until one writes nothing (at most 10)."""
    from agent.autopools import AutoPools

    pools = AutoPools(_agent_connect(args), default_number=_auto_pool_default(args))
    created, scaled, deleted, invalid = set(), set(), set(), set()
    pools.cache.start()
    try:
        if not pools.wait_synced(30.0):
            raise ApiError("the auto-pool cache did not sync: " + "; ".join(pools.cache.problems()))
        for _ in range(10):
            result = pools.run_pass()
            created |= set(result.created)
            scaled |= set(result.scaled)
            deleted |= set(result.deleted)
            invalid |= set(result.invalid)
            if not result.writes and not result.conflicts:
                break
            time.sleep(0.5)
    finally:
        pools.cache.stop()
    print(f"auto pools: {len(created)} created, {len(scaled)} scaled, {len(deleted)} deleted"
          + (f"; {len(invalid)} app(s) with unusable annotations" if invalid else "") + ".")


def _controller_settings(args: argparse.Namespace):
    from agent.leasedecision import Timing as LeaseTiming

    from .apply import ApplyOptions
    from .controller import Settings, SourceConfig, default_identity, parse_configmap_ref

    timing = LeaseTiming(args.lease_duration, args.renew_deadline, args.retry_period)
    if timing.problems():
        raise ReconcilerError("; ".join(timing.problems()))
    if args.interval <= 0 or args.backoff_max <= 0:
        raise ReconcilerError("--interval and --backoff-max must be positive")
    source = SourceConfig(args.repo or "", ref=args.ref, path=args.repo_path, interval=args.interval,
                          backoff_max=args.backoff_max, credentials_file=args.credentials_file,
                          ca_file=args.ca_file)
    configmap = parse_configmap_ref(args.source_configmap) if args.source_configmap else None
    secret = b""
    if args.webhook_listen:
        from .webhook import read_secret

        secret = read_secret(args.webhook_secret_file) if args.webhook_secret_file else \
            os.environ.get("SPIDERPOOL_WEBHOOK_SECRET", "").strip().encode()
        if not secret:
            raise ReconcilerError("--webhook-listen needs --webhook-secret-file (or $SPIDERPOOL_WEBHOOK_SECRET)")
    cache = args.cache_dir or os.environ.get("SPIDERPOOL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spiderpool-gitops", "sources")
    return Settings(source=source if args.repo or configmap else None, source_configmap=configmap, cache_dir=cache,
                    options=ApplyOptions(adopt=args.adopt, allow_empty=args.allow_empty, self_heal=args.self_heal,
                                         concurrency=args.concurrency),
                    leader_elect=args.leader_elect, lease_name=args.lease_name, lease_namespace=args.lease_namespace,
                    identity=args.leader_elect_identity or default_identity(), lease_timing=timing,
                    metrics_listen=args.metrics_listen, webhook_listen=args.webhook_listen, webhook_secret=secret,
                    gc_interval=args.gc_interval, gc_grace=args.gc_grace,
                    coordinator_interval=args.coordinator_interval, auto_pools=args.auto_pools,
                    auto_pool_default=_auto_pool_default(args), auto_pool_interval=args.auto_pool_interval)


def cmd_ipam(args: argparse.Namespace) -> int:
    from agent import kube
    from reconciler import ipamview

    views = {"pools": (kube.POOLS, ipamview.pool_rows, ipamview.render_pools),
             "subnets": (kube.SUBNETS, ipamview.subnet_rows, ipamview.render_subnets),
             "endpoints": (kube.ENDPOINTS, ipamview.endpoint_rows, None)}
    namespace = _option(args, "namespace", "SPIDERPOOL_NAMESPACE") if args.view == "endpoints" else None
    budget = _retry(args).budget_seconds
    try:
        cluster = _agent_connect(args)
        if args.view == "check":
            findings = ipamview.check(cluster, budget=budget)
        else:
            kind, to_rows, render = views[args.view]
            rows = to_rows(ipamview.load(cluster, kind, namespace=namespace, budget=budget))
    except NotFound as exc:  # the list's path is not served: the CRD is not installed
        print(f"spiderpool: error: the cluster does not serve the Spiderpool CRDs ({exc}); install them first "
              "(spiderpool install-crds)", file=sys.stderr)
        return EXIT_ERROR
    except ApiError as exc:
        print(f"spiderpool: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.view == "check":
        sys.stdout.write(ipamview.findings_json(findings) if args.output == "json"
                         else ipamview.render_findings(findings))
        return EXIT_ERROR if findings else EXIT_OK
    if args.output == "json":
        print(json.dumps({"items": rows}, indent=2))
    elif render is not None:
        sys.stdout.write(render(rows))
    else:
        sys.stdout.write(ipamview.render_endpoints(rows, all_namespaces=namespace is None))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    debug = bool(_option(args, "debug")) or os.environ.get("SPIDERPOOL_DEBUG") in ("1", "true")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (SpecLoadError, StateError) as exc:
        print(f"spiderpool: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (ReconcilerError, ApiError) as exc:
        print(f"spiderpool: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("spiderpool: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence for a CLI
        if debug:
            traceback.print_exc()
        print(f"spiderpool: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
