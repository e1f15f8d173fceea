"""Server-side printing helpers: JSONPath for printer columns and kubectl's AGE format."""

from __future__ import annotations

import pytest

from tests.kubeapi.tables import human_duration, jsonpath

OBJ = {"spec": {"podAffinity": {"matchLabels": {"ipam.spidernet.io/app-namespace": "team"}},
                "ips": ["a", "b"]},
       "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}}


@pytest.mark.parametrize("path, found", [
    (".spec.ips[0]", ["a"]),
    (".spec.ips[*]", ["a", "b"]),
    ("{.spec.ips[1]}", ["b"]),
    (r".spec.podAffinity.matchLabels['ipam\.spidernet\.io/app\-namespace']", ["team"]),
    ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
    (".spec.missing", []),
])
def test_printer_column_jsonpaths(path, found):
    assert jsonpath(OBJ, path) == found


@pytest.mark.parametrize("seconds, text", [
    (5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (10 * 3600, "10h"),
    (3 * 86400 + 3600, "3d1h"), (30 * 86400, "30d"), (800 * 86400, "2y70d"), (-5, "<invalid>"),
])
def test_ages_print_like_kubectl(seconds, text):
    assert human_duration(seconds) == text
