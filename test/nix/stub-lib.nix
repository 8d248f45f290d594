# A minimal stand-in for nixpkgs' lib and pkgs: enough to evaluate
# nix/module.nix's option declarations and the units it generates, without
# nixpkgs (not available offline).
let
  builtinsLib = rec {
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = d: mkOption { type = types.bool; default = false; description = "Whether to enable ${d}."; };
    mkIf = cond: content: if cond then content else { };
    mkDefault = v: v;
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    types = rec {
      mk = name: { inherit name; };
      str = mk "str"; int = mk "int"; bool = mk "bool"; path = mk "path"; package = mk "package";
      listOf = t: { name = "listOf"; elem = t; };
      nullOr = t: { name = "nullOr"; elem = t; };
      attrsOf = t: { name = "attrsOf"; elem = t; };
      submodule = m: { name = "submodule"; module = m; };
    };
    filterAttrs = pred: set: builtins.listToAttrs (builtins.filter (x: pred x.name x.value)
      (map (n: { name = n; value = set.${n}; }) (builtins.attrNames set)));
    mapAttrs = builtins.mapAttrs;
    nameValuePair = name: value: { inherit name value; };
    mapAttrs' = f: set: builtins.listToAttrs (map (n: f n set.${n}) (builtins.attrNames set));
    mapAttrsToList = f: set: map (n: f n set.${n}) (builtins.attrNames set);
    optional = c: x: if c then [ x ] else [ ];
    optionalAttrs = c: x: if c then x else { };
    concatStringsSep = builtins.concatStringsSep;
    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
    recursiveUpdate = a: b: a // builtins.mapAttrs (n: v:
      if builtins.isAttrs v && a ? ${n} && builtins.isAttrs a.${n} then recursiveUpdate a.${n} v else v) b;
  };
  pkgs = {
    formats.yaml = { }: { type = builtinsLib.types.mk "yaml"; generate = name: value: "/nix/store/stub-${name}:${builtins.toJSON value}"; };
    writeText = name: text: "/nix/store/stub-${name}";
    writeShellScript = name: text: "/nix/store/stub-${name}:${text}";
    bash = "bash"; coreutils = "coreutils"; curl = "curl"; gawk = "gawk"; gitMinimal = "gitMinimal";
    gnused = "gnused"; nodejs = "nodejs"; wget = "wget"; nix = "nix";
  };
in
{ lib = builtinsLib; inherit pkgs; }
