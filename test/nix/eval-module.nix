# Evaluates nix/module.nix with nixpkgs' real module system (the vendored
# nixpkgs lib) next to the NixOS declarations it needs.
#   nix-instantiate --eval --strict --json test/nix/eval-module.nix --argstr lib <nixpkgs-lib>/lib --argstr config '<JSON>'
# `config` is the JSON of the system configuration; a list of package names in
# `hostPackages` stands for those packages. Failed assertions abort the
# evaluation with NixOS's "Failed assertions:" message. `packagePaths` (JSON) maps package
# names to out paths other than the stub's.
{ lib, config, packagePaths ? "{}" }:

let
  nixLib = import lib;
  pkgs = import ./stub-pkgs.nix { lib = nixLib; paths = builtins.fromJSON packagePaths; };
  given = builtins.fromJSON config;
  withPackages = inst: inst // nixLib.optionalAttrs (inst ? hostPackages) {
    hostPackages = map (n: pkgs.${n}) inst.hostPackages;
  };
  user = nixLib.recursiveUpdate given {
    services.native-runner = {
      package = pkgs.native-runner;
      instances = nixLib.mapAttrs (_: withPackages) (given.services.native-runner.instances or { });
    };
  };
  evaluated = nixLib.evalModules {
    modules = [
      ./nixos-options.nix
      ../../nix/module.nix
      user
      { _module.args.pkgs = pkgs; }
    ];
  };
  cfg = evaluated.config;
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
  instanceOptions = (evaluated.options.services.native-runner.instances.type.getSubOptions [ ]);
in
if failed != [ ] then throw "\nFailed assertions:\n${nixLib.concatMapStringsSep "\n" (m: "- ${m}") failed}"
else {
  services = nixLib.filterAttrs (n: _: nixLib.hasPrefix "native-runner-" n || n == "nix-daemon") cfg.systemd.services;
  nixSettings = cfg.nix.settings;
  nameDefaultText = instanceOptions.name.defaultText.text or null;
  hostPackagesDefault = map (p: p.name) instanceOptions.hostPackages.default;
  packages = nixLib.mapAttrs (_: p: p.outPath) (nixLib.filterAttrs (_: p: p ? outPath) pkgs);
}
