"""Whether the process ends when its command returns (the program, auditor._cli.run, which
ends it with os._exit), and what it keeps until then. Imports nothing: the program says so
before anything else, and a kept secrets report loads as little as it can."""

ENDING = False
"""True once the program said so (command_ends_process); never in the library or in tests."""

_KEPT: list[object] = []


def command_ends_process() -> None:
    """Said by the program before it runs its command: the process ends with os._exit when the
    command returns (auditor._gcpause.one_shot then leaves the collector off after it)."""
    global ENDING
    ENDING = True


def keep_until_exit(*values: object) -> None:
    """When the process ends with the command: keep `values` (a scan's result, its rules) to the
    end, which os._exit frees at once, rather than have them torn down object by object as the
    command returns (30 ms for the findings of 2,400 Kubernetes workloads). Otherwise (the
    library, tests) nothing is kept."""
    if ENDING:
        _KEPT.extend(values)
