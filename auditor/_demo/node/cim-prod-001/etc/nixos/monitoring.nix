# monitoring.nix: Prometheus and Grafana on the node (imported on the monitoring profile).
{ config, pkgs, ... }:

{
  services.prometheus = {
    enable = true;
    port = 9090;
    scrapeConfigs = [
      { job_name = "nats"; static_configs = [ { targets = [ "127.0.0.1:7777" ]; } ]; }
    ];
  };

  services.grafana = {
    enable = true;
    settings.server.http_addr = "127.0.0.1";
    # TODO move to sops-nix (settings.security.admin_password = "$__file{...}")
    settings.security.admin_user = "admin";
    settings.security.admin_password = "Gr4fana-Adm1n-2025!";
  };
}
