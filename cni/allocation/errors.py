"""Why an allocation was refused, as exceptions the CNI layer can turn into CNI errors.

Every message starts with upstream Spiderpool's error constant for its kind
(`pkg/constant/errors.go`); `cni_message` adds upstream's outer prefix
`spiderpool IP allocation error`, the one tools look for in pod events (§3.13):
the agent should put `cni_message` in the CNI error. The rest of the message
points: it names the pod, the interface, where the candidate pools came from and
why each one was refused.

    AllocationError                 base; .category, .cni_code
    ├── AnnotationError             "wrong input": an annotation could not be used
    ├── PoolNameError               "wrong input": a pool named for the NIC is unknown or named twice
    ├── DeadPodError                the pod is terminating or finished
    ├── NoPoolError                 "no IPPool available": every candidate filtered out
    │   ├── ExhaustedError          "all IP addresses used out": candidates fit, all full
    │   └── AutoPoolPendingError    the app's auto pool is not there (or not big enough) yet
    ├── UnavailableIPError          an IP the runtime asked for (`ips` capability) cannot be given
    └── StaleSnapshotError          a decision no longer fits the pool it is applied to

`cni_code` is a suggestion for the CNI error code (7 = invalid configuration,
11 = try again later); the protocol layer may map categories differently.
"""

from __future__ import annotations

CNI_PREFIX = "spiderpool IP allocation error"
WRONG_INPUT = "wrong input"
NO_POOL = "no IPPool available"
USED_OUT = "all IP addresses used out"
DEAD_POD = "dead pod"
STALE = "stale snapshot"


class AllocationError(Exception):
    category = "internal"
    cni_code = 999  # CNI "internal" (cni.pluginwire.INTERNAL); the pure engine imports no protocol

    @property
    def cni_message(self) -> str:
        """The text for the CNI error (and so the pod event): upstream's prefix, then the reason."""
        return f"{CNI_PREFIX}: {self}"


class AnnotationError(AllocationError):
    """An annotation (on the pod or its namespace) is malformed or cannot be honoured."""

    category = WRONG_INPUT
    cni_code = 7

    def __init__(self, owner: str, annotation: str, detail: str):
        self.owner, self.annotation, self.detail = owner, annotation, detail
        super().__init__(f"{WRONG_INPUT}: {owner}: annotation {annotation}: {detail}")


class PoolNameError(AllocationError):
    """Upstream's precheck: every pool a rule names for the NIC must exist, and be named once.

    Without it `["typo", "good"]` allocates from `good` and the typo stays hidden."""

    category = WRONG_INPUT
    cni_code = 7

    def __init__(self, who: str, problems: list[str]):
        self.problems = tuple(problems)
        super().__init__(f"{WRONG_INPUT}: {who}: " + "; ".join(problems))


class DeadPodError(AllocationError):
    category = DEAD_POD
    cni_code = 7

    def __init__(self, pod: str, why: str):
        super().__init__(f"dead Pod {pod}, we cannot allocate IP addresses to it ({why})")


class NoPoolError(AllocationError):
    """No candidate pool could serve one or more families; `failures` keeps them apart."""

    category = NO_POOL
    cni_code = 7

    def __init__(self, message: str, failures: tuple = ()):
        self.failures = failures
        super().__init__(message)


class ExhaustedError(NoPoolError):
    category = USED_OUT
    cni_code = 11


class AutoPoolPendingError(NoPoolError):
    """A pod with a subnet annotation: its application's auto pool was not ready within the wait."""

    cni_code = 11

    def __init__(self, detail: str):
        super().__init__(f"{NO_POOL}: {detail}")


class UnavailableIPError(AllocationError):
    """The runtime asked for a specific IP (`runtimeConfig.ips` / `args.cni.ips`) and it cannot be had."""

    category = WRONG_INPUT
    cni_code = 11


class StaleSnapshotError(AllocationError):
    """Raised by `render_status` when a change was decided on another version of the pool.

    The agent treats it like an HTTP 409: refresh the pool and decide again.
    """

    category = STALE
    cni_code = 11
