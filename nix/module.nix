# services.native-runner: one systemd unit per runner instance.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression;
  cfg = config.services.native-runner;
  yaml = pkgs.formats.yaml { };

  unitName = name: "native-runner-${name}";
  stateDir = name: "/var/lib/native-runner/${name}";
  opt = name: key: "services.native-runner.instances.${name}.${key}";

  # The same forms config.yaml's host.resources.cpu_quota takes.
  cpuQuotaType = types.either types.ints.unsigned (types.strMatching "[0-9]+(\\.[0-9]+)?%");
  percent = q: if builtins.isInt q then "${toString q}%" else q;

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
      name = mkOption {
        type = types.str;
        default = config.networking.hostName;
        defaultText = literalExpression "config.networking.hostName";
        description = "Runner name shown in Forgejo.";
      };
      url = mkOption { type = types.nullOr types.str; default = null; description = "Forgejo root URL (registration mode)."; };
      token = mkOption { type = types.nullOr types.str; default = null; description = "Registration token (ends up in the store: prefer tokenFile)."; };
      tokenFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "File holding the registration token: the bare token, or a `TOKEN=<token>` line (the form nixpkgs' gitea-actions-runner module uses).";
      };
      labels = mkOption { type = types.listOf types.str; default = [ "native:host" ]; description = "Runner labels: `<name>:host` runs jobs on the host; `<name>:docker://<image>` in a container (needs virtualisation.podman or virtualisation.docker)."; };
      hostPackages = mkOption {
        type = types.listOf types.package;
        default = with pkgs; [ bash coreutils curl gawk gitMinimal gnused nodejs wget nix ];
        defaultText = literalExpression "with pkgs; [ bash coreutils curl gawk gitMinimal gnused nodejs wget nix ]";
        description = ''
          Packages on the PATH of jobs, and nothing else: jobs get `host.path` built from exactly
          these (NixOS adds coreutils, findutils, gnugrep, gnused and systemd to every unit's own
          PATH; that PATH is the runner's, not the jobs').
        '';
      };
      trustedRepos = mkOption { type = types.listOf types.str; default = [ ]; example = [ "torjus/nixos-servers" "torjus/*" ]; description = "Only these repositories (owner/repo or owner/*) may run jobs; empty allows all."; };
      trustedEvents = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "push" "workflow_dispatch" "schedule" ];
        description = "Only tasks triggered by these events may run (`runner.trusted_events`); empty allows all.";
      };
      hiddenPaths = mkOption { type = types.listOf types.str; default = [ "/run/secrets" "/run/credentials" "/var/lib/vault" ]; description = "Paths jobs never see (plus the runner's own state, config and cache)."; };
      resources = {
        memoryMax = mkOption { type = types.nullOr types.str; default = null; example = "8G"; description = "Per-job memory limit (the job's own processes; not builds done by nix-daemon, see nixDaemon)."; };
        cpuQuota = mkOption { type = types.nullOr cpuQuotaType; default = null; example = "150%"; description = "Per-job CPU quota: percent of one CPU, as an integer (150) or a string (\"150%\")."; };
        pidsMax = mkOption { type = types.nullOr types.ints.positive; default = null; example = 4096; description = "Per-job process limit."; };
      };
      shutdownTimeout = mkOption {
        type = types.ints.unsigned;
        default = 600;
        description = ''
          Seconds a stopping runner lets running jobs finish before cancelling them
          (`runner.shutdown_timeout`). The unit's TimeoutStopSec is this plus 30 s, so a hung
          runner cannot hold up `nixos-rebuild switch` or shutdown for longer.
        '';
      };
      watchdogSec = mkOption {
        type = types.ints.unsigned;
        default = 120;
        description = "systemd restarts the runner when its event loop has not pinged for this many seconds (WatchdogSec); 0 turns the watchdog off.";
      };
      nixRoots = {
        enable = mkOption { type = types.bool; default = true; description = "Keep the outputs jobs build alive (GC roots under the state dir)."; };
        ttl = mkOption { type = types.str; default = "720h"; description = "How long a run's roots live after they were made or refreshed (a Go duration)."; };
        keepLast = mkOption { type = types.int; default = 5; description = "Runs kept per repository and ref; 0 = no limit."; };
        defaultBranchOnly = mkOption { type = types.bool; default = true; description = "Keep outputs of default-branch runs only."; };
      };
      connections = mkOption { type = types.attrsOf connectionModule; default = { }; description = "Pre-registered connections (uuid + token); no registration step."; };
      settings = mkOption {
        type = yaml.type;
        default = { };
        description = ''
          Extra config.yaml settings (freeform). Directories given here (cache.dir,
          host.workdir_parent, actions.cache_dir, runner.file's directory) must lie below /var/lib
          or /var/cache: the unit declares them as StateDirectory/CacheDirectory so that its
          DynamicUser can write them.
        '';
      };
    };
  });

  registered = inst: inst.connections == { };

  configFor = name: inst: lib.recursiveUpdate {
    runner = {
      file = "${stateDir name}/.runner";
      trusted_repos = inst.trustedRepos;
      trusted_events = inst.trustedEvents;
      shutdown_timeout = "${toString inst.shutdownTimeout}s";
    } // lib.optionalAttrs (registered inst) { labels = inst.labels; };
    cache.dir = "${stateDir name}/cache";
    host = {
      workdir_parent = "${stateDir name}/work";
      path = lib.makeBinPath inst.hostPackages;
      hidden_paths = inst.hiddenPaths;
      resources = lib.filterAttrs (_: v: v != null) {
        memory_max = inst.resources.memoryMax;
        cpu_quota = if inst.resources.cpuQuota == null then null else percent inst.resources.cpuQuota;
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
  } inst.settings;

  configFile = name: inst: yaml.generate "native-runner-${name}.yaml" (configFor name inst);

  # Directories the runner writes, by the settings key that names them.
  writableDirs = name: inst:
    let
      c = configFor name inst;
      get = path: lib.attrByPath path null c;
      dirOf' = p: if p == null then null else builtins.dirOf p;
      abs = p: if p == null || lib.hasPrefix "/" p then p else "${stateDir name}/${p}";
    in
    lib.filterAttrs (_: v: v != null) {
      "cache.dir" = abs (get [ "cache" "dir" ]);
      "host.workdir_parent" = abs (get [ "host" "workdir_parent" ]);
      "actions.cache_dir" = abs (get [ "actions" "cache_dir" ]);
      "runner.file" = abs (dirOf' (get [ "runner" "file" ]));
    };

  under = root: p: p == root || lib.hasPrefix "${root}/" p;
  relativeTo = root: p: lib.removePrefix "${root}/" p;
  extraDirs = root: name: inst:
    lib.unique (map (relativeTo root) (lib.filter (p: under root p && !(under (stateDir name) p))
      (lib.attrValues (writableDirs name inst))));
  unwritable = name: inst:
    lib.filterAttrs (_: p: !(under "/var/lib" p) && !(under "/var/cache" p)) (writableDirs name inst);

  # State directories of the system's other units. systemd cannot set up a state directory of
  # this unit inside one of theirs (under DynamicUser theirs is a symlink into /var/lib/private):
  # services.gitea-actions-runner's units, for one, own /var/lib/gitea-runner.
  foreignStateDirs = lib.concatLists (lib.mapAttrsToList (unit: svc:
    lib.optionals (!(lib.hasPrefix "native-runner-" unit) && (svc.enable or true))
      (map (d: { inherit unit; dir = "/var/lib/${d}"; })
        (lib.filter (d: d != "") (lib.concatMap (lib.splitString " ") (lib.toList (svc.serviceConfig.StateDirectory or [ ]))))))
    config.systemd.services);
  insideForeign = name: inst: lib.concatLists (lib.mapAttrsToList (key: p:
    map (f: { inherit key p; inherit (f) unit dir; }) (lib.filter (f: under f.dir p) foreignStateDirs))
    (lib.filterAttrs (_: p: under "/var/lib" p && !(under (stateDir name) p)) (writableDirs name inst)));

  tokenCredential = name: inst:
    if inst.tokenFile != null then inst.tokenFile
    else pkgs.writeText "native-runner-${name}-token" inst.token;

  # Registers when there is no .runner yet, and again when url, name, labels or the token change.
  # The labels travel in the config file (runner.labels), not on the command line.
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
        --name ${lib.escapeShellArg inst.name} --config ${configFile name inst}
      echo "$want" > .registration-hash
    fi
  '';

  isContainerLabel = l: lib.hasInfix ":docker://" l || lib.hasInfix ":podman://" l || lib.hasSuffix ":docker" l;
  isLxcLabel = l: lib.hasInfix ":lxc" l;
  wantsContainers = inst: lib.any isContainerLabel inst.labels;
  # As nixpkgs' gitea-actions-runner: the container daemon the host runs, its socket and group.
  podman = config.virtualisation.podman.enable or false;
  docker = config.virtualisation.docker.enable or false;

  enabled = lib.filterAttrs (_: i: i.enable) cfg.instances;
  nd = cfg.nixDaemon;
in
{
  options.services.native-runner = {
    package = mkOption { type = types.package; description = "The native-runner package."; };
    instances = mkOption { type = types.attrsOf instanceModule; default = { }; description = "Runner instances."; };
    nixDaemon = {
      memoryMax = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "16G";
        description = ''
          MemoryMax of nix-daemon.service. Every build the daemon runs (for jobs, and for anything
          else on the host, nixos-rebuild included) lives in that unit's cgroup, so this bounds all
          builds together. OOMPolicy=continue is set with it: a build that hits the limit fails,
          the daemon keeps running. null (the default) leaves the unit unbounded.
        '';
      };
      cpuQuota = mkOption {
        type = types.nullOr cpuQuotaType;
        default = null;
        example = "400%";
        description = "CPUQuota of nix-daemon.service (all builds together; percent of one CPU). null (the default) leaves it unset.";
      };
      maxJobs = mkOption {
        type = types.nullOr (types.either types.ints.unsigned (types.enum [ "auto" ]));
        default = null;
        example = 2;
        description = "`nix.settings.max-jobs`: builds the daemon runs at once. null (the default) keeps NixOS's value (`auto`: one per CPU).";
      };
      cores = mkOption {
        type = types.nullOr types.ints.unsigned;
        default = null;
        example = 4;
        description = "`nix.settings.cores`: CPUs one build may use (0 = all). null (the default) keeps NixOS's value (0).";
      };
    };
  };

  config = lib.mkMerge [
    (mkIf (enabled != { }) {
      assertions = lib.concatLists (lib.mapAttrsToList (name: i: [
        {
          assertion = i.connections != { } || i.url != null;
          message = "${opt name "url"} must be set (or use ${opt name "connections"}).";
        }
        {
          assertion = i.connections != { } || (i.token == null) != (i.tokenFile == null);
          message = "${opt name "token"} and ${opt name "tokenFile"}: set exactly one of them (tokenFile keeps the token out of the store).";
        }
        {
          assertion = i.labels != [ ];
          message = "${opt name "labels"} is empty: give at least one host label, e.g. [ \"native:host\" ].";
        }
        {
          assertion = !(wantsContainers i) || podman || docker;
          message = "${opt name "labels"}: ${lib.concatStringsSep ", " (lib.filter isContainerLabel i.labels)} runs jobs in containers: "
            + "enable virtualisation.podman or virtualisation.docker.";
        }
        {
          assertion = !(lib.any isLxcLabel i.labels);
          message = "${opt name "labels"}: ${lib.concatStringsSep ", " (lib.filter isLxcLabel i.labels)} asks for LXC, which native-runner does not run.";
        }
        {
          assertion = !(lib.hasAttrByPath [ "runner" "shutdown_timeout" ] i.settings);
          message = "${opt name "settings"}.runner.shutdown_timeout: use ${opt name "shutdownTimeout"} (it also bounds the unit's TimeoutStopSec).";
        }
      ] ++ map (c: {
        assertion = false;
        message = "${opt name "settings"}.${c.key} = \"${c.p}\" lies inside ${c.dir}, the state directory of ${c.unit}.service; "
          + "systemd cannot give this unit a directory there. Leave it unset (the default is below ${stateDir name}) or choose a directory of its own below /var/lib.";
      }) (insideForeign name i) ++ lib.mapAttrsToList (key: p: {
        assertion = false;
        message = "${opt name "settings"}.${key} = \"${p}\": the unit runs with DynamicUser and can only write below /var/lib (StateDirectory) or /var/cache (CacheDirectory); choose a directory there.";
      }) (unwritable name i)) enabled);

      systemd.services = lib.mapAttrs' (name: inst: lib.nameValuePair (unitName name) {
        description = "native-runner ${name}";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" "nix-daemon.socket" ]
          ++ lib.optional (wantsContainers inst && podman) "podman.service"
          ++ lib.optional (wantsContainers inst && docker) "docker.service";
        requires = lib.optional (wantsContainers inst && podman) "podman.service"
          ++ lib.optional (wantsContainers inst && docker) "docker.service";
        # The runner's own tools; jobs get host.path (hostPackages only).
        path = inst.hostPackages ++ [ pkgs.bubblewrap pkgs.util-linux ];
        environment = {
          HOME = stateDir name;
        } // lib.optionalAttrs (wantsContainers inst && podman && !docker) { DOCKER_HOST = "unix:///run/podman/podman.sock"; };
        serviceConfig = {
          Type = "notify";
          NotifyAccess = "main";
          WatchdogSec = mkIf (inst.watchdogSec > 0) inst.watchdogSec;
          DynamicUser = true;
          StateDirectory = [ "native-runner/${name}" ] ++ extraDirs "/var/lib" name inst;
          CacheDirectory = mkIf (extraDirs "/var/cache" name inst != [ ]) (extraDirs "/var/cache" name inst);
          StateDirectoryMode = "0700";
          WorkingDirectory = stateDir name;
          Delegate = true;
          SupplementaryGroups = lib.optional (wantsContainers inst && docker) "docker"
            ++ lib.optional (wantsContainers inst && podman) "podman";
          KillMode = "mixed";
          Restart = "on-failure";
          RestartSec = 2;
          TimeoutStopSec = inst.shutdownTimeout + 30;
          LoadCredential =
            lib.optional (registered inst) "token:${tokenCredential name inst}"
            ++ lib.mapAttrsToList (c: v: "${c}-token:${v.tokenFile}") inst.connections;
          ExecStartPre = lib.optional (registered inst) (registerScript name inst);
          ExecStart = "${pkgs.perl}/bin/perl ${./sd-notify-exec.pl} ${cfg.package}/bin/native-runner daemon --config ${configFile name inst}";
        };
      }) enabled;
    })
    (mkIf (nd.memoryMax != null || nd.cpuQuota != null) {
      systemd.services.nix-daemon.serviceConfig = lib.filterAttrs (_: v: v != null) {
        MemoryMax = nd.memoryMax;
        OOMPolicy = if nd.memoryMax != null then "continue" else null;
        CPUQuota = if nd.cpuQuota == null then null else percent nd.cpuQuota;
      };
    })
    (mkIf (nd.maxJobs != null) { nix.settings.max-jobs = nd.maxJobs; })
    (mkIf (nd.cores != null) { nix.settings.cores = nd.cores; })
  ];
}
