"""`auditor schedule export`: the inventory's schedules as systemd units, a NixOS module or
Kubernetes CronJobs, so the host's own scheduler can run the scans instead of `auditor serve`.

Each schedule becomes one scan command (`auditor scan --target NAME` or `--tag TAG`). The
systemd and NixOS forms share one set of service settings: a oneshot service under a dynamic
user that may read every file (CAP_DAC_READ_SEARCH) but write only its state folder, where
the history lives. The CronJobs follow the Pod Security Standards "restricted" profile.
Files are written atomically, and an existing file that differs is never overwritten unless
asked (`force`); the result says which files were written, unchanged or overwritten.
"""

from __future__ import annotations

import abc
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor._fsutil import atomic_write, read_user_bytes
from auditor._schedule import Schedule
from auditor.errors import ConfigError, WouldOverwrite
from pki.registry import Registry

_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_@+=:,./-]+$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
POD_INVENTORY = "/etc/auditor/auditor.yaml"
POD_USER = 10001


@dataclass(frozen=True)
class ExportOptions:
    executable: str = "/usr/bin/auditor"
    """The auditor command on the host (systemd, NixOS)."""
    inventory: str | None = None
    """The inventory's absolute path; None for the embedded demo (no --inventory)."""
    timeout: float = 600.0
    """Seconds one target's scan may take."""
    retries: int = 2
    jitter: float = 300.0
    """Largest random delay of a timer (RandomizedDelaySec)."""
    image: str = ""
    """Container image (Kubernetes); pin it by digest: name@sha256:..."""
    namespace: str = "auditor"
    configmap: str = "auditor-inventory"
    """ConfigMap holding auditor.yaml, mounted at /etc/auditor."""
    history_secret: str = "auditor-history"  # noqa: S105 - a Secret's name, not a secret
    """Secret whose key `url` is the PostgreSQL URL of the shared history."""
    nats: str | None = None
    """The fleet's NATS URL for the agent and worker units (no user-info: that is a secret)."""
    nats_files: tuple[tuple[str, str], ...] = ()
    """(option, path on the host) for --nats-creds, --nats-cert, --nats-key, --nats-ca."""
    worker_concurrency: int = 2


@dataclass(frozen=True)
class ExportFile:
    name: str
    content: str


@dataclass(frozen=True)
class Written:
    path: Path
    action: str
    """written, unchanged or overwritten."""


def scan_command(schedule: Schedule, opts: ExportOptions, *, inventory: str | None) -> list[str]:
    args = ["scan", *schedule.scan_args()]
    args += ["--inventory", inventory] if inventory else ["--demo"]
    if schedule.kind == "tag":
        args += ["--timeout", f"{int(opts.timeout)}s"]
    return args


def _deadline(schedule: Schedule, opts: ExportOptions) -> int:
    """Seconds one run of `schedule` may take: its targets, four at a time, plus a margin."""
    return int(opts.timeout * math.ceil(len(schedule.targets) / 4) + 60)


# -- systemd and NixOS ------------------------------------------------------------------------


def _systemd_quote(token: str) -> str:
    """A token for ExecStart=: specifiers (%) and variables ($) escaped, quoted when needed."""
    token = token.replace("%", "%%").replace("$", "$$")
    if _SAFE_TOKEN.match(token):
        return token
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


def service_settings(schedule: Schedule, opts: ExportOptions) -> dict[str, str | list[str]]:
    """The [Service] settings of one schedule's unit, shared by the systemd and NixOS forms."""
    command = [opts.executable, *scan_command(schedule, opts, inventory=opts.inventory)]
    return {
        "Type": "oneshot",
        "ExecStart": " ".join(_systemd_quote(t) for t in command),
        "SuccessExitStatus": "1",
        "TimeoutStartSec": f"{_deadline(schedule, opts)}s",
        "Environment": [
            "AUDITOR_DB=%S/auditor/history.sqlite",
            "AUDITOR_CACHE_DIR=%C/auditor",
            "AUDITOR_NO_PROGRESS=1",
        ],
        "EnvironmentFile": "-/etc/auditor/auditor.env",
        **sandbox(read_everything=True),
        "Nice": "10",
        "IOSchedulingClass": "idle",
    }


