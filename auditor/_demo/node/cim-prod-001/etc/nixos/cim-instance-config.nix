# cim-instance-config.nix: the CIM domain configuration exported by Alchemist.
{ config, pkgs, lib, ... }:

{
  cim = {
    instance = {
      id = "cim-prod-001";
      name = "Production CIM Instance 001";
      location = "us-east-1";
      capabilities = [ "workflow" "agent" "graph" ];
    };
    domains = {
      graph = { enable = true; config = { maxNodes = 100000; persistence = "rocksdb"; }; };
      workflow = { enable = true; config = { maxConcurrent = 50; timeout = "30m"; }; };
      agent = { enable = true; config = { providers = [ "anthropic" "ollama" ]; maxAgents = 100; }; };
    };
  };

  services.nats = {
    enable = true;
    jetstream = true;
    validateConfig = true;
    # The full server configuration is written to /etc/nats/nats.conf.
    configFile = "/etc/nats/nats.conf";
  };
}
