"""A Kubernetes API server for tests: real HTTP(S), the official client's paths and verbs.

No kube-apiserver can be installed on these machines, so the project carries this one. The
product and the tests talk to it only through the official `kubernetes` client and the real
`kubectl`, exactly as to a cluster: discovery, CRUD with resourceVersion conflicts, label
and field selectors, watches with bookmarks and 410s, status subresources, generation,
finalizers, server-side apply with field managers, dry runs, CRDs that register resources
and validate custom objects against their schema, and `Table` output for `kubectl get`.

Layers (each module says why it exists):

    server      KubeAPIServer: lifecycle, kubeconfig, test helpers
    handlers    HTTP/1.1 + TLS transport, chunked watch streams
    api         REST layer: request -> store/writes, content negotiation, stats, faults
    writes      create/update/patch/apply pipelines      deletion  finalizers, GC, cascades
    strategy    per-type write rules                      managers  field managers, SSA
    schema      CRD structural schema (prune/default/validate)
    crds        CRD -> served resource types              registry  served resource types
    store       objects, resourceVersion, event log       watch     event history, streams
    selectors   label/field selectors                     patch     merge/JSON/strategic patch
    fieldpaths  SSA field sets and fieldsV1               tables    kubectl Table output
    discovery   /api, /apis, /openapi/v3                  tls       CA, certs, kubeconfig
    faults      deterministic fault injection             stats     request counters
    protobuf    protobuf request bodies (helm, kubectl 1.33 generators)
    requestinfo URL -> group/version/namespace/resource/name/verb
    fixtures    pytest fixtures (`kubeapi`, `kubeapi_tls`, `kube_client`)

Run standalone: `python -m tests.kubeapi --port 0 --kubeconfig /tmp/kc [--tls] [--token T]`.
What is faithful and what is simplified: README.md next to this file.
"""

from .faults import Faults
from .server import KubeAPIServer
from .stats import Stats

__all__ = ["KubeAPIServer", "Faults", "Stats"]
