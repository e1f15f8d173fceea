# The spiderpool-gitops image: the `spiderpool` CLI (controller, agent, install-cni) and git.
# The chart (charts/spiderpool-gitops) runs `spiderpool controller`, `spiderpool agent` and
# `spiderpool install-cni` from it. Build:  docker build -t spiderpool-gitops:0.1.0 .
# The install step is image/install.sh, which the tests run outside a container.

FROM python:3.12-slim AS wheel
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir -q build && python -m build --wheel --outdir /dist

FROM python:3.12-slim
# git (and ssh) for the controller's git source; iptables for the agent (the coordinator's
# "reply via veth0" marks, written inside the pod's namespace); nothing else beyond Python
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates iptables \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin spiderpool
# ssh exits "No user exists for uid 65532" without that passwd entry: no git over ssh:// otherwise
COPY image/install.sh /usr/local/bin/spiderpool-install
COPY --from=wheel /dist/ /tmp/dist/
RUN spiderpool-install /opt/spiderpool-gitops /tmp/dist/*.whl && rm -rf /tmp/dist
ENV PATH=/opt/spiderpool-gitops/bin:$PATH
# the controller runs as this user (the chart's securityContext); the agent's pod runs as root
USER 65532:65532
ENTRYPOINT ["spiderpool"]
