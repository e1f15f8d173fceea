"""The long-running Kubernetes-side processes: the node agent (a DaemonSet) and the IPAM controllers.

Both plugins forward every CNI call to the agent over a unix socket; for the
`spiderpool` IPAM plugin it decides with the pure engine (`cni.allocation`) on a
watched cache and commits with guarded status updates, for the `coordinator` it
runs `coordinator.service` with what that needs from the cluster. Where things are:

- `main`      the agent assembled (`Agent`, `run_agent`)
- `server`    HTTP/1.1 on the unix socket: /v1/cni, /v1/coordinator, /healthz, /readyz, /metrics
- `service`   each CNI command (ADD, DEL, CHECK, GC, STATUS) as a recipe, errors as CNI codes
- `coordinator` SpiderCoordinator `default` for the coordinator, read at most every 5 s
- `cache`     LIST+WATCH informers and the snapshot the engine decides over
- `commit`    WHERE AN IP IS COMMITTED: per-pool serialisation and group commit
- `endpoint`  the SpiderEndpoint writes and the CNI attachments they remember
- `nodereport` the node's NodeReport (findings: masters, zones, exhausted pools, the coordinator's)
- `ipgc`      the level-triggered IP garbage collector (`spiderpool controller`)
- `coordinatorstatus` cluster CIDR discovery into SpiderCoordinator status (`spiderpool controller`)
- `metrics`, `logs`, `client`: Prometheus text, JSON log lines, a socket client

The Kubernetes API is reached only through `agent.kube` (on `kubeclient`).
"""
