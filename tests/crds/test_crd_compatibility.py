"""The CRDs we install, the objects we render, and upstream's CRDs agree.

Three promises are checked here:
- our CRD manifests are well-formed apiextensions.k8s.io/v1 (an API server would take them),
  and the Spider*/NAD ones keep upstream's names, scope, subresources and columns and refuse
  nothing upstream's schemas accept, so installing ours over Spiderpool breaks nothing;
- every object an example renders is accepted, unpruned, by our CRD and by upstream's;
- each of our own kinds takes a realistic object and refuses a wrong one.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

import schemas
from tests.conftest import spec_examples
from tests.crds.crd_schema import (evaluate_json_path, find_crd, load_crds, narrowings, parse_json_path,
                                   problems, to_json_schema, version_of)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
UPSTREAM_DIR = REPO / ".." / "shared" / "upstream" / "crds"
OUR_GROUPS = {"spiderpool.spidernet.io", "k8s.cni.cncf.io", "gitops.spidernet.io"}
SEED_EXAMPLES = {"calico-bgp-fixed-ip", "calico-overlay-macvlan", "cross-zone-pools"}

OURS = load_crds(schemas.SCHEMA_DIR / "crds")
SAMPLES = list(YAML(typ="safe", pure=True).load_all((Path(__file__).parent / "samples.yaml").read_text()))


def crd_id(crd: dict) -> str:
    return crd["metadata"]["name"]


def sample_of(kind: str) -> dict:
    return copy.deepcopy(next(s for s in SAMPLES if s["kind"] == kind))


@pytest.fixture(scope="module")
def upstream() -> list[dict]:
    if not UPSTREAM_DIR.is_dir():
        pytest.skip(f"{UPSTREAM_DIR} is absent (no ../shared beside the repo): upstream compatibility not checked")
    return load_crds(UPSTREAM_DIR)


def example_dirs() -> list[Path]:
    return spec_examples()


def render(example: Path) -> list[dict]:
    from reconciler.pipeline import render_path  # the real pipeline, as `spiderpool render` runs it
    objects = render_path(example)
    assert objects, f"{example.name} rendered nothing"
    return objects


def group_version_kind(obj: dict) -> tuple[str, str, str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    return group, version, obj["kind"]


def crd_for(crds: list[dict], obj: dict) -> dict | None:
    group, _, kind = group_version_kind(obj)
    return find_crd(crds, group, kind)


def describe(obj: dict) -> str:
    meta = obj.get("metadata", {})
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


# --- the manifests themselves ------------------------------------------------------------------

def test_crd_manifests_match_their_generator():
    spec = importlib.util.spec_from_file_location("generate_crds", schemas.SCHEMA_DIR / "crds" / "generate.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    yaml = YAML(typ="safe", pure=True)
    expected = {name: yaml.load(text) for name, text in generator.manifests().items()}
    on_disk = {path.name: yaml.load(path.read_text(encoding="utf-8")) for path in schemas.crd_paths()}
    assert on_disk == expected, "a CRD file was edited by hand: edit schemas/crds/generate.py and run it"


def test_every_project_kind_has_exactly_one_crd_file():
    kinds = sorted((c["spec"]["group"], c["spec"]["names"]["kind"]) for c in OURS)
    assert kinds == sorted({
        ("spiderpool.spidernet.io", "SpiderSubnet"), ("spiderpool.spidernet.io", "SpiderIPPool"),
        ("spiderpool.spidernet.io", "SpiderReservedIP"), ("spiderpool.spidernet.io", "SpiderEndpoint"),
        ("spiderpool.spidernet.io", "SpiderCoordinator"), ("k8s.cni.cncf.io", "NetworkAttachmentDefinition"),
        ("gitops.spidernet.io", "NetworkSync"), ("gitops.spidernet.io", "NodeReport")})
    assert len(schemas.crd_paths()) == len(OURS)


def structural_problems(node: dict, path: str) -> list[str]:
    """The API server's rules for a structural schema, for the constructs our CRDs use."""
    found = []
    open_node = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
    if "type" not in node and not open_node:
        found.append(f"{path}: no type")
    if "properties" in node and "additionalProperties" in node:
        found.append(f"{path}: properties and additionalProperties together")
    if node.get("type") == "array" and "items" not in node:
        found.append(f"{path}: array without items")
    if node.get("x-kubernetes-list-type") == "map":
        keys = node.get("x-kubernetes-list-map-keys", [])
        if not keys or not set(keys) <= set(node.get("items", {}).get("required", [])):
            found.append(f"{path}: a list-type map needs list-map-keys its items require")
    if "default" in node:
        errors = list(Draft202012Validator(to_json_schema(node)).iter_errors(node["default"]))
        found += [f"{path}: default {node['default']!r} is invalid: {e.message}" for e in errors]
    for name, sub in node.get("properties", {}).items():
        found += structural_problems(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += structural_problems(node[key], f"{path}[]" if key == "items" else f"{path}{{}}")
    return found


@pytest.mark.parametrize("crd", OURS, ids=crd_id)
def test_crd_manifest_is_well_formed(crd):
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["kind"] == "CustomResourceDefinition"
    spec, names = crd["spec"], crd["spec"]["names"]
    assert "." in spec["group"] and crd["metadata"]["name"] == f"{names['plural']}.{spec['group']}"
    assert names["plural"] == names["plural"].lower() and names["singular"] == names["singular"].lower()
    assert names["kind"][0].isupper() and names.get("listKind", names["kind"] + "List") == names["kind"] + "List"
    assert spec["scope"] in ("Cluster", "Namespaced")
    versions = spec["versions"]
    assert [v["storage"] for v in versions].count(True) == 1, "exactly one storage version"
    assert all(v["served"] for v in versions if v["storage"])
    for version in versions:
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["type"] == "object"
        assert schema["properties"]["metadata"] == {"type": "object"}, "metadata is the API server's to validate"
        assert structural_problems(schema, version["name"]) == []
        Draft202012Validator.check_schema(to_json_schema(schema))
        columns = version.get("additionalPrinterColumns", [])
        assert len({c["name"] for c in columns}) == len(columns), "column names are unique"
        for col in columns:
            assert col["type"] in ("integer", "number", "string", "boolean", "date"), col
            assert isinstance(col.get("priority", 0), int) and col.get("priority", 0) >= 0, col
            parse_json_path(col["jsonPath"])  # raises if kubectl could not read it
        assert set(version.get("subresources", {})) <= {"status", "scale"}


@pytest.mark.parametrize("crd", OURS, ids=crd_id)
def test_printer_columns_show_values_on_a_realistic_object(crd):
    sample = sample_of(crd["spec"]["names"]["kind"])
    python_types = {"integer": int, "boolean": bool, "number": (int, float), "string": object, "date": str}
    for col in version_of(crd, sample["apiVersion"].rpartition("/")[2]).get("additionalPrinterColumns", []):
        values = evaluate_json_path(col["jsonPath"], sample)
        assert values, f"column {col['name']} ({col['jsonPath']}) shows nothing"
        assert all(isinstance(v, python_types[col["type"]]) for v in values), (col, values)


# --- Spider* and NAD: the same as upstream, or wider -----------------------------------------

SHARED_WITH_UPSTREAM = [c for c in OURS if c["spec"]["group"] in ("spiderpool.spidernet.io", "k8s.cni.cncf.io")]


def upstream_twin(upstream: list[dict], crd: dict) -> dict:
    twin = find_crd(upstream, crd["spec"]["group"], crd["spec"]["names"]["kind"])
    assert twin is not None, f"upstream has no {crd['spec']['names']['kind']}"
    return twin


@pytest.mark.parametrize("crd", SHARED_WITH_UPSTREAM, ids=crd_id)
def test_crd_keeps_upstream_names_scope_and_columns(crd, upstream):
    theirs = upstream_twin(upstream, crd)
    assert crd["metadata"]["name"] == theirs["metadata"]["name"]
    for key in ("kind", "plural", "singular", "shortNames", "categories"):
        assert crd["spec"]["names"].get(key) == theirs["spec"]["names"].get(key), key
    list_kind = lambda names: names.get("listKind", names["kind"] + "List")  # noqa: E731  (the API server's default)
    assert list_kind(crd["spec"]["names"]) == list_kind(theirs["spec"]["names"])
    assert crd["spec"]["scope"] == theirs["spec"]["scope"]
    assert [v["name"] for v in crd["spec"]["versions"]] == [v["name"] for v in theirs["spec"]["versions"]]
    for ours_v in crd["spec"]["versions"]:
        theirs_v = version_of(theirs, ours_v["name"])
        assert ours_v["storage"] == theirs_v["storage"] and ours_v["served"] == theirs_v["served"]
        assert ours_v.get("subresources", {}) == theirs_v.get("subresources", {})
        columns = lambda v: [(c["name"], c["type"], c["jsonPath"], c.get("priority", 0))  # noqa: E731
                             for c in v.get("additionalPrinterColumns", [])]
        assert columns(ours_v) == columns(theirs_v)


@pytest.mark.parametrize("crd", SHARED_WITH_UPSTREAM, ids=crd_id)
def test_crd_accepts_everything_upstream_accepts(crd, upstream):
    theirs = upstream_twin(upstream, crd)
    found = []
    for ours_v in crd["spec"]["versions"]:
        theirs_schema = version_of(theirs, ours_v["name"])["schema"]["openAPIV3Schema"]
        found += list(narrowings(ours_v["schema"]["openAPIV3Schema"], theirs_schema))
    assert not found, "\n".join(found)


def test_narrowings_notices_a_schema_that_refuses_more():
    theirs = {"type": "object", "properties": {"mode": {"type": "string", "enum": ["a", "b"]},
                                               "n": {"type": "integer", "minimum": 0}}}
    ours = {"type": "object", "properties": {"mode": {"type": "string", "enum": ["a"]},
                                             "n": {"type": "integer", "minimum": 1}}, "required": ["n"]}
    assert len(list(narrowings(ours, theirs))) == 3
    assert list(narrowings(theirs, theirs)) == []


# --- our own kinds: realistic objects in, wrong ones out --------------------------------------

@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["kind"])
def test_crd_accepts_a_realistic_object(sample):
    assert problems(crd_for(OURS, sample), sample) == []


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s["apiVersion"].split("/")[0] in
                                    ("spiderpool.spidernet.io", "k8s.cni.cncf.io")], ids=lambda s: s["kind"])
