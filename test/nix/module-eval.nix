# Evaluates nix/module.nix with the stub lib for the deployment plan's actions2 instance.
let
  stub = import ./stub-lib.nix;
  instance = {
    enable = true; name = "nix-cache02-native"; url = "https://code.t-juice.club";
    token = null; tokenFile = "/run/secrets/forgejo-runner-token-native";
    labels = [ "native:host" ];
    hostPackages = with stub.pkgs; [ bash coreutils curl gawk gitMinimal gnused nodejs wget nix ];
    trustedRepos = [ "torjus/nixos-servers" "torjus/nixos-exporter" "torjus/nixos" ];
    hiddenPaths = [ "/run/secrets" "/var/lib/vault" ];
    resources = { memoryMax = "8G"; cpuQuota = 200; pidsMax = null; };
    nixRoots = { enable = true; ttl = "168h"; keepLast = 3; defaultBranchOnly = false; };
    connections = { };
    settings = { runner.capacity = 4; cache.enabled = true; };
  };
  config = {
    networking.hostName = "nix-cache02";
    services.native-runner = { package = "/nix/store/stub-native-runner"; instances.actions2 = instance; };
  };
  m = import ../../nix/module.nix { inherit config; inherit (stub) lib pkgs; };
  instOpts = m.options.services.native-runner.instances.type.elem.module { name = "x"; };
in
{
  optionNames = builtins.attrNames instOpts.options;
  resourceOptions = builtins.attrNames instOpts.options.resources;
  defaultHostPackages = instOpts.options.hostPackages.default;
  unit = m.config.systemd.services.native-runner-actions2;
  assertions = map (a: a.assertion) m.config.assertions;
}
