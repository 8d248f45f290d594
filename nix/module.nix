# services.native-runner: one systemd unit per runner instance.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression;
  cfg = config.services.native-runner;
  yaml = pkgs.formats.yaml { };

  unitName = name: "native-runner-${name}";
  stateDir = name: "/var/lib/native-runner/${name}";

  connectionModule = types.submodule ({ name, ... }: {
    options = {
      url = mkOption { type = types.str; description = "Forgejo root URL."; };
      uuid = mkOption { type = types.str; description = "Runner UUID (from `forgejo-cli actions register`)."; };
      tokenFile = mkOption { type = types.path; description = "File holding the runner token (loaded as a systemd credential)."; };
      labels = mkOption { type = types.nullOr (types.listOf types.str); default = null; description = "Labels for this connection; default: the instance labels."; };
      trustedRepos = mkOption { type = types.nullOr (types.listOf types.str); default = null; description = "Per-connection trusted repositories."; };
    };
  });

  instanceModule = types.submodule ({ name, ... }: {
    options = {
      enable = mkEnableOption "this native-runner instance";
      name = mkOption { type = types.str; default = config.networking.hostName; description = "Runner name shown in Forgejo."; };
      url = mkOption { type = types.nullOr types.str; default = null; description = "Forgejo root URL (registration mode)."; };
      token = mkOption { type = types.nullOr types.str; default = null; description = "Registration token (ends up in the store: prefer tokenFile)."; };
      tokenFile = mkOption { type = types.nullOr types.path; default = null; description = "File holding the registration token."; };
      labels = mkOption { type = types.listOf types.str; default = [ "native:host" ]; description = "Runner labels."; };
      hostPackages = mkOption {
        type = types.listOf types.package;
        default = with pkgs; [ bash coreutils curl gawk gitMinimal gnused nodejs wget nix ];
        defaultText = literalExpression "with pkgs; [ bash coreutils curl gawk gitMinimal gnused nodejs wget nix ]";
        description = "Packages on the PATH of jobs.";
      };
      trustedRepos = mkOption { type = types.listOf types.str; default = [ ]; example = [ "torjus/nixos-servers" "torjus/*" ]; description = "Only these repositories (owner/repo or owner/*) may run jobs; empty allows all."; };
      hiddenPaths = mkOption { type = types.listOf types.str; default = [ "/run/secrets" "/run/credentials" "/var/lib/vault" ]; description = "Paths jobs never see (plus the runner's own state, config and cache)."; };
      resources = {
        memoryMax = mkOption { type = types.nullOr types.str; default = null; example = "8G"; description = "Per-job memory limit."; };
        cpuQuota = mkOption { type = types.nullOr types.int; default = null; example = 200; description = "Per-job CPU quota in percent of one CPU."; };
        pidsMax = mkOption { type = types.nullOr types.int; default = null; example = 4096; description = "Per-job process limit."; };
      };
      nixRoots = {
        enable = mkOption { type = types.bool; default = true; description = "Keep the outputs jobs build alive (GC roots under the state dir)."; };
        ttl = mkOption { type = types.str; default = "720h"; description = "How long a run's roots live after they were made or refreshed (a Go duration)."; };
        keepLast = mkOption { type = types.int; default = 5; description = "Runs kept per repository and ref; 0 = no limit."; };
        defaultBranchOnly = mkOption { type = types.bool; default = true; description = "Keep outputs of default-branch runs only."; };
      };
      connections = mkOption { type = types.attrsOf connectionModule; default = { }; description = "Pre-registered connections (uuid + token); no registration step."; };
      settings = mkOption { type = yaml.type; default = { }; description = "Extra config.yaml settings (freeform)."; };
    };
  });

  configFor = name: inst: yaml.generate "native-runner-${name}.yaml" (lib.recursiveUpdate {
    runner = {
      file = "${stateDir name}/.runner";
      trusted_repos = inst.trustedRepos;
    } // lib.optionalAttrs (inst.connections == { }) { labels = inst.labels; };
    cache.dir = "${stateDir name}/cache";
    host = {
      workdir_parent = "${stateDir name}/work";
      hidden_paths = inst.hiddenPaths;
      resources = lib.filterAttrs (_: v: v != null) {
        memory_max = inst.resources.memoryMax;
        cpu_quota = inst.resources.cpuQuota;
        pids_max = inst.resources.pidsMax;
      };
    };
    nix.gcroots = {
      enabled = inst.nixRoots.enable;
      ttl = inst.nixRoots.ttl;
      keep_last = inst.nixRoots.keepLast;
      default_branch_only = inst.nixRoots.defaultBranchOnly;
    };
    server.connections = lib.mapAttrs (cname: c: {
      inherit (c) url uuid;
      token_url = "file:$CREDENTIALS_DIRECTORY/${cname}-token";
      labels = if c.labels == null then inst.labels else c.labels;
    } // lib.optionalAttrs (c.trustedRepos != null) { trusted_repos = c.trustedRepos; }) inst.connections;
  } inst.settings);

  tokenCredential = name: inst:
    if inst.tokenFile != null then inst.tokenFile
    else pkgs.writeText "native-runner-${name}-token" inst.token;

  # Re-register when url, name, labels or the token change.
  registerScript = name: inst: pkgs.writeShellScript "native-runner-${name}-register" ''
    set -eu
    cd ${stateDir name}
    want=$( { echo ${lib.escapeShellArg inst.url}; echo ${lib.escapeShellArg inst.name}; \
              echo ${lib.escapeShellArg (lib.concatStringsSep "," inst.labels)}; \
              sha256sum < "$CREDENTIALS_DIRECTORY/token"; } | sha256sum | cut -d' ' -f1)
    if [ ! -e .runner ] || [ "$(cat .registration-hash 2>/dev/null)" != "$want" ]; then
      rm -f .runner
      ${cfg.package}/bin/native-runner register --no-interactive \
        --instance ${lib.escapeShellArg inst.url} --token-file "$CREDENTIALS_DIRECTORY/token" \
        --name ${lib.escapeShellArg inst.name} --labels ${lib.escapeShellArg (lib.concatStringsSep "," inst.labels)} \
        --config ${configFor name inst}
      echo "$want" > .registration-hash
    fi
  '';

  enabled = lib.filterAttrs (_: i: i.enable) cfg.instances;
in
{
  options.services.native-runner = {
    package = mkOption { type = types.package; description = "The native-runner package."; };
    instances = mkOption { type = types.attrsOf instanceModule; default = { }; description = "Runner instances."; };
  };

  config = mkIf (enabled != { }) {
    assertions = lib.mapAttrsToList (name: i: {
      assertion = i.connections != { } || (i.url != null && (i.token == null) != (i.tokenFile == null));
      message = "services.native-runner.instances.${name}: set url and exactly one of token / tokenFile, or connections.";
    }) enabled;

    systemd.services = lib.mapAttrs' (name: inst: lib.nameValuePair (unitName name) {
      description = "native-runner ${name}";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" "nix-daemon.socket" ];
      path = inst.hostPackages;
      environment.HOME = stateDir name;
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "all";
        DynamicUser = true;
        StateDirectory = "native-runner/${name}";
        StateDirectoryMode = "0700";
        WorkingDirectory = stateDir name;
        Delegate = true;
        KillMode = "mixed";
        Restart = "on-failure";
        RestartSec = 2;
        TimeoutStopSec = "infinity";
        LoadCredential =
          lib.optional (inst.connections == { }) "token:${tokenCredential name inst}"
          ++ lib.mapAttrsToList (c: v: "${c}-token:${v.tokenFile}") inst.connections;
        ExecStartPre = lib.optional (inst.connections == { }) (registerScript name inst);
        ExecStart = "${cfg.package}/bin/native-runner daemon --config ${configFor name inst}";
      };
    }) enabled;
  };
}
