# A stand-in for nixpkgs, for nixenv's offline tests (no machine here reaches GitHub or
# cache.nixos.org). It mirrors the parts of the real nixpkgs API that generated flakes use
# (lib.genAttrs, lib.makeLibraryPath, lib.makeSearchPathOutput, legacyPackages.<system>,
# mkShell, writeShellScriptBin) and provides each package by linking the host's binaries,
# listed in host.nix (written by tests/standin.py for this machine).
{
  description = "stand-in nixpkgs for nixenv tests";

  outputs = { self }:
    let
      host = import ./host.nix;
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];

      lib = rec {
        genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
        concatStringsSep = builtins.concatStringsSep;
        getOutput = output: pkg: if builtins.hasAttr output pkg then builtins.getAttr output pkg else pkg;
        getLib = getOutput "lib";
        makeSearchPathOutput = output: subDir: pkgs:
          concatStringsSep ":" (map (p: "${getOutput output p}/${subDir}") pkgs);
        makeLibraryPath = makeSearchPathOutput "lib" "lib";
      };

      # Evaluating the real nixpkgs costs a few hundred ms; benchmarks ask for the same here.
      evalCost = builtins.foldl' builtins.add 0 (builtins.genList (x: x) host.evalCost);

      forSystem = system:
        let
          run = name: script: attrs: derivation ({
            inherit name system script;
            builder = "/bin/sh";
            args = [ "-c" "eval \"$script\"" ];
            PATH = host.path;
          } // attrs);

          # A package made of links to the host's files: { bin = { NAME = PATH; }; links = { DIR = PATH; }; }
          hostPkg = name: spec: run name ''
            mkdir -p "$out/bin"
            set -- $binLinks
            while [ $# -gt 0 ]; do ln -s "$2" "$out/bin/$1"; shift 2; done
            set -- $dirLinks
            while [ $# -gt 0 ]; do ln -s "$2" "$out/$1"; shift 2; done
          '' {
            binLinks = builtins.concatStringsSep " " (builtins.concatLists
              (map (n: [ n spec.bin.${n} ]) (builtins.attrNames (spec.bin or { }))));
            dirLinks = builtins.concatStringsSep " " (builtins.concatLists
              (map (n: [ n spec.links.${n} ]) (builtins.attrNames (spec.links or { }))));
          };

          setup = builtins.toFile "setup" ''
            for p in $nativeBuildInputs $buildInputs; do
              if [ -d "$p/bin" ]; then PATH="$p/bin''${PATH:+:$PATH}"; fi
            done
            export PATH
          '';
          stdenv = run "stand-in-stdenv" ''mkdir -p "$out"; cp "$setupFile" "$out/setup"'' { setupFile = setup; };

          # libgreet: a small C library with separate lib and dev outputs, like real nixpkgs libraries.
          libgreet = derivation {
            name = "libgreet-1.0";
            inherit system;
            builder = "/bin/sh";
            outputs = [ "out" "dev" ];
            PATH = host.path;
            args = [ "-c" ''
              set -e
              mkdir -p "$out/lib" "$dev/include" "$dev/lib/pkgconfig"
              printf '%s\n' 'const char *greet(void);' > "$dev/include/greet.h"
              printf '%s\n' 'const char *greet(void) { return "hello from libgreet"; }' > greet.c
              cc -shared -fPIC -o "$out/lib/libgreet.so" greet.c
              printf 'prefix=%s\nincludedir=%s/include\nlibdir=%s/lib\n\nName: greet\nDescription: stand-in test library\nVersion: 1.0\nCflags: -I''${includedir}\nLibs: -L''${libdir} -lgreet\n' "$dev" "$dev" "$out" > "$dev/lib/pkgconfig/greet.pc"
            '' ];
          };

          hostPackages = builtins.mapAttrs hostPkg host.packages;
        in
        hostPackages // {
          inherit lib stdenv libgreet;

          mkShell = { name ? "nix-shell", packages ? [ ], buildInputs ? [ ], nativeBuildInputs ? [ ],
                      shellHook ? "", env ? { }, ... }@attrs:
            derivation ((builtins.removeAttrs attrs [ "packages" "env" ]) // env // {
              inherit name system shellHook stdenv buildInputs;
              outputs = [ "out" ];
              nativeBuildInputs = packages ++ nativeBuildInputs;
              builder = "/bin/bash";
              args = [ "-c" "echo 'This derivation is not meant to be built, use nix develop' >&2; exit 1" ];
            });

          writeShellScriptBin = name: text: run name ''
            mkdir -p "$out/bin"
            printf '#!%s\n%s\n' /bin/bash "$text" > "$out/bin/$scriptName"
            chmod +x "$out/bin/$scriptName"
            /bin/bash -n "$out/bin/$scriptName"
          '' { inherit text; scriptName = name; };
        };
    in
    {
      inherit lib;
      legacyPackages = builtins.seq evalCost (lib.genAttrs systems forSystem);
    };
}
