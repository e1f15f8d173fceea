"""The one core both Kubernetes adapters stand on: connecting, retrying, and the API's errors.

Why it exists: the reconciler (server-side apply and dry runs over any kind,
`reconciler/kube.py`) and the agent (fixed paths, watches, guarded PUTs,
`agent/kube.py`) need different clients, but not different ideas of how to find
a cluster, what a 404 or a 409 is, or when a request is worth sending again.

- `errors`  the exception tree, drawn in its docstring; `transient`, `retryable`
- `retry`   `RetryPolicy` (the one set of defaults) and `retrying`
- `client`  the only module in the project that imports the `kubernetes` client
            (and its urllib3): connect, translate its exceptions, stream lines,
            build the discovery client
"""