def sandbox(*, read_everything: bool) -> dict[str, str | list[str]]:
    """The hardening every auditor unit shares: a dynamic user writing only its state and cache
    folders; `read_everything` (scans, agents) adds CAP_DAC_READ_SEARCH to read what it audits."""
    capability = "CAP_DAC_READ_SEARCH" if read_everything else ""
    return {
        "DynamicUser": "yes",
        "StateDirectory": "auditor",
        "StateDirectoryMode": "0700",
        "CacheDirectory": "auditor",
        "UMask": "0077",
        "AmbientCapabilities": capability,
        "CapabilityBoundingSet": capability,
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "LockPersonality": "yes",
        "SystemCallFilter": "@system-service",
    }


def timer_settings(schedule: Schedule, opts: ExportOptions) -> dict[str, str]:
    return {
        "OnCalendar": schedule.cron.on_calendar(),
        "RandomizedDelaySec": f"{int(opts.jitter)}s",
        "AccuracySec": "1s",
        "Persistent": "true",
    }


def _describe(schedule: Schedule) -> str:
    return f"auditor compliance scan of {schedule.kind} {schedule.selector}"


def _ini(settings: dict[str, str | list[str]] | dict[str, str]) -> list[str]:
    lines = []
    for key, value in settings.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}={item}")
    return lines


def systemd_units(schedules: Sequence[Schedule], opts: ExportOptions) -> list[ExportFile]:
    files = []
    for s in schedules:
        unit = f"auditor-{s.name}"
        head = f"# Written by `auditor schedule export --systemd` for schedule {s.name} ({s.cron.text}, UTC)."
        service = [
            head,
            "# Exit 1 (failures found) is a result, not a failure of the unit; see docs/exit-codes.md.",
            "[Unit]",
            f"Description={_describe(s)}",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            *_ini(service_settings(s, opts)),
        ]
        timer = [
            head,
            "[Unit]",
            f"Description=schedule of the {_describe(s)}",
            "",
            "[Timer]",
            *_ini(timer_settings(s, opts)),
            f"Unit={unit}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
        ]
        files.append(ExportFile(f"{unit}.service", "\n".join(service) + "\n"))
        files.append(ExportFile(f"{unit}.timer", "\n".join(timer) + "\n"))
    return files


def _nix_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def _nix_value(value: str | list[str]) -> str:
    if isinstance(value, list):
        return "[ " + " ".join(_nix_string(v) for v in value) + " ]"
    if value in ("true", "false"):
        return value
    return _nix_string(value)


def nixos_module(schedules: Sequence[Schedule], opts: ExportOptions) -> list[ExportFile]:
    lines = [
        "# Written by `auditor schedule export --nixos`: auditor's scheduled compliance scans.",
        "# Import it from configuration.nix: imports = [ ./auditor-schedules.nix ];",
        "{ config, lib, pkgs, ... }:",
        "{",
    ]
    for s in schedules:
        unit = f"auditor-{s.name}"
        lines += [
            f"  # {s.name}: {s.cron.text} (UTC)",
            f"  systemd.services.{_nix_string(unit)} = {{",
            f"    description = {_nix_string(_describe(s))};",
            '    wants = [ "network-online.target" ];',
            '    after = [ "network-online.target" ];',
            "    serviceConfig = {",
            *(f"      {k} = {_nix_value(v)};" for k, v in service_settings(s, opts).items()),
            "    };",
            "  };",
            f"  systemd.timers.{_nix_string(unit)} = {{",
            f"    description = {_nix_string('schedule of the ' + _describe(s))};",
            '    wantedBy = [ "timers.target" ];',
            "    timerConfig = {",
            *(f"      {k} = {_nix_value(v)};" for k, v in timer_settings(s, opts).items()),
            "    };",
            "  };",
        ]
    lines.append("}")
    return [ExportFile("auditor-schedules.nix", "\n".join(lines) + "\n")]


