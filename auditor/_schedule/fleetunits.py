"""The fleet's long-running services for `auditor schedule export`: the node agent and the worker.

systemd: `auditor-agent@.service` (instance = the target: `systemctl enable --now
auditor-agent@cim-prod-001`) and `auditor-worker.service`, sandboxed as the scan units are
(the worker without CAP_DAC_READ_SEARCH: it reads only its inventory, rules and keys). NATS
settings are environment variables the commands read (AUDITOR_NATS, AUDITOR_NATS_CREDS,
AUDITOR_NATS_CERT, AUDITOR_NATS_KEY, AUDITOR_NATS_CA): given to the export they are written
into the unit, key files passed with LoadCredential= (so the dynamic user can read a root-only
key); /etc/auditor/fleet.env may set or override them. A URL with a password is refused: it
would be readable by anyone in the unit file.

NixOS: `auditor-fleet.nix`, a module with options `services.auditor.agent`,
`services.auditor.worker` and `services.auditor.nats`, defaulting to what the export was given.
"""

from __future__ import annotations

from auditor._schedule.export import (
    ExportFile,
    ExportOptions,
    _ini,
    _nix_string,
    _nix_value,
    _systemd_quote,
    sandbox,
)
from auditor._urls import split_url
from auditor.errors import ConfigError

CREDENTIALS = {"--nats-creds": "nats-creds", "--nats-cert": "nats-cert", "--nats-key": "nats-key", "--nats-ca": "nats-ca"}
"""Option -> credential name (and AUDITOR_NATS_* variable)."""
FLEET_ENV = "/etc/auditor/fleet.env"


def _variable(option: str) -> str:
    return "AUDITOR_" + option.removeprefix("--").replace("-", "_").upper()


class LoginInUnit(ConfigError):
    """A NATS URL with a user, password or token, which would be readable in the unit files (exit 2)."""


def check(opts: ExportOptions) -> None:
    if opts.nats and split_url(opts.nats)[1] is not None:
        raise LoginInUnit(f"the NATS URL has a user, password or token, which anyone could read in the unit files; "
                          f"authenticate with a credentials file or mutual TLS, or set AUDITOR_NATS in {FLEET_ENV} "
                          "(mode 0600)")


def _environment(opts: ExportOptions) -> list[str]:
    env = ["AUDITOR_CACHE_DIR=%C/auditor", "AUDITOR_NO_PROGRESS=1"]
    if opts.nats:
        env.append(f"AUDITOR_NATS={opts.nats}")
    env += [f"{_variable(option)}=%d/{CREDENTIALS[option]}" for option, _ in opts.nats_files]
    return env


def _common(opts: ExportOptions, *, read_everything: bool) -> dict[str, str | list[str]]:
    settings: dict[str, str | list[str]] = {
        "Type": "exec",
        "Restart": "on-failure",
        "RestartSec": "10s",
        "TimeoutStopSec": "45s",
        "Environment": _environment(opts),
        "EnvironmentFile": f"-{FLEET_ENV}",
    }
    if opts.nats_files:
        settings["LoadCredential"] = [f"{CREDENTIALS[option]}:{path}" for option, path in opts.nats_files]
    settings.update(sandbox(read_everything=read_everything))
    return settings


def _command(opts: ExportOptions, *args: str, raw: tuple[str, ...] = ()) -> str:
    words = [_systemd_quote(t) for t in (opts.executable, *args)] + list(raw)
    if opts.inventory:
        words += ["--inventory", _systemd_quote(opts.inventory)]
    else:
        words.append("--demo")
    return " ".join(words)


def agent_settings(opts: ExportOptions) -> dict[str, str | list[str]]:
    return {"ExecStart": _command(opts, "agent", raw=("--target", "%i")), **_common(opts, read_everything=True)}


def worker_settings(opts: ExportOptions) -> dict[str, str | list[str]]:
    settings = _common(opts, read_everything=False)
    settings["Environment"] = ["AUDITOR_DB=%S/auditor/history.sqlite", *settings["Environment"]]
    return {"ExecStart": _command(opts, "worker", "--concurrency", str(opts.worker_concurrency)), **settings}


HEAD = "# Written by `auditor schedule export --systemd`: {what} (docs/fleet.md).\n"


def systemd_units(opts: ExportOptions) -> list[ExportFile]:
    check(opts)
    unit = [
        "[Unit]",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
    ]
    agent = [
        HEAD.format(what="the node agent; enable it for the node's target: systemctl enable --now "
                         "auditor-agent@TARGET.service").rstrip(),
        unit[0], "Description=auditor node agent for target %i", *unit[1:], *_ini(agent_settings(opts)),
        "", "[Install]", "WantedBy=multi-user.target",
    ]
    worker = [
        HEAD.format(what="an evaluation worker; run it on one or more analysis machines").rstrip(),
        unit[0], "Description=auditor evaluation worker", *unit[1:], *_ini(worker_settings(opts)),
        "", "[Install]", "WantedBy=multi-user.target",
    ]
    return [ExportFile("auditor-agent@.service", "\n".join(agent) + "\n"),
            ExportFile("auditor-worker.service", "\n".join(worker) + "\n")]


