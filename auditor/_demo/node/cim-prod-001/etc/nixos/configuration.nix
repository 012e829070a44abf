# NixOS configuration of cim-prod-001 (Production CIM Instance 001).
{ config, pkgs, lib, ... }:

{
  imports = [
    ./hardware-configuration.nix
    ./cim-instance-config.nix
  ];

  networking.hostName = "cim-001";
  networking.domain = "example.com";

  # Firewall: NATS client and monitoring; routing only from the hub network.
  networking.firewall = {
    enable = true;
    allowedTCPPorts = [ 4222 8222 ];
    extraCommands = ''
      iptables -A INPUT -p tcp --dport 6222 -s 10.0.0.0/8 -j ACCEPT
      iptables -A INPUT -p tcp --dport 6222 -j DROP
    '';
  };

  services.openssh = {
    enable = true;
    settings = {
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      PermitRootLogin = "prohibit-password";
    };
  };

  security.apparmor.enable = true;

  services.fail2ban = {
    enable = true;
    jails.nats = ''
      enabled = true
      filter = nats-auth
      maxretry = 3
    '';
  };

  # Secrets are decrypted at activation by sops-nix from secrets/secrets.yaml.
  sops = {
    defaultSopsFile = ../../secrets/secrets.yaml;
    age.keyFile = "/var/lib/sops-nix/key.txt";
    secrets."nats/leaf.creds" = { owner = "nats"; mode = "0400"; path = "/etc/nats/leaf.creds"; };
    secrets."postgres/password" = { owner = "cim"; };
  };

  users.users.cim-agent = {
    isSystemUser = true;
    group = "cim";
    home = "/var/lib/cim-agent";
    createHome = true;
  };
  users.groups.cim = { };

  system.stateVersion = "24.05";
}
