"""The chart's RBAC is exactly enough, on the real kube-apiserver.

The controller and the agent run as the chart's ServiceAccounts (tokens from the TokenRequest
API, signed with the control plane's service-account key) through their scenarios
(`scenarios.py`); the audit log says what each asked for. Then:

- every request was allowed and is covered by the chart's rules;
- every grant of the chart (rule x resource x verb x name) is the only one covering some request:
  none is unused, so nothing more is granted;
- for each grant, the real authorizer, asked with that grant removed from the live Role, denies
  its request: removing any one rule breaks something (the table in the failure message and
  in `-rP` output names the scenario request each grant is for);
- end to end: an agent whose Role lacks `update spiderippools/status` cannot allocate.
"""

from __future__ import annotations

import copy

import pytest

from tests.cluster.fixtures import wiped
from tests.conftest import eventually, with_crds
from tests.k8s_binaries import helm4
from tests.watch.gitremote import Remote

from . import rbac, scenarios
from .chart import NAMESPACE, render

RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
CLUSTER_SCOPED = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings"}


def identity(objects: list[dict], component: str) -> tuple[str, str]:
    sa = next(o for o in objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"].endswith(f"-{component}"))
    name = sa["metadata"]["name"]
    return name, f"system:serviceaccount:{NAMESPACE}:{name}"


def resource_of(kind: str) -> str:
    return {"ServiceAccount": "serviceaccounts", "Role": "roles.rbac.authorization.k8s.io",
            "RoleBinding": "rolebindings.rbac.authorization.k8s.io",
            "ClusterRole": "clusterroles.rbac.authorization.k8s.io",
            "ClusterRoleBinding": "clusterrolebindings.rbac.authorization.k8s.io"}[kind]


def install_rbac(cluster, objects: list[dict]) -> list[dict]:
    created = []
    for o in objects:
        if o["kind"] in RBAC_KINDS:
            created.append(cluster.create(dict(o, apiVersion=o["apiVersion"])))
    return created


def remove_rbac(cluster, objects: list[dict]) -> None:
    for o in objects:
        if o["kind"] in RBAC_KINDS:
            cluster.delete(resource_of(o["kind"]), o["metadata"]["name"], o["metadata"].get("namespace", ""))


@pytest.fixture(scope="module")
def proof(real_control_plane, tmp_path_factory):
    """Both scenarios once, with the chart's RBAC as rendered -> what the tests check."""
    workdir = tmp_path_factory.mktemp("rbac")
    objects = render(helm4(), {"gitSource": {"enabled": True, "repo": "git://placeholder/net.git"},
                               **scenarios.THIRD_PARTY_VALUES})
    with wiped(real_control_plane) as cluster:
        with_crds(cluster, calico=True)
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        cluster.create(scenarios.KUBEADM_CONFIG)
        cluster.add_node(scenarios.NODE)
        cluster.create(scenarios.CLONESET_CRD)
        eventually(lambda: _established(cluster), timeout=30, what="the CloneSet CRD served")
        install_rbac(cluster, objects)
        (workdir / "remote").mkdir()
        remote = Remote(workdir / "remote").serve()
        try:
            yield run_both(cluster, objects, remote, workdir)
        finally:
            remote.stop()
            remove_rbac(cluster, objects)
            cluster.delete("configmaps", "kubeadm-config", "kube-system")
            cluster.delete("customresourcedefinitions.apiextensions.k8s.io", scenarios.CLONESETS)


def _established(cluster) -> bool:
    crd = cluster.get("customresourcedefinitions.apiextensions.k8s.io", scenarios.CLONESETS) or {}
    return any(c["type"] == "Established" and c["status"] == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


def run_both(cluster, objects, remote, workdir) -> dict:
    cp = cluster.cp
    accounts = {c: identity(objects, c) for c in ("controller", "agent")}
    configs = {c: rbac.token_kubeconfig(cp, workdir / f"{c}.kubeconfig", rbac.token_for(cp, NAMESPACE, sa),
                                        namespace=NAMESPACE) for c, (sa, _) in accounts.items()}
    since = rbac.audit_offset(cp)
    socket = str(workdir / "agent.sock")
    agent = scenarios.run_agent(objects, kubeconfig=configs["agent"], workdir=workdir, socket=socket)
    controller = None
    logs: list = []
    try:
        controller = scenarios.run_controller(objects, kubeconfig=configs["controller"], workdir=workdir,
                                              repo=remote.git_url, namespace=NAMESPACE, auto_pools=False)
        lease = scenarios.controller_applies(cluster, controller, remote, NAMESPACE)
        agent_out = scenarios.agent_scenario(cluster, agent, socket)
        controller_out = scenarios.controller_scenario(cluster, controller, remote, NAMESPACE, lease)
        logs.append(controller)
        third_party = scenarios.third_party_pool(cluster, agent, socket)
        # the auto pools, by a controller with the Deployment's args as they are (it takes the Lease back)
        controller = scenarios.run_controller(objects, kubeconfig=configs["controller"], workdir=workdir,
                                              repo=remote.git_url, namespace=NAMESPACE, log="controller-2.log")
        autopools_out = {**third_party, **scenarios.autopool_scenario(cluster, controller, agent, socket,
                                                                         third_party["cloneset"])}
        assert controller.stop() == 0, controller.logs()
        assert agent.stop() == 0, agent.logs()
    finally:
        agent.stop()
        if controller is not None:
            controller.stop()
    logs.append(controller)
    requests = {c: rbac.recorded(cp, user, since=since) for c, (_, user) in accounts.items()}
    grants = {c: rbac.grants_of(objects, sa, NAMESPACE) for c, (sa, _) in accounts.items()}
    return {"cluster": cluster, "objects": objects, "accounts": accounts, "requests": requests, "grants": grants,
            "agent": agent_out, "controller": controller_out, "autopools": autopools_out,
            "logs": {"agent": agent.logs(), "controller": "".join(c.logs() for c in logs)}}


def test_the_scenarios_ran_as_the_service_accounts(proof):
    agent, controller = proof["agent"], proof["controller"]
    assert all(reply.ok for reply in agent["added"].values()), agent["added"]
    assert agent["deleted"].ok and agent["kept"].ok and agent["second_nic"].ok, agent
    assert b"coordinator:" in agent["coordinator"][1], agent["coordinator"]   # it read SpiderCoordinator default
    assert controller["lease"]["spec"]["holderIdentity"].startswith("controller-0")
    assert not (controller["released"]["spec"].get("holderIdentity")), "the Lease is handed back on SIGTERM"
    assert controller["exit"] == 0, proof["logs"]["controller"]
    assert {e["reason"] for e in controller["events"]} >= {"Applied", "InvalidSpec"}
    for component, (_, user) in proof["accounts"].items():
        assert proof["requests"][component], f"no request of {user} in the audit log"


def test_the_auto_pool_scenario_ran_as_the_service_accounts(proof):
    """Auto pools (docs/autopools.md) as the chart's accounts: the controller made, grew and
    reclaimed the Deployment's pool and told the Deployment; the agent allocated from it, and made
    and allocated from the CloneSet's pool itself."""
    out = proof["autopools"]
    assert out["shop_added"].ok, out["shop_added"]
    assert all(reply.ok for reply in out["kinds_added"].values()), out["kinds_added"]
    assert out["clone_added"].ok, out["clone_added"]
    assert out["clone_grown"].ok and out["clone_size"] == 3, (out["clone_grown"], out["clone_size"])
    assert out["clone_pool"] is not None and out["clone_pool"]["metadata"]["name"].startswith("auto4-kruise-eth0-")
    assert out["pool"].startswith("auto4-shop-eth0-")
    reasons = {e["reason"] for e in out["events"]}
    assert {"AutoPoolCreated", "AutoPoolScaled"} <= reasons, reasons
    assert "made the auto pool of a third-party controller" in proof["logs"]["agent"]


def test_the_api_server_authenticates_the_tokens_it_signed_and_no_other(proof, real_control_plane, tmp_path):
    """The TokenRequest tokens are verified with the control plane's service-account key: the same
    token with its signature altered is refused (401), so the requests above were the SA's own."""
    import ssl
    import urllib.error
    import urllib.request

    cp = real_control_plane
    sa, user = proof["accounts"]["agent"]
    token = rbac.token_for(cp, NAMESPACE, sa)
    context = ssl.create_default_context(cafile=str(cp.pki.ca_cert))

    def status(bearer: str) -> int:
        request = urllib.request.Request(cp.url + "/apis/authentication.k8s.io/v1/selfsubjectreviews", method="POST",
                                         data=b'{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
                                         headers={"Authorization": f"Bearer {bearer}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as answer:
                assert user in answer.read().decode()
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    assert status(token) == 201
    assert status(forged) == 401


@pytest.mark.parametrize("component", ["controller", "agent"])
def test_every_request_was_allowed_and_is_covered_by_the_chart(proof, component):
    requests = proof["requests"][component]
    forbidden = sorted({str(r) for r in requests if r.code == 403})
    assert not forbidden, f"{component} was refused:\n" + "\n".join(forbidden)
    missing = rbac.uncovered(proof["grants"][component], requests)
    assert not missing, f"{component} made requests no rule covers:\n" + "\n".join(map(str, missing))


# Grants used only on an error path no scenario can force deterministically: (component, group,
# resource, verb) -> the code path and a request it makes. Each is still proven by the authorizer
# test below (the request is denied without the grant); nothing else may go unwitnessed.
ERROR_PATHS = {
    ("agent", "spiderpool.spidernet.io", "spiderippools", "get"):
        ("agent/commit.py: a pool status write answered 409 is retried from a fresh read of the pool",
         rbac.Request("get", "spiderpool.spidernet.io", "spiderippools", "", "pool-a", 200)),
    ("agent", "spiderpool.spidernet.io", "spiderendpoints", "get"):
        ("agent/endpoint.py: an endpoint update answered 409 is retried from a fresh read of it",
         rbac.Request("get", "spiderpool.spidernet.io", "spiderendpoints", "default", "app", 200)),
}


def witnessed(proof, component):
    """grant -> requests only it covers, error paths (ERROR_PATHS) given their request."""
    needed = rbac.needed(proof["grants"][component], proof["requests"][component])
    for grant, witnesses in needed.items():
        path = ERROR_PATHS.get((component, grant.group, grant.resource, grant.verb))
        if path and not witnesses:
            witnesses.append(path[1])
    return needed


@pytest.mark.parametrize("component", ["controller", "agent"])
def test_every_grant_is_the_only_one_covering_some_request(proof, component):
    needed = witnessed(proof, component)
    print(f"\n{component}: grant -> a request only it allows")
    for grant, witnesses in sorted(needed.items(), key=lambda item: str(item[0])):
        print(f"  {grant}  <-  {min(witnesses) if witnesses else 'NOTHING'}")
    unused = sorted(str(g) for g, witnesses in needed.items() if not witnesses)
    assert not unused, f"{component} is granted more than it uses:\n" + "\n".join(unused)


@pytest.mark.parametrize("component", ["controller", "agent"])
def test_the_real_authorizer_denies_each_request_once_its_grant_is_removed(proof, real_control_plane, component):
    cp = real_control_plane
    sa, user = proof["accounts"][component]
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}", "system:authenticated"]
    needed = witnessed(proof, component)
    objects = proof["objects"]
    cluster = proof["cluster"]            # the chart's RBAC is still installed there
    still_allowed = []
    for grant, witnesses in sorted(needed.items(), key=lambda item: str(item[0])):
        assert witnesses, f"{grant} is not needed (see the test above)"
        witness = min(witnesses)
        kind, name = proof["grants"][component][grant]
        role = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name
                    and (kind == "ClusterRole" or o["metadata"]["namespace"] == grant.namespace))
        assert rbac.access_review(cp, user, groups, witness), f"{witness} denied with the full Role"
        put_role(cluster, role, without=grant)
        try:
            if not _denied_soon(cp, user, groups, witness):
                still_allowed.append(f"{grant}: {witness}")
        finally:
            put_role(cluster, role, without=None)
    assert not still_allowed, "still allowed without their grant:\n" + "\n".join(still_allowed)


def _denied_soon(cp, user, groups, witness) -> bool:
    """The authorizer reads Roles from its informer: wait (bounded) until it sees the edit."""
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not rbac.access_review(cp, user, groups, witness):
            return True
        time.sleep(0.05)
    return False


def put_role(cluster, role: dict, *, without: rbac.Grant | None) -> None:
    """Replace the live Role/ClusterRole with the chart's, less one grant (None: as rendered)."""
    body = copy.deepcopy(role)
    if without is not None:
        rules = []
        for rule in body["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames") or [None]:
                            if (group, resource, verb, name) == (without.group, without.resource, without.verb,
                                                                 without.name):
                                continue
                            atom = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                            if name:
                                atom["resourceNames"] = [name]
                            rules.append(atom)
        body["rules"] = rules
    resource = resource_of(role["kind"])
    live = cluster.get(resource, role["metadata"]["name"], role["metadata"].get("namespace", ""))
    body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    from tests.cluster.api import request

    status, answer = request(cluster.cp, "PUT", cluster._path(resource, role["metadata"].get("namespace", ""),
                                                              role["metadata"]["name"]), body)
    assert status == 200, answer


def test_an_agent_without_pool_status_updates_cannot_allocate(real_control_plane, tmp_path):
    """End to end: the one grant removed, the agent starts and syncs but an ADD fails, saying why."""
    objects = render(helm4(), {}, release="e2e")   # beside the module's release, whose RBAC is still live
    for o in objects:
        if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith("-agent"):
            o["rules"] = [r for r in o["rules"] if r["resources"] != ["spiderippools/status"]]
    with wiped(real_control_plane) as cluster:
        with_crds(cluster)
        if cluster.get("namespaces", NAMESPACE) is None:
            cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        if cluster.get("nodes", scenarios.NODE) is None:
            cluster.add_node(scenarios.NODE)
        cluster.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                        "metadata": {"name": "p"}, "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.1.1-10.6.1.9"],
                                                            "default": True}})
        install_rbac(cluster, objects)
        sa, _ = identity(objects, "agent")
        kubeconfig = rbac.token_kubeconfig(real_control_plane, tmp_path / "agent.kubeconfig",
                                           rbac.token_for(real_control_plane, NAMESPACE, sa), namespace=NAMESPACE)
        socket = str(tmp_path / "a.sock")
        agent = scenarios.run_agent(objects, kubeconfig=kubeconfig, workdir=tmp_path, socket=socket)
        try:
            from agent.client import AgentClient
            from tests.netns.agents import readyz

            eventually(lambda: readyz(socket) == 200, timeout=60, what="the agent ready", context=agent.logs)
            reply = scenarios.cni(AgentClient(socket), "ADD", scenarios.pod(cluster, "app"))
            assert not reply.ok and "forbidden" in reply.stdout.lower(), reply.stdout
            assert scenarios.records(cluster, "p") == {}
        finally:
            agent.stop()
            remove_rbac(cluster, objects)