def test_upstream_crd_accepts_the_same_realistic_object(sample, upstream):
    assert problems(crd_for(upstream, sample), sample) == []


def _walk(obj: dict, path: str) -> tuple[Any, str | int]:
    """The parent node and last key of a dotted path (`a.b[0].c`)."""
    steps = [int(s) if s.isdigit() else s for s in path.replace("[", ".").replace("]", "").split(".")]
    node: Any = obj
    for step in steps[:-1]:
        node = node[step]
    return node, steps[-1]


def put(path: str, value: Any) -> Callable[[dict], None]:
    def mutate(obj: dict) -> None:
        node, last = _walk(obj, path)
        node[last] = value
    return mutate


def drop(path: str) -> Callable[[dict], None]:
    def mutate(obj: dict) -> None:
        node, last = _walk(obj, path)
        del node[last]
    return mutate


WRONG = [
    ("SpiderIPPool", "allocatedIPs as a map, not a JSON string", put("status.allocatedIPs", {"10.6.168.65": {}})),
    ("SpiderIPPool", "ipVersion 5", put("spec.ipVersion", 5)),
    ("SpiderIPPool", "no subnet", drop("spec.subnet")),
    ("SpiderIPPool", "a negative count", put("status.totalIPCount", -1)),
    ("SpiderIPPool", "a label selector with an unknown key", put("spec.nodeAffinity.matchFields", [])),
    ("SpiderSubnet", "the removed vlan field", put("spec.vlan", 0)),
    ("SpiderSubnet", "controlledIPPools as a map", put("status.controlledIPPools", {"test-ippool-6": {}})),
    ("SpiderSubnet", "a route without gw", put("spec.routes", [{"dst": "10.7.0.0/16"}])),
    ("SpiderReservedIP", "a status (the kind has none)", put("status", {"allocatedIPCount": 0})),
    ("SpiderEndpoint", "vlan 5000", put("status.current.ips[0].vlan", 5000)),
    ("SpiderEndpoint", "no node", drop("status.current.node")),
    ("SpiderEndpoint", "a cluster-scoped endpoint", drop("metadata.namespace")),
    ("SpiderCoordinator", "mode bridge", put("spec.mode", "bridge")),
    ("SpiderCoordinator", "the removed detectGateway field", put("spec.detectGateway", True)),
    ("SpiderCoordinator", "a status without phase", drop("status.phase")),
    ("NetworkAttachmentDefinition", "config as a map", put("spec.config", {"cniVersion": "0.3.1"})),
    ("NetworkSync", "condition status Maybe", put("status.conditions[0].status", "Maybe")),
    ("NetworkSync", "a condition type outside kstatus", put("status.conditions[0].type", "Healthy")),
    ("NetworkSync", "a condition without lastTransitionTime", drop("status.conditions[0].lastTransitionTime")),
    ("NetworkSync", "six history entries", lambda o: o["status"]["history"].extend(o["status"]["history"] * 5)),
    ("NetworkSync", "an apply action nobody knows", put("status.lastApply.objects[0].action", "renamed")),
    ("NetworkSync", "revision HEAD", put("status.revision", "HEAD")),
    ("NetworkSync", "a timestamp that is not RFC 3339", put("status.lastApply.startedAt", "yesterday")),
    ("NetworkSync", "prune as a string", put("spec.prune", "yes")),
    ("NetworkSync", "an inventory entry without kind", drop("status.inventory[0].kind")),
    ("NetworkSync", "a namespaced NetworkSync", put("metadata.namespace", "default")),
    ("NetworkSync", "a history count below zero", put("status.history[0].counts.created", -2)),
    ("NodeReport", "an unknown finding type", put("status.findings[0].type", "CableUnplugged")),
    ("NodeReport", "severity Fatal", put("status.findings[0].severity", "Fatal")),
    ("NodeReport", "a finding without message", drop("status.findings[0].message")),
    ("NodeReport", "observedAt not a time", put("status.observedAt", "10:01")),
    ("NodeReport", "a spec (the kind has none)", put("spec", {"node": "worker-node-1"})),
    ("NodeReport", "a name that is not DNS-1123", put("metadata.name", "Worker_Node_1")),
]


