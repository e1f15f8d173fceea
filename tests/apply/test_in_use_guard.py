"""The guard upstream's pool webhook gives, given by plan and apply on the real API server: a spec
change may not take an allocated IP out of its pool, nor move a pool in use to another subnet."""

from __future__ import annotations

import json

import pytest

from tests.kubeapi.fixtures import api_client_for

from .test_apply import allocate

POOLS = "spiderippools.spiderpool.spidernet.io"


def pool_spec(ips: str, *, subnet: str = "10.6.0.0/16", gateway: str = "10.6.0.1", exclude: str = "") -> str:
    return f"""\
spec:
  cluster:
    ipVersions: [4]
  ippools:
    - name: web-pool
      subnet: {subnet}
      ips: [{ips}]
      gateway: {gateway}
{f'      excludeIPs: [{exclude}]' if exclude else ''}
"""


@pytest.fixture
def in_use(cli, cluster, write_spec):
    """web-pool applied, 10.6.1.5 and 10.6.1.7 held by default/web-0."""
    assert cli("apply", write_spec(pool_spec("10.6.1.1-10.6.1.9")))[0] == 0
    allocate(api_client_for(cluster), "web-pool", ["10.6.1.5", "10.6.1.7"])
    return cluster.get(POOLS, "web-pool")


@pytest.mark.parametrize("change, named", [
    (dict(ips="10.6.1.1-10.6.1.4"), "10.6.1.5 (default/web-0), 10.6.1.7 (default/web-0)"),
    (dict(ips="10.6.1.1-10.6.1.6"), "10.6.1.7 (default/web-0)"),
    (dict(ips="10.6.1.1-10.6.1.9", exclude="10.6.1.5"), "10.6.1.5 (default/web-0)"),
], ids=["both out", "one out", "excluded"])
def test_shrinking_a_pool_under_its_allocations_is_refused_naming_ips_and_pods(cli, cluster, write_spec, in_use,
                                                                             change, named):
    spec = write_spec(pool_spec(**change))

    code, out, err = cli("plan", spec)
    assert code == 1
    assert "! SpiderIPPool web-pool REFUSED: would take" in out
    assert f"out of spec.ips - spec.excludeIPs: {named}; release them first" in out
    assert "1 change(s) refused: SpiderIPPool web-pool: would take" in err

    code, _, err = cli("apply", spec)
    assert code == 1 and "nothing was applied" in err and named in err
    assert cluster.get(POOLS, "web-pool")["spec"] == in_use["spec"]


def test_moving_a_pool_in_use_to_another_subnet_is_refused(cli, cluster, write_spec, in_use):
    spec = write_spec(pool_spec("10.7.1.1-10.7.1.9", subnet="10.7.0.0/16", gateway="10.7.0.1"))

    code, out, err = cli("plan", spec, "-o", "json")

    assert code == 1
    [change] = [c for c in json.loads(out)["changes"] if c["name"] == "web-pool"]
    assert change["action"] == "refused"
    assert change["reason"].startswith("spec.subnet 10.6.0.0/16 -> 10.7.0.0/16 while 2 IP(s) are allocated "
                                       "(10.6.1.5 (default/web-0), 10.6.1.7 (default/web-0))")
    assert cli("apply", spec)[0] == 1
    assert cluster.get(POOLS, "web-pool")["spec"]["subnet"] == "10.6.0.0/16"


def test_growing_a_pool_in_use_or_shrinking_it_around_its_allocations_goes_through(cli, cluster, write_spec, in_use):
    assert cli("apply", write_spec(pool_spec("10.6.1.1-10.6.1.20")))[0] == 0
    code, _, err = cli("apply", write_spec(pool_spec("10.6.1.5-10.6.1.7")))
    assert code == 0, err
    assert cluster.get(POOLS, "web-pool")["spec"]["ips"] == ["10.6.1.5-10.6.1.7"]


def test_adopting_a_pool_in_use_may_not_strand_its_ips_either(cli, cluster, write_spec):
    """A pool upstream (or kubectl) created, with allocations: --adopt takes it over, never its IPs away."""
    cluster.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                    "metadata": {"name": "web-pool", "finalizers": ["spiderpool.spidernet.io"]},
                    "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.1.1-10.6.1.9"], "gateway": "10.6.0.1"}},
                   manager="spiderpool-init")
    allocate(api_client_for(cluster), "web-pool", ["10.6.1.7"])

    code, _, err = cli("apply", write_spec(pool_spec("10.6.1.1-10.6.1.6")), "--adopt")

    assert code == 1
    assert ("SpiderIPPool web-pool: would take 1 allocated IP(s) out of spec.ips - spec.excludeIPs: 10.6.1.7 "
            "(default/web-0)") in err
    assert "(and it is not this spec's: created by upstream Spiderpool (finalizer spiderpool.spidernet.io" in err
    assert cluster.get(POOLS, "web-pool")["spec"]["ips"] == ["10.6.1.1-10.6.1.9"]
