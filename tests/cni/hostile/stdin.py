"""The hostile CNI stdin corpus: what a runtime may hand either plugin -> its exact answer.

Each entry: (name, CNI_COMMAND or None, environment changes, stdin bytes, exit code, answer).
The answer is stdout as JSON: the CNI error (cniVersion, code, one-line msg) or VERSION's list.
Both executables share the front end (cni/pluginwire.py), so both must answer each one alike.
Before issue 8 (item 11): the oversized config got code 11 "Broken pipe" (retried for ever),
the 200k-deep VERSION got code 999, and the deep configs got a RecursionError's text.
"""

import json

from cni.pluginwire import MAX_CONFIG, SUPPORTED_VERSIONS

DEEP = b"[" * 200_000 + b"]" * 200_000
VERSIONS = {"supportedVersions": list(SUPPORTED_VERSIONS)}


def conf(version: str = "0.4.0", **extra) -> bytes:
    return json.dumps({"cniVersion": version, "name": "macvlan-ens192", "type": "macvlan",
                       "ipam": {"type": "spiderpool"}, **extra}).encode()


def error(version: str, code: int, msg: str, details: str = "") -> dict:
    return {"cniVersion": version, "code": code, "msg": msg, "details": details}


OVERSIZED = conf("0.4.0", padding="x" * (MAX_CONFIG + 1))
NESTED_70 = conf("0.4.0", args=json.loads("[" * 70 + "]" * 70))

CORPUS = [
    ("VERSION with 200k-deep stdin", "VERSION", {}, DEEP, 0, {"cniVersion": "1.1.0", **VERSIONS}),
    ("VERSION with an oversized config", "VERSION", {}, OVERSIZED, 0, {"cniVersion": "1.1.0", **VERSIONS}),
    ("VERSION asked in 0.3.1", "VERSION", {}, conf("0.3.1"), 0, {"cniVersion": "0.3.1", **VERSIONS}),
    ("ADD with an oversized config", "ADD", {}, OVERSIZED, 1, error(
        "1.1.0", 7, f"the network configuration on stdin is more than the {MAX_CONFIG} bytes the plugin accepts")),
    ("ADD with 200k-deep stdin", "ADD", {}, DEEP, 1, error(
        "1.1.0", 6, "the network configuration on stdin nests deeper than 64 levels")),
    ("ADD with a 70-deep config", "ADD", {}, NESTED_70, 1, error(
        "0.4.0", 6, "the network configuration on stdin nests deeper than 64 levels")),
    ("ADD with stdin not UTF-8", "ADD", {}, b"\xff{}", 1, error(
        "1.1.0", 6, "the network configuration on stdin is not UTF-8: 'utf-8' codec can't decode byte 0xff in "
                    "position 0: invalid start byte")),
    ("ADD without CNI_CONTAINERID", "ADD", {"CNI_CONTAINERID": None}, conf("0.3.1"), 1, error(
        "0.3.1", 4, "ADD needs CNI_CONTAINERID, which is not set")),
    ("ADD with a path as container ID", "ADD", {"CNI_CONTAINERID": "../../x"}, conf("0.4.0"), 1, error(
        "0.4.0", 4, "CNI_CONTAINERID '../../x' has invalid characters",
        "it must start with a letter or digit and contain only letters, digits, '_', '.', '-'")),
    ("no CNI_COMMAND", None, {}, conf("1.0.0"), 1, error(
        "1.0.0", 4, "CNI_COMMAND is not set", "expected one of VERSION, ADD, DEL, CHECK, GC, STATUS")),
    ("ADD in an unknown version", "ADD", {}, conf("9.9.9"), 1, error(
        "1.1.0", 1, "incompatible CNI versions: the configuration asks for 9.9.9",
        "this plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0")),
]