# -- NixOS security.acme (the fleet CA's ACME server) ---------------------------------------

_DNS = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_UNIT = re.compile(r"^[A-Za-z0-9@._-]{1,128}$")
_LISTEN_HTTP = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):[0-9]{1,5}$")


@dataclass(frozen=True)
class AcmeNode:
    """One node renewing its certificate from `auditor pki acme serve` with NixOS security.acme."""

    server: str
    """The ACME directory URL."""
    domains: tuple[str, ...]
    email: str
    environment_file: str = "/run/secrets/auditor-acme.env"
    ca_file: str = "/etc/nats/certs/ca.pem"
    listen_http: str = ":80"
    valid_min_days: int = 20
    reload: str = "nats"


def acme_nixos_module(node: AcmeNode) -> ExportFile:
    """A NixOS module: security.acme against the fleet CA, NATS reloaded after each renewal and
    using the renewed certificate."""
    if not re.match(r"^https?://[^\s/@]+/\S*$", node.server):
        raise ConfigError("--server: the ACME directory URL, e.g. https://ca.example.com:8443/acme/directory")
    domains = [d.lower().rstrip(".") for d in node.domains]
    for d in domains:
        if not _DNS.match(d):
            raise ConfigError(f"--domain '{d[:80]}' is not a DNS name")
    if not re.match(r"^[^@\s\"]{1,64}@[A-Za-z0-9.-]{1,253}$", node.email):
        raise ConfigError("--email: an e-mail address is required by NixOS security.acme and lego")
    if not _UNIT.match(node.reload):
        raise ConfigError("--reload: a systemd service name")
    if not _LISTEN_HTTP.match(node.listen_http):
        raise ConfigError("--listen-http: [ADDRESS]:PORT, e.g. :80")
    if not 1 <= node.valid_min_days <= 365:
        raise ConfigError("--valid-min-days: from 1 to 365")
    for option, path in (("--environment-file", node.environment_file), ("--ca-file", node.ca_file)):
        if not path.startswith("/") or any(c in path for c in "\n\r\"$"):
            raise ConfigError(f"{option}: an absolute path")
    name = domains[0]
    state = f"/var/lib/acme/{name}"
    port = node.listen_http.rsplit(":", 1)[1]
    lines = [
        f"# Written by `auditor pki acme nixos`: {name} renews its certificate from the fleet CA's ACME server",
        "# (`auditor pki acme serve`), and NATS is reloaded after each renewal. Import it from",
        "# configuration.nix: imports = [ ./auditor-acme.nix ];",
        f"# {node.environment_file} (e.g. from sops-nix, mode 0400, never in the Nix store) holds:",
        "#   LEGO_EAB=true",
        "#   LEGO_EAB_KID=<kid of `auditor pki acme eab --name NODE`>",
        "#   LEGO_EAB_HMAC=<its hmac: a secret>",
        "#   LEGO_CA_CERTIFICATES=<the CA's root certificate, to trust the ACME server's HTTPS>",
        "{ config, lib, pkgs, ... }:",
        "{",
        "  security.acme = {",
        "    acceptTerms = true;",
        "    defaults = {",
        f"      server = {_nix_string(node.server)};",
        f"      email = {_nix_string(node.email)};",
        '      keyType = "ec256";',
        f"      # renew when fewer than {node.valid_min_days} days are left (checked daily)",
        f"      validMinDays = {node.valid_min_days};",
        '      renewInterval = "daily";',
        f"      environmentFile = {_nix_string(node.environment_file)};",
        "    };",
        f"    certs.{_nix_string(name)} = {{",
    ]
    if len(domains) > 1:
        lines.append("      extraDomainNames = [ " + " ".join(_nix_string(d) for d in domains[1:]) + " ];")
    lines += [
        "      # lego answers http-01 itself while it renews",
        f"      listenHTTP = {_nix_string(node.listen_http)};",
        '      group = "nats";',
        f"      reloadServices = [ {_nix_string(node.reload)} ];",
        "    };",
        "  };",
        "  # the ACME server validates http-01 by connecting to this port",
        f"  networking.firewall.allowedTCPPorts = [ {int(port)} ];",
        "  services.nats.settings.tls = {",
        f"    cert_file = {_nix_string(state + '/fullchain.pem')};",
        f"    key_file = {_nix_string(state + '/key.pem')};",
        f"    ca_file = {_nix_string(node.ca_file)};",
        "    verify = true;",
        "  };",
        "}",
    ]
    return ExportFile("auditor-acme.nix", "\n".join(lines) + "\n")


