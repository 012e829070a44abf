# Evaluates the security options of a NixOS configuration for auditor (auditor/_host/nixos.py).
#
#   nix-instantiate --eval --strict --json --argstr configuration /etc/nixos/configuration.nix \
#     --argstr section all --expr "$(cat nixos-options.nix)"
#
# With <nixpkgs> on NIX_PATH (a NixOS host with its channel) the real module system evaluates
# the configuration, defaults included ("mode": "nixpkgs"). Without it, a small module system
# of our own evaluates only what the files declare ("mode": "standalone"): imports (missing
# ones are listed, not fatal), mkIf/mkMerge/mkDefault/mkForce/mkOverride pushed down and
# resolved as NixOS does, attribute sets merged, lists concatenated. Option defaults are then
# unknown (null) and auditor applies the NixOS defaults it knows.
{ configuration, section ? "all" }:
let
  cfgPath = /. + configuration;
  nixpkgsEntries = builtins.filter
    (e: e.prefix == "nixpkgs" && builtins.substring 0 1 e.path == "/" && builtins.pathExists (e.path + "/nixos/default.nix"))
    builtins.nixPath;
  hasNixpkgs = nixpkgsEntries != [ ];

  isType = t: v: builtins.isAttrs v && (v._type or null) == t;
  isPlain = v: builtins.isAttrs v && !(v ? _type);
  lib = rec {
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkDefault = mkOverride 1000;
    mkOptionDefault = mkOverride 1500;
    mkForce = mkOverride 50;
    mkVMOverride = mkOverride 10;
    mkBefore = x: x;
    mkAfter = x: x;
    mkOrder = _: x: x;
    mkOption = _: { _type = "option"; };
    mkEnableOption = _: { _type = "option"; };
    mkPackageOption = _: _: _: { _type = "option"; };
    mkRemovedOptionModule = _: _: { };
    mkRenamedOptionModule = _: _: { };
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: xs: if c then xs else [ ];
    optionalString = c: s: if c then s else "";
    optionalAttrs = c: a: if c then a else { };
    concatStringsSep = builtins.concatStringsSep;
    concatMapStrings = f: xs: builtins.concatStringsSep "" (map f xs);
    concatMapStringsSep = sep: f: xs: builtins.concatStringsSep sep (map f xs);
    mapAttrs = builtins.mapAttrs;
    attrNames = builtins.attrNames;
    attrValues = builtins.attrValues;
    filterAttrs = pred: set: builtins.listToAttrs (builtins.concatMap
      (name: if pred name set.${name} then [ { inherit name; value = set.${name}; } ] else [ ]) (builtins.attrNames set));
    genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
    nameValuePair = name: value: { inherit name value; };
    listToAttrs = builtins.listToAttrs;
    elem = builtins.elem;
    head = builtins.head;
    length = builtins.length;
    readFile = builtins.readFile;
    fileContents = f: builtins.readFile f;
    hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
    toString = builtins.toString;
    types = { };
    literalExpression = x: x;
  };

  # NixOS's pushDownProperties: mkIf/mkMerge/mkOverride around an attribute set move onto its
  # attributes, so a condition is only evaluated where a value is needed.
  pushDown = v:
    if isType "merge" v then builtins.concatMap pushDown v.contents
    else if isType "if" v then
      map (c: if isPlain c then builtins.mapAttrs (_: x: lib.mkIf v.condition x) c else lib.mkIf v.condition c) (pushDown v.content)
    else if isType "override" v then
      map (c: if isPlain c then builtins.mapAttrs (_: x: lib.mkOverride v.priority x) c else lib.mkOverride v.priority c) (pushDown v.content)
    else [ v ];
  # a leaf definition: conditions evaluated, overrides kept as { priority; value; }
  resolve = prio: v:
    if isType "if" v then (if v.condition then resolve prio v.content else [ ])
    else if isType "merge" v then builtins.concatMap (resolve prio) v.contents
    else if isType "override" v then resolve v.priority v.content
    else [ { priority = prio; value = v; } ];
  mergeDefs = defs:
    let pushed = builtins.concatMap pushDown defs;
    in if pushed != [ ] && builtins.all isPlain pushed then builtins.zipAttrsWith (_: mergeDefs) pushed
    else leaf pushed;
  leaf = defs:
    let
      vals = builtins.concatMap (resolve 100) defs;
      best = builtins.foldl' (a: v: if v.priority < a then v.priority else a) 100000 vals;
      chosen = map (v: v.value) (builtins.filter (v: v.priority == best) vals);
    in
    if chosen == [ ] then null
    else if builtins.all isPlain chosen then mergeDefs chosen
    else if builtins.all builtins.isList chosen then builtins.concatLists chosen
    else if builtins.length chosen > 1 && builtins.all builtins.isString chosen then builtins.concatStringsSep "\n" chosen
    else builtins.head chosen;

  args = { inherit lib config; pkgs = { }; options = { }; modulesPath = "/modules"; utils = { }; specialArgs = { }; };
  call = f:
    let formals = builtins.functionArgs f;
    in if builtins.isFunction f then
      f (builtins.listToAttrs (map (name: { inherit name; value = args.${name} or null; })
        (builtins.filter (name: args ? ${name} || !formals.${name}) (builtins.attrNames formals))))
    else f;
  present = m: !(builtins.isPath m) || builtins.pathExists m;
  load = m: call (if builtins.isPath m || builtins.isString m then import m else m);
  collect = depth: m:
    if !(present m) || depth > 32 then [ ]
    else let v = load m; in [ v ] ++ builtins.concatMap (collect (depth + 1)) (v.imports or [ ]);
  missingOf = depth: m:
    if !(present m) then [ (builtins.toString m) ]
    else if depth > 32 then [ ]
    else builtins.concatMap (missingOf (depth + 1)) ((load m).imports or [ ]);
  defsOf = v: if v ? config || v ? options then (v.config or { })
    else builtins.removeAttrs v [ "imports" "options" "_file" "key" "disabledModules" "meta" ];
  modules = collect 0 cfgPath;
  config = mergeDefs (map defsOf modules);

  cfg = if hasNixpkgs then (import ((builtins.head nixpkgsEntries).path + "/nixos") { configuration = cfgPath; }).config else config;
  get = path: builtins.foldl' (a: n: if builtins.isAttrs a && a ? ${n} then a.${n} else null) cfg path;
  names = v: if builtins.isAttrs v then builtins.attrNames v else [ ];
  portsOf = v: if builtins.isList v then v else [ ];
  sections = {
    openssh = {
      enable = get [ "services" "openssh" "enable" ];
      openFirewall = get [ "services" "openssh" "openFirewall" ];
      ports = get [ "services" "openssh" "ports" ];
      PasswordAuthentication = get [ "services" "openssh" "settings" "PasswordAuthentication" ];
      KbdInteractiveAuthentication = get [ "services" "openssh" "settings" "KbdInteractiveAuthentication" ];
      PermitRootLogin = get [ "services" "openssh" "settings" "PermitRootLogin" ];
      passwordAuthentication = get [ "services" "openssh" "passwordAuthentication" ];
      kbdInteractiveAuthentication = get [ "services" "openssh" "kbdInteractiveAuthentication" ];
      permitRootLogin = get [ "services" "openssh" "permitRootLogin" ];
    };
    firewall = {
      enable = get [ "networking" "firewall" "enable" ];
      nftables = get [ "networking" "nftables" "enable" ];
      allowedTCPPorts = portsOf (get [ "networking" "firewall" "allowedTCPPorts" ]);
      allowedUDPPorts = portsOf (get [ "networking" "firewall" "allowedUDPPorts" ]);
      allowedTCPPortRanges = portsOf (get [ "networking" "firewall" "allowedTCPPortRanges" ]);
      allowedUDPPortRanges = portsOf (get [ "networking" "firewall" "allowedUDPPortRanges" ]);
      interfaces = builtins.mapAttrs (_: i: { allowedTCPPorts = portsOf (i.allowedTCPPorts or [ ]); allowedUDPPorts = portsOf (i.allowedUDPPorts or [ ]); })
        (let i = get [ "networking" "firewall" "interfaces" ]; in if builtins.isAttrs i then i else { });
      extraCommands = get [ "networking" "firewall" "extraCommands" ] != null && get [ "networking" "firewall" "extraCommands" ] != "";
    };
    apparmor = {
      enable = get [ "security" "apparmor" "enable" ];
      policies = names (get [ "security" "apparmor" "policies" ]);
    };
    fail2ban = {
      enable = get [ "services" "fail2ban" "enable" ];
      jails = names (get [ "services" "fail2ban" "jails" ]);
    };
    acme = {
      acceptTerms = get [ "security" "acme" "acceptTerms" ];
      certs = names (get [ "security" "acme" "certs" ]);
    };
    system = {
      stateVersion = get [ "system" "stateVersion" ];
    };
  };
in
{
  mode = if hasNixpkgs then "nixpkgs" else "standalone";
  missingImports = if hasNixpkgs then [ ] else missingOf 0 cfgPath;
} // (if section == "all" then sections else { ${section} = sections.${section}; })
