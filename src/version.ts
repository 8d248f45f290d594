/** The runner's version, as `--version` prints it and as Declare/Register send it to the server. */
export const VERSION = "v0.1.0";

/** What `--version` prints, under every name the binary is installed as (forgejo-runner prints the same shape). */
export const VERSION_LINE = `native-runner version ${VERSION}`;