@pytest.mark.parametrize("kind, why, mutate", WRONG, ids=[f"{k}: {why}" for k, why, _ in WRONG])
def test_crd_refuses_a_wrong_object(kind, why, mutate):
    obj = sample_of(kind)
    mutate(obj)
    assert problems(crd_for(OURS, obj), obj), f"a {kind} with {why} was accepted"


# --- what the examples render ------------------------------------------------------------------

def test_every_seed_story_has_an_example():
    assert SEED_EXAMPLES <= {p.name for p in example_dirs()}
    for example in example_dirs():
        assert (example / "README.md").is_file(), f"{example.name} has no README.md"


def unaccepted(crds: list[dict], obj: dict, *, who: str) -> list[str]:
    group, version, kind = group_version_kind(obj)
    crd = crd_for(crds, obj)
    if crd is None:
        return [f"{describe(obj)}: {who} has no CRD for {kind}.{group}"]
    if version_of(crd, version) is None:
        return [f"{describe(obj)}: {who} CRD {crd_id(crd)} does not serve {version}"]
    return [f"{describe(obj)}: {who}: {p}" for p in problems(crd, obj)]


@pytest.mark.parametrize("example", example_dirs(), ids=lambda p: p.name)
def test_example_renders_objects_our_crds_accept(example):
    found = []
    for obj in render(example):
        group = group_version_kind(obj)[0]
        if group in OUR_GROUPS:
            found += unaccepted(OURS, obj, who="ours")
        else:
            assert group.endswith("projectcalico.org"), f"{describe(obj)}: a kind nobody here defines"
    assert not found, "\n".join(found)


