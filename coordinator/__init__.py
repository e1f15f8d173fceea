"""The coordinator: routes, rules and neighbours for pods with several NICs (upstream's meta-plugin).

`plugin.py` is the standalone executable the runtime runs (stdlib only; forwards to the
agent), `service.py` the agent's `/v1/coordinator`, `config.py` the precedence of settings,
`plan.py` the pure planning of kernel changes, `apply.py` the only netlink (pyroute2) code.
"""
