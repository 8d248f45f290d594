# The NixOS option declarations nix/module.nix writes to, typed as NixOS
# declares them (nixos/lib/systemd-unit-options.nix, nixos/modules/system/boot/systemd.nix,
# nixos/modules/misc/assertions.nix, nixos/modules/config/nix.nix), so that
# lib.evalModules merges and type-checks the module's definitions as a NixOS
# system would. Only what the module touches is declared.
{ lib, pkgs, ... }:

let
  inherit (lib) mkOption types;

  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  # A systemd setting: lists from several definitions concatenate (repeatable settings),
  # single values must agree.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge = loc: defs:
      let defs' = lib.filterOverrides defs; in
      if builtins.isList (lib.head defs').value
      then lib.concatMap (d: if builtins.isList d.value then d.value
        else throw "${lib.showOption loc}: definitions mix lists and non-lists") defs'
      else lib.mergeEqualOption loc defs';
  };

  # NixOS checks these two settings' values at evaluation.
  valueOneOf = name: allowed: cfg: !(cfg ? ${name}) || builtins.elem cfg.${name} allowed;
  checkService = cfg:
    valueOneOf "Type" [ "exec" "simple" "forking" "oneshot" "dbus" "notify" "notify-reload" "idle" ] cfg
    && valueOneOf "Restart" [ "no" "on-success" "on-failure" "on-abnormal" "on-abort" "on-watchdog" "always" ] cfg;

  serviceModule = { name, config, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      description = mkOption { type = types.singleLineStr; default = ""; };
      wantedBy = mkOption { type = types.listOf unitNameType; default = [ ]; };
      requiredBy = mkOption { type = types.listOf unitNameType; default = [ ]; };
      wants = mkOption { type = types.listOf unitNameType; default = [ ]; };
      requires = mkOption { type = types.listOf unitNameType; default = [ ]; };
      after = mkOption { type = types.listOf unitNameType; default = [ ]; };
      before = mkOption { type = types.listOf unitNameType; default = [ ]; };
      unitConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
      restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      environment = mkOption { type = with types; attrsOf (nullOr (oneOf [ str path package ])); default = { }; };
      path = mkOption { type = with types; listOf (oneOf [ package str ]); default = [ ]; };
      serviceConfig = mkOption { type = types.addCheck (types.attrsOf unitOption) checkService; default = { }; };
      script = mkOption { type = types.lines; default = ""; };
      preStart = mkOption { type = types.lines; default = ""; };
    };
    # What systemd.nix adds to every service: a minimal default PATH after the
    # unit's own `path`, and PATH built from both (bin and sbin of each).
    config = {
      path = lib.mkAfter [ pkgs.coreutils pkgs.findutils pkgs.gnugrep pkgs.gnused pkgs.systemd ];
      environment.PATH = "${lib.makeBinPath config.path}:${lib.makeSearchPathOutput "bin" "sbin" config.path}";
    };
  };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
    };
    warnings = mkOption { type = types.listOf types.str; internal = true; default = [ ]; };
    networking.hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };
    systemd.services = mkOption {
      type = types.attrsOf (types.submodule serviceModule);
      default = { };
    };
    virtualisation.podman.enable = mkOption { type = types.bool; default = false; };
    virtualisation.docker.enable = mkOption { type = types.bool; default = false; };
    nix.settings = mkOption {
      type = types.submodule { freeformType = with types; attrsOf (oneOf [ bool int float str path (listOf (oneOf [ bool int float str path package ])) ]); };
      default = { };
    };
  };
}