@pytest.mark.parametrize("example", example_dirs(), ids=lambda p: p.name)
def test_example_renders_objects_upstream_crds_accept(example, upstream):
    found = []
    for obj in render(example):
        if group_version_kind(obj)[0] != "gitops.spidernet.io":  # our own group has no upstream
            found += unaccepted(upstream, obj, who="upstream")
    assert not found, "\n".join(found)


def cni_sections(config: dict) -> list[tuple[str, dict]]:
    """The spiderpool IPAM sections and coordinator entries of one CNI config (list or single)."""
    found = []
    for plugin in config.get("plugins", [config]):
        if plugin.get("type") == "coordinator":
            found.append(("cni-coordinator.schema.json", plugin))
        ipam = plugin.get("ipam")
        if isinstance(ipam, dict) and ipam.get("type") == "spiderpool":
            found.append(("cni-ipam-spiderpool.schema.json", ipam))
    return found


def test_every_example_with_a_network_checks_both_cni_sections():
    checked = set()
    for example in example_dirs():
        for obj in render(example):
            if obj["kind"] == "NetworkAttachmentDefinition":
                checked |= {name for name, _ in cni_sections(json.loads(obj["spec"]["config"]))}
    assert checked == {"cni-coordinator.schema.json", "cni-ipam-spiderpool.schema.json"}


@pytest.mark.parametrize("example", example_dirs(), ids=lambda p: p.name)
def test_example_nads_carry_valid_cni_sections(example):
    found = []
    for obj in render(example):
        if obj["kind"] != "NetworkAttachmentDefinition":
            continue
        config = json.loads(obj["spec"]["config"])
        if not ("cniVersion" in config and ("plugins" in config or "type" in config)):
            found.append(f"{describe(obj)}: config has no cniVersion or no plugins/type")
        for schema_name, section in cni_sections(config):
            validator = Draft202012Validator(schemas.load_json(schema_name))
            found += [f"{describe(obj)}: {schema_name}: {e.message}" for e in validator.iter_errors(section)]
    assert not found, "\n".join(found)