# -- Kubernetes -------------------------------------------------------------------------------


def k8s_name(schedule: Schedule) -> str:
    """A CronJob name: a DNS label of at most 52 characters (Kubernetes appends to it)."""
    name = re.sub(r"[^a-z0-9-]", "-", f"auditor-{schedule.name}".lower()).strip("-")
    if len(name) > 52:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:43].rstrip('-')}-{digest}"
    return name


def cronjob(schedule: Schedule, opts: ExportOptions) -> dict[str, Any]:
    if not opts.image:
        raise ConfigError("a Kubernetes CronJob needs the auditor image (NAME@sha256:DIGEST)")
    labels = {
        "app.kubernetes.io/name": "auditor",
        "app.kubernetes.io/component": "scheduled-scan",
        "auditor/schedule": k8s_name(schedule).removeprefix("auditor-"),
    }
    restricted = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": POD_USER,
        "runAsGroup": POD_USER,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "name": "auditor",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["auditor"],
        "args": scan_command(schedule, opts, inventory=POD_INVENTORY),
        "env": [
            {"name": "AUDITOR_DB", "valueFrom": {"secretKeyRef": {"name": opts.history_secret, "key": "url"}}},
            {"name": "AUDITOR_CACHE_DIR", "value": "/tmp/auditor-cache"},  # noqa: S108 - an emptyDir
            {"name": "AUDITOR_NO_PROGRESS", "value": "1"},
            {"name": "HOME", "value": "/tmp"},  # noqa: S108
        ],
        "securityContext": restricted,
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "64Mi"},
            "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"},
        },
        "volumeMounts": [
            {"name": "inventory", "mountPath": "/etc/auditor", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
        ],
    }
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": POD_USER,
            "runAsGroup": POD_USER,
            "fsGroup": POD_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "inventory", "configMap": {"name": opts.configmap}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": k8s_name(schedule), "namespace": opts.namespace, "labels": labels},
        "spec": {
            "schedule": schedule.cron.kubernetes(),
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": opts.retries,
                    "activeDeadlineSeconds": _deadline(schedule, opts) * (opts.retries + 1),
                    "podFailurePolicy": {
                        "rules": [
                            # 1 failures found, 2 bad configuration, 70 a bug: retrying will not help
                            {"action": "FailJob", "onExitCodes": {"containerName": "auditor", "operator": "In", "values": [1, 2, 70]}},
                            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                        ]
                    },
                    "template": {"metadata": {"labels": labels}, "spec": pod},
                },
            },
        },
    }


def image_pinned(image: str) -> bool:
    return bool(_DIGEST.search(image))


def kubernetes_cronjobs(schedules: Sequence[Schedule], opts: ExportOptions) -> list[ExportFile]:
    files = []
    for s in schedules:
        head = (
            f"# Written by `auditor schedule export --kubernetes` for schedule {s.name} ({s.cron.text}, UTC).\n"
            f"# Needs: ConfigMap {opts.configmap} (auditor.yaml), Secret {opts.history_secret} (key url: the\n"
            "# PostgreSQL history). Pod Security Standards: restricted.\n"
        )
        body = yaml.safe_dump(cronjob(s, opts), sort_keys=False, default_flow_style=False)
        files.append(ExportFile(f"{k8s_name(s)}.cronjob.yaml", head + body))
    return files


