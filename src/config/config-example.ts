// The text of config.example.yaml, embedded so the bundled CLI needs no data files.
// Keep both in step (node test/config/regen-config-example.mjs); a test checks they are equal.
export const CONFIG_EXAMPLE = `# native-runner configuration.
#
# Every key is optional and this file can be used as it is. Print it with
# \`native-runner generate-config > config.yaml\` and pass it with
# \`-c config.yaml\` (or \`--config\`) to every command. The values below are the
# defaults, except where forgejo-runner's generate-config prints something
# else for the same key: runner.envs (two example variables; absent: none),
# runner.env_file (.env; absent: none) and runner.shutdown_timeout (3h;
# absent: 0s). Those follow forgejo-runner, so either runner reads this file
# the same way.
#
# The log, runner, cache, container and host sections read exactly like
# forgejo-runner's config.yaml (same keys, same defaults, same quirks), and
# server.connections like forgejo-runner v13's. Keys marked (native-runner)
# are this runner's own; forgejo-runner ignores them.
#
# Durations: Go syntax ("2s", "1h30m", "500ms"), "30d" for days, or a
# number of seconds.
# Sizes: "10GiB", "512M" (K/M/G/T are powers of 1024), "1.5GB" (powers of
# 1000) or a number of bytes. Relative paths are relative to the working
# directory the runner is started in.

log:
  # Level of the runner's own log: trace, debug, info, warn, error or fatal.
  level: info
  # Level of the job logs sent to Forgejo (shown in the web UI).
  job_level: info
  # (native-runner) auto = human-readable on a terminal, JSON otherwise;
  # or force json / pretty.
  format: auto

runner:
  # Where \`register\` / \`create-runner-file\` store the registration (uuid and
  # token) and where \`daemon\` reads it. Its directory is also the runner's
  # state directory.
  file: .runner
  # How many jobs run at the same time. 0 or less means 1.
  capacity: 1
  # Extra environment variables for every job (absent: none).
  envs:
    A_TEST_ENV_NAME_1: a_test_env_value_1
    A_TEST_ENV_NAME_2: a_test_env_value_2
  # A dotenv file (KEY=value lines) merged into envs. Ignored when empty or
  # when the file does not exist (absent: none).
  env_file: .env
  # Deadline for a whole job. Forgejo has its own job timeout (3h by default).
  timeout: 3h
  # On SIGTERM/SIGINT: how long running jobs may go on before they are
  # cancelled. 0 cancels them at once (absent: 0s). Their final logs are
  # still sent.
  shutdown_timeout: 3h
  # Skip TLS certificate verification for the Forgejo instance.
  insecure: false
  # Timeout of one FetchTask request.
  fetch_timeout: 5s
  # (native-runner) A FetchTask answer larger than this is refused (and
  # logged) without being read whole.
  fetch_max_size: 32MiB
  # How often to ask Forgejo for a job. Forced to at least 30s for
  # codeberg.org.
  fetch_interval: 2s
  # (Gitea act_runner key) While idle (two minutes after the last job), the
  # fetch interval doubles after each empty answer up to this ceiling (at
  # most 30s): fewer requests for large fleets, but a job that arrives after
  # an idle spell waits about half the ceiling on average. By default it
  # equals fetch_interval: no backoff, a job is picked up within fetch_interval.
  fetch_interval_max: 2s
  # How often logs and step states of a running job are sent.
  report_interval: 1s
  # Retries of the final log and state upload at the end of a job. The delay
  # doubles after each attempt, up to max_delay (0 = no cap).
  report_retry:
    max_retries: 10
    initial_delay: 100ms
    max_delay: 0s
  # Labels decide which jobs the runner takes (\`runs-on\`) and how it runs
  # them: \`name:host\` runs on this machine, \`name:docker://image\` in a
  # container, \`name:lxc://image\` in LXC, a bare \`name\` means
  # \`name:docker://node:22-bookworm\`. Only the names are sent to Forgejo.
  # When set, these override the labels stored in the .runner file and are
  # used by \`register\` instead of --labels.
  # Example: [native:host]
  labels: []
  # (native-runner) Refuse jobs from other repositories, even when Forgejo
  # offers them: entries are owner/repo or owner/*. Empty = any repository.
  trusted_repos: []
  # (native-runner) Refuse jobs triggered by other events (for example
  # [push, workflow_dispatch, schedule]). Empty = any event.
  trusted_events: []
  # (native-runner) Encoding of the runner protocol: proto (binary, what
  # forgejo-runner sends) or json.
  protocol: proto

cache:
  # Give jobs an actions/cache server (ACTIONS_CACHE_URL). When false the
  # other cache keys do not apply.
  enabled: true
  # Where the internal cache server stores its data.
  # Empty means $HOME/.cache/actcache.
  dir: ""
  # Port of the internal cache server; 0 picks a free port.
  port: 0
  # Host name or IP that jobs use to reach the cache proxy. Empty means
  # detected automatically.
  host: ""
  # Port of the per-job cache proxy; 0 picks a free port.
  proxy_port: 0
  # URL of an external \`cache-server\` to use instead of the internal one.
  # Requires secret (or secret_url), shared with that server.
  external_server: ""
  # Shared secret between the cache proxy and the cache server. Empty means
  # a random secret at each start.
  secret: ""
  # (native-runner) Read the secret from a file instead: file:/path or
  # file:$CREDENTIALS_DIRECTORY/name (systemd credentials). Not together
  # with secret.
  secret_url: ""
  # Override the ACTIONS_CACHE_URL given to jobs.
  actions_cache_url_override: ""
  # (native-runner) Total size of the cache; the least recently used
  # entries are evicted beyond it.
  max_size: 10GiB
  # (native-runner) Maximum age of a signed proxy request; 0 = no limit.
  mac_max_age: 10m

container:
  # Only for container labels (docker://); native:host jobs ignore this
  # section.
  # Network for job containers: host, bridge, a network name, or empty to
  # create one per job. (The old key network_mode: bridge means empty.)
  network: ""
  # Create the per-job network with IPv6.
  enable_ipv6: false
  # Run job containers privileged (needed for Docker-in-Docker).
  privileged: false
  # Extra \`docker run\` options, e.g. --volume /etc/ssl/certs:/etc/ssl/certs:ro
  options: ""
  # Parent of the workspace inside the container (/workspace/owner/repo).
  workdir_parent: workspace
  # Volumes and bind mounts jobs may use (glob patterns; '**' allows all).
  valid_volumes: []
  # Docker daemon socket to mount into job containers: "-" = none,
  # automount = find one, or a unix:// URL. The runner itself talks to
  # DOCKER_HOST (else /var/run/docker.sock or /run/podman/podman.sock).
  docker_host: "-"
  # Pull images even when present.
  force_pull: false
  # Rebuild local action images even when present.
  force_rebuild: false
  # Refuse to start when the container daemon does not answer (only with
  # container labels).
  require_docker: false
  # How long API calls to the container daemon may take; 0 = no limit.
  docker_timeout: 0s

host:
  # Parent of the job directories of host (native:host) jobs.
  # Empty means $HOME/.cache/act.
  workdir_parent: ""
  # (native-runner) How host jobs are isolated: auto picks the strongest
  # available (uid+bwrap, uid, bwrap) and refuses to start when none works;
  # or force one of uid+bwrap, uid, bwrap or none. none (jobs can read the
  # runner's token and secrets) is only ever used when set here explicitly.
  # Per-job uids need a root runner and uid_range.
  isolation: auto
  # (native-runner) Per-job cgroups for limits and reliable kill: auto,
  # delegated (a systemd unit with Delegate=yes), systemd (transient scopes),
  # raw (cgroupfs as root) or none.
  cgroups: auto
  # (native-runner) PATH for jobs. Unset = the runner's own PATH (on NixOS,
  # the module's hostPackages).
  # path: /run/current-system/sw/bin
  # (native-runner) The node binary for JavaScript actions. Unset = node
  # from PATH.
  # node: /usr/bin/node
  # (native-runner) Range of uids given to jobs when the runner runs as
  # root (one per running job); count 0 = no per-job uids. Keep it clear of
  # other users, nixbld and systemd's DynamicUser range 61184-65519, for
  # example start: 1900000, count: 1000.
  uid_range:
    start: 0
    count: 0
  # (native-runner) Primary group of per-job uids, as a gid or a group name
  # (e.g. nix-users, for access to the nix daemon). Unset = same as the uid.
  # job_gid: nix-users
  # (native-runner) Extra absolute paths hidden from jobs. The runner's
  # state directory, config file and credentials are always hidden.
  hidden_paths: []
  # (native-runner) Limits per job; 0 = unlimited.
  resources:
    # Memory, e.g. 4GiB.
    memory_max: 0
    # CPU in percent of one CPU: 150 = one and a half CPUs.
    cpu_quota: 0
    # Number of processes and threads.
    pids_max: 0
  # (native-runner) While jobs keep coming, keep the next job's worker started
  # in a prepared sandbox (saves about 100 ms per job; none while idle).
  prestart_worker: true

actions:
  # (native-runner) Where fetched actions (uses:) are cached.
  # Empty means <host.workdir_parent>/actions.
  cache_dir: ""
  # (native-runner) Use only cached actions, never fetch.
  cache_offline: false
  # (native-runner) Size of the actions cache before old entries go.
  max_cache_size: 5GiB

nix:
  # (native-runner) Keep the Nix store paths a job built alive by adding GC
  # roots under <state dir>/gcroots, so a binary cache keeps serving them.
  gcroots:
    enabled: true
    # Drop roots older than this; 0 = never.
    ttl: 720h
    # Keep at most this many runs per repository and branch; 0 = no limit.
    keep_last: 5
    # Only keep outputs of runs on the default branch.
    default_branch_only: true
  # (native-runner) NIX_CONFIG given to every job.
  job_config: |-
    accept-flake-config = false
    experimental-features = nix-command flakes
  # (native-runner) Warn at start when the runner's user is a Nix
  # trusted-user (jobs could then sign or substitute anything).
  warn_trusted_user: true

metrics:
  # (Gitea act_runner keys) Serve Prometheus /metrics and /healthz; the
  # series are listed in docs/configuration.md.
  enabled: false
  addr: 127.0.0.1:9101

# forgejo-runner v13 style: connections declared here instead of a .runner
# file (do not use both). One daemon can serve several Forgejo instances;
# all connections share runner.capacity.
server:
  connections: {}
  #  forgejo:                       # the connection's name
  #    url: https://forgejo.example/
  #    uuid: 8b0f3c9e-0b64-4a39-9f16-3cfd3a4e2a10
  #    token_url: file:$CREDENTIALS_DIRECTORY/forgejo-token   # or token: <runner token>
  #    labels: [native:host]        # default: runner.labels
  #    fetch_interval: 2s           # default: runner.fetch_interval
  #    trusted_repos: [me/*]        # (native-runner) default: runner.trusted_repos
  #    trusted_events: []           # (native-runner) default: runner.trusted_events
  #    cache_mode: readwrite        # (native-runner) or read: jobs may restore but not save caches
`;
