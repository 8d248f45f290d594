# native-runner as a Nix package. Dependencies come from package-lock.json
# (importNpmLock: no separate dependency hash to maintain).
{ lib, buildNpmPackage, importNpmLock, nodejs_20, python3, makeWrapper }:

buildNpmPackage {
  pname = "native-runner";
  version = (lib.importJSON ../package.json).version;
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json ../package-lock.json ../tsconfig.json
      ../src ../scripts ../bin ../proto ../README.md ../docs
    ];
  };
  nodejs = nodejs_20;
  npmDeps = importNpmLock { npmRoot = ../.; };
  npmConfigHook = importNpmLock.npmConfigHook;
  # better-sqlite3 compiles its addon against these headers.
  nativeBuildInputs = [ python3 makeWrapper ];
  npmBuildScript = "build";
  postInstall = ''
    for alias in forgejo-runner act_runner; do
      ln -sf native-runner $out/bin/$alias
    done
  '';
  meta = {
    description = "Forgejo Actions runner that runs jobs on the host, isolated, with Nix GC-root retention";
    mainProgram = "native-runner";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
  };
}