class Exporter(abc.ABC):
    """One form of `schedule export`: the schedules' files and, where the form has them, the
    fleet's long-running agent and worker (auditor._schedule.fleetunits)."""

    def __init__(self, opts: ExportOptions) -> None:
        self.opts = opts

    @abc.abstractmethod
    def schedule_files(self, schedules: Sequence[Schedule]) -> list[ExportFile]:
        """The files that run `schedules` (at least one)."""

    def fleet_files(self) -> list[ExportFile] | None:
        """The agent's and the worker's files; None when this form has none."""
        return None


class SystemdExport(Exporter):
    def schedule_files(self, schedules: Sequence[Schedule]) -> list[ExportFile]:
        return systemd_units(schedules, self.opts)

    def fleet_files(self) -> list[ExportFile]:
        from auditor._schedule import fleetunits

        return fleetunits.systemd_units(self.opts)


class NixosExport(Exporter):
    def schedule_files(self, schedules: Sequence[Schedule]) -> list[ExportFile]:
        return nixos_module(schedules, self.opts)

    def fleet_files(self) -> list[ExportFile]:
        from auditor._schedule import fleetunits

        return fleetunits.nixos_module(self.opts)


class KubernetesExport(Exporter):
    def schedule_files(self, schedules: Sequence[Schedule]) -> list[ExportFile]:
        return kubernetes_cronjobs(schedules, self.opts)


EXPORTS: Registry[Exporter] = Registry("export form", "auditor._schedule.export:Exporter", {
    "systemd": "auditor._schedule.export:SystemdExport",
    "nixos": "auditor._schedule.export:NixosExport",
    "kubernetes": "auditor._schedule.export:KubernetesExport",
}, error=lambda unknown: ConfigError(str(unknown)))


class NoSchedules(ConfigError):
    """The inventory has no schedules, and the fleet's units alone were not asked for (exit 2)."""


def export(kind: str, schedules: Sequence[Schedule], opts: ExportOptions, *, fleet: bool = False) -> list[ExportFile]:
    """The files of `kind`: the schedules' and, for systemd and NixOS, the fleet's agent and
    worker. With `fleet` the agent and worker are what was asked for: written even when there
    are no schedules (and refused for a form that has none)."""
    exporter = EXPORTS.load(kind)(opts)
    fleet_files = exporter.fleet_files()
    if fleet and fleet_files is None:
        raise ConfigError(f"a {kind} export has no agent or worker units (systemd and NixOS have)")
    if not schedules and not fleet:
        raise NoSchedules("the inventory has no schedules: give a target a `schedule` or add a `schedules` list")
    return (exporter.schedule_files(schedules) if schedules else []) + (fleet_files or [])


def write_files(files: Sequence[ExportFile], folder: Path, *, force: bool = False) -> list[Written]:
    """Write every file into `folder` atomically. Refuses (before writing anything) when a file
    exists with other content, unless `force`."""
    plan: list[tuple[Path, bytes, str]] = []
    for f in files:
        path = folder / f.name
        data = f.content.encode()
        if path.is_dir():
            raise ConfigError("is a folder", file=path)
        if not path.exists():
            action = "written"
        elif read_user_bytes(path, what="file to replace") == data:  # a FIFO or device: refused, never read
            action = "unchanged"
        elif force:
            action = "overwritten"
        else:
            raise WouldOverwrite("exists with other content; not overwritten", file=path)
        plan.append((path, data, action))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder: {exc.strerror or exc}", file=folder) from None
    for path, data, action in plan:
        if action != "unchanged":
            atomic_write(path, data)
    return [Written(path, action) for path, _, action in plan]
