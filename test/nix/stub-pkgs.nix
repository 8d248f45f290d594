# The few pkgs attributes nix/module.nix and the NixOS declarations use, without
# nixpkgs (not available offline). Packages are derivation-shaped attribute sets
# with a fixed store path; pkgs.formats.yaml renders JSON (a subset of YAML)
# into a real store file with builtins.toFile, so tests can read what the unit
# would pass to the runner; the writers likewise make real store files.
# `paths` maps package names to other out paths (a test that runs the unit puts the host's
# equivalents there).
{ lib, paths ? { } }:

let
  pkg = name: {
    type = "derivation";
    inherit name;
    outPath = paths.${name} or "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
  };
  names = [
    "bash" "coreutils" "curl" "gawk" "gitMinimal" "gnused" "nodejs" "wget" "nix"
    "findutils" "gnugrep" "systemd" "bubblewrap" "util-linux" "perl" "cachix" "native-runner"
  ];
in
lib.genAttrs names pkg // {
  formats.yaml = { }: {
    type = let
      valueType = with lib.types; nullOr (oneOf [ bool int float str path (attrsOf valueType) (listOf valueType) ]) // {
        description = "YAML value";
      };
    in valueType;
    generate = name: value: builtins.toFile name (builtins.toJSON value);
  };
  writeText = name: text: builtins.toFile name text;
  writeShellScript = name: text: builtins.toFile name "#!/bin/sh\n${text}";
}
