"""The node agent (a DaemonSet in a cluster) and the IP garbage collector.

The `spiderpool` IPAM plugin forwards every CNI call here over a unix socket;
the agent decides with the pure engine (`cni.allocation`) on a watched cache
and commits with guarded status updates. Where things are:

- `main`      the agent assembled (`Agent`, `run_agent`)
- `server`    HTTP/1.1 on the unix socket: /v1/cni, /healthz, /readyz, /metrics
- `service`   each CNI command (ADD, DEL, CHECK, GC, STATUS) as a recipe, errors as CNI codes
- `cache`     LIST+WATCH informers and the snapshot the engine decides over
- `commit`    WHERE AN IP IS COMMITTED: per-pool serialisation and group commit
- `endpoint`  the SpiderEndpoint writes and the CNI attachments they remember
- `ipgc`      the level-triggered IP garbage collector (`spiderpool controller`)
- `ipamview`  `spiderpool ipam pools|subnets|endpoints|check` as tables
- `metrics`, `logs`, `client`: Prometheus text, JSON log lines, a socket client

The Kubernetes client is used only through `agent.kube`.
"""