def _nix_service(role: str, description: str, environment: str, args: str,
                 hardening: dict[str, str | list[str]]) -> list[str]:
    """One `lib.mkIf cfg.ROLE.enable { systemd.services."auditor-ROLE" = ...; }` element."""
    return [
        f"    (lib.mkIf cfg.{role}.enable {{",
        f'      systemd.services."auditor-{role}" = {{',
        f"        description = {_nix_string(description)};",
        '        wantedBy = [ "multi-user.target" ];',
        '        wants = [ "network-online.target" ];',
        '        after = [ "network-online.target" ];',
        f"        environment = {environment};",
        "        serviceConfig = {",
        f"          ExecStart = exec {args};",
        '          Type = "exec"; Restart = "on-failure"; RestartSec = "10s"; TimeoutStopSec = "45s";',
        f'          EnvironmentFile = "-{FLEET_ENV}";',
        "          LoadCredential = loadCredential;",
        *(f"          {k} = {_nix_value(v)};" for k, v in hardening.items()),
        "        };",
        "      };",
        "    })",
    ]


def nixos_module(opts: ExportOptions) -> list[ExportFile]:
    check(opts)
    files = dict(opts.nats_files)
    sandbox_agent = sandbox(read_everything=True)
    sandbox_worker = sandbox(read_everything=False)

    def path_option(name: str, option: str, what: str) -> list[str]:
        default = _nix_string(files[option]) if option in files else "null"
        return [f"    {name} = lib.mkOption {{ type = lib.types.nullOr lib.types.str; default = {default};",
                f"      description = {_nix_string(what + ' (passed with LoadCredential)')}; }};"]

    lines = [
        "# Written by `auditor schedule export --nixos`: the fleet's node agent and evaluation worker (docs/fleet.md).",
        "# Import it from configuration.nix, then e.g.:",
        '#   services.auditor.agent = { enable = true; target = "cim-prod-001"; };',
        "{ config, lib, pkgs, ... }:",
        "let",
        "  cfg = config.services.auditor;",
        '  esc = s: builtins.replaceStrings [ "%" ] [ "%%" ] s;',
        "  exec = args: lib.escapeShellArgs (map esc ([ cfg.executable ] ++ args ++ cfg.inventoryArgs));",
        "  credentials = lib.filter (c: c.file != null) [",
        *(f'    {{ name = "{CREDENTIALS[o]}"; variable = "{_variable(o)}"; file = cfg.nats.{attr}; }}'
          for o, attr in (("--nats-creds", "credentialsFile"), ("--nats-cert", "certificateFile"),
                          ("--nats-key", "keyFile"), ("--nats-ca", "caFile"))),
        "  ];",
        "  environment = { AUDITOR_CACHE_DIR = \"%C/auditor\"; AUDITOR_NO_PROGRESS = \"1\"; }",
        "    // lib.optionalAttrs (cfg.nats.url != null) { AUDITOR_NATS = cfg.nats.url; }",
        "    // builtins.listToAttrs (map (c: { name = c.variable; value = \"%d/${c.name}\"; }) credentials);",
        "  loadCredential = map (c: \"${c.name}:${c.file}\") credentials;",
        "in",
        "{",
        "  options.services.auditor = {",
        f"    executable = lib.mkOption {{ type = lib.types.str; default = {_nix_string(opts.executable)};",
        '      description = "The auditor command."; };',
        "    inventoryArgs = lib.mkOption { type = lib.types.listOf lib.types.str; default = "
        + (f'[ "--inventory" {_nix_string(opts.inventory)} ]' if opts.inventory else '[ "--demo" ]') + ";",
        '      description = "How the commands find the inventory."; };',
        "    agent = {",
        '      enable = lib.mkEnableOption "the auditor node agent (collects, signs and publishes this node\'s evidence)";',
        '      target = lib.mkOption { type = lib.types.str; description = "This node\'s target in the inventory."; };',
        "    };",
        "    worker = {",
        '      enable = lib.mkEnableOption "an auditor evaluation worker";',
        f"      concurrency = lib.mkOption {{ type = lib.types.ints.positive; default = {opts.worker_concurrency};",
        '        description = "Bundles evaluated at once."; };',
        '      database = lib.mkOption { type = lib.types.str; default = "%S/auditor/history.sqlite";',
        '        description = "The history: an SQLite file or a postgresql:// URL without a password."; };',
        "    };",
        "    nats = {",
        "      url = lib.mkOption { type = lib.types.nullOr lib.types.str; default = "
        + (_nix_string(opts.nats) if opts.nats else "null") + ";",
        '        description = "The fleet\'s NATS URL (no password in it)."; };',
        *path_option("  credentialsFile", "--nats-creds", "NATS credentials file"),
        *path_option("  certificateFile", "--nats-cert", "client certificate for mutual TLS"),
        *path_option("  keyFile", "--nats-key", "its private key"),
        *path_option("  caFile", "--nats-ca", "CA certificates of the NATS server"),
        "    };",
        "  };",
        "  config = lib.mkMerge [",
        *_nix_service("agent", "auditor node agent", "environment",
                      '[ "agent" "--target" cfg.agent.target ]', sandbox_agent),
        *_nix_service("worker", "auditor evaluation worker", "environment // { AUDITOR_DB = cfg.worker.database; }",
                      '[ "worker" "--concurrency" (toString cfg.worker.concurrency) ]', sandbox_worker),
        "  ];",
        "}",
    ]
    return [ExportFile("auditor-fleet.nix", "\n".join(lines) + "\n")]
