# A stand-in for nixpkgs, for nixenv's offline tests (no machine here reaches GitHub or
# cache.nixos.org). It mirrors the parts of the real nixpkgs API that generated flakes use
# (lib.genAttrs, lib.makeLibraryPath, lib.makeSearchPathOutput, legacyPackages.<system>,
# mkShell, writeShellScriptBin) and provides each package by linking the host's binaries,
# listed in host.nix (written by tests/testkit/standin.py for this machine).
{
  description = "stand-in nixpkgs for nixenv tests";

  outputs = { self }:
    let
      host = import ./host.nix;
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];

      lib = rec {
        genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
        concatStringsSep = builtins.concatStringsSep;
        filter = builtins.filter;
        optionalString = cond: string: if cond then string else "";
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
          hostPkgWith = extra: name: spec: run name (''
            mkdir -p "$out/bin"
            set -- $binLinks
            while [ $# -gt 0 ]; do ln -s "$2" "$out/bin/$1"; shift 2; done
            set -- $dirLinks
            while [ $# -gt 0 ]; do ln -s "$2" "$out/$1"; shift 2; done
          '' + extra) {
            binLinks = builtins.concatStringsSep " " (builtins.concatLists
              (map (n: [ n spec.bin.${n} ]) (builtins.attrNames (spec.bin or { }))));
            dirLinks = builtins.concatStringsSep " " (builtins.concatLists
              (map (n: [ n spec.links.${n} ]) (builtins.attrNames (spec.links or { }))));
          };
          hostPkg = name: spec: (hostPkgWith "" name spec) // { overrideHook = extra: hostPkgWith extra name spec; };

          # stdenv's setup, as far as devshells see it (pkgs/stdenv/generic/setup.sh): inputs and
          # what they propagate (nix-support/propagated-build-inputs), each input's
          # nix-support/setup-hook sourced, then every env hook run on every input; and the
          # fallback SOURCE_DATE_EPOCH that setup.sh exports.
          setup = builtins.toFile "setup" ''
            export SOURCE_DATE_EPOCH
            : "''${SOURCE_DATE_EPOCH:=315532800}"
            addToSearchPathWithCustomDelimiter() {
              local delimiter=$1 varName=$2 dir=$3
              if [[ -d $dir && ''${!varName:+$delimiter''${!varName}$delimiter} != *"$delimiter$dir$delimiter"* ]]; then
                export "''${varName}=''${!varName:+''${!varName}''${delimiter}}''${dir}"
              fi
            }
            envHooks=()
            addEnvHooks() { shift; envHooks+=("$@"); }
            allInputs=()
            findInputs() {
              local p q
              for p; do
                case " ''${allInputs[*]} " in *" $p "*) continue ;; esac
                allInputs+=("$p")
                if [[ -f $p/nix-support/propagated-build-inputs ]]; then
                  read -ra q <"$p/nix-support/propagated-build-inputs"
                  findInputs "''${q[@]}"
                fi
              done
            }
            findInputs $nativeBuildInputs $buildInputs
            for p in "''${allInputs[@]}"; do
              if [ -d "$p/bin" ]; then PATH="$p/bin''${PATH:+:$PATH}"; fi
              if [ -f "$p/nix-support/setup-hook" ]; then source "$p/nix-support/setup-hook"; fi
            done
            for p in "''${allInputs[@]}"; do
              for hook in "''${envHooks[@]}"; do "$hook" "$p"; done
            done
            unset p hook
            export PATH
          '';
          stdenv = run "stand-in-stdenv" ''mkdir -p "$out"; cp "$setupFile" "$out/setup"'' { setupFile = setup; }
            // { hostPlatform = { inherit isLinux; isDarwin = !isLinux; }; cc = { cc = { lib = ccLib; }; }; };

          isLinux = builtins.match ".*-linux" system != null;

          # The C++ runtime (stdenv.cc.cc.lib) and zlib, as the .envrc preloads them into the venv's
          # python. libstdc++.so.6 here is a stand-in library (soname libstdc++.so.6, one function)
          # that the host's loader would never pick: a module linked against it imports only if
          # the preload happened. libgcc_s and libz are the host's own (harmless to preload).
          ccLib = run "gcc-stand-in-lib" ''
            set -e
            mkdir -p "$out/lib"
            printf '%s\n' 'const char *nixenv_standin_cxx(void) { return "stand-in libstdc++"; }' > cxx.c
            cc -shared -fPIC -Wl,-soname,libstdc++.so.6 -o "$out/lib/libstdc++.so.6" cxx.c
            ln -s "$(cc -print-file-name=libgcc_s.so.1)" "$out/lib/libgcc_s.so.1"
          '' { };
          zlib = run "zlib-stand-in" ''
            set -e
            mkdir -p "$out/lib"
            ln -s "$(cc -print-file-name=libz.so.1)" "$out/lib/libz.so.1"
          '' { };

          # Python as nixpkgs builds it (pkgs/development/interpreters/python/setup-hook.sh): the
          # interpreter's setup hook adds <input>/lib/pythonX.Y/site-packages of every input to
          # PYTHONPATH and exports PYTHONHASHSEED=0, DETERMINISTIC_BUILD=1, PYTHONNOUSERSITE=1.
          # One host interpreter stands in for every python3XX; sitePackages follows the attribute.
          mkPython = minor: spec:
            let sitePackages = "lib/python3.${minor}/site-packages"; in
            (hostPkg "python3${minor}" spec).overrideHook ''
              mkdir -p "$out/nix-support"
              printf '%s\n' \
                'addPythonPath() { addToSearchPathWithCustomDelimiter : PYTHONPATH "$1/${sitePackages}"; }' \
                'addEnvHooks "$hostOffset" addPythonPath' \
                'export DETERMINISTIC_BUILD=1' 'export PYTHONHASHSEED=0' 'export PYTHONNOUSERSITE=1' \
                > "$out/nix-support/setup-hook"
            '' // { inherit sitePackages; };

          # A Python module package as buildPythonPackage makes it: its files in
          # lib/pythonX.Y/site-packages, the interpreter and its dependencies propagated, and the
          # passthru that nixpkgs' toPythonModule sets (pythonModule, requiredPythonModules).
          mkPyModule = python: name: version: deps:
            let
              drv = run "python3-${name}-${version}" ''
                set -e
                site="$out/${python.sitePackages}"
                mkdir -p "$site/${name}-${version}.dist-info" "$out/nix-support"
                printf '__version__ = "%s"\nFROM = "nixpkgs"\n' "${version}" > "$site/${name}.py"
                printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' "${name}" "${version}" > "$site/${name}-${version}.dist-info/METADATA"
                : > "$site/${name}-${version}.dist-info/RECORD"
                printf '%s\n' "$propagated" > "$out/nix-support/propagated-build-inputs"
              '' { propagated = builtins.concatStringsSep " " (map toString ([ python ] ++ deps)); };
            in
            drv // { pythonModule = python; requiredPythonModules = [ python ] ++ deps; };

          # A Python application as buildPythonApplication makes it: no pythonModule, but its
          # dependencies are propagated, so their site-packages reach a devshell's PYTHONPATH.
          mkPyApp = python: name: deps: run name ''
            set -e
            mkdir -p "$out/bin" "$out/nix-support"
            printf '#!/bin/sh\necho %s\n' "${name}" > "$out/bin/${name}"
            chmod +x "$out/bin/${name}"
            printf '%s\n' "$propagated" > "$out/nix-support/propagated-build-inputs"
          '' { propagated = builtins.concatStringsSep " " (map toString ([ python ] ++ deps)); };

          pythons = builtins.listToAttrs (map
            (minor: { name = "python3${minor}"; value = mkPython minor host.packages."python3${minor}"; })
            (builtins.filter (minor: host.packages ? "python3${minor}") [ "11" "12" "13" "14" ]));
          pythonPackageSets = builtins.mapAttrs (_: python: {
            six = mkPyModule python "six" "1.16.0" [ ];
            nodeenv = mkPyModule python "nodeenv" "1.9.1" [ ];
          }) pythons;

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

          # postgresql_NN.pkgs and .withPackages, modelled on nixpkgs pkgs/servers/sql/postgresql/generic.nix:
          # `postgresqlWithPackages { postgresql, buildEnv }: f:` is a buildEnv of `f postgresql.pkgs` plus
          # postgresql itself (the server and its extensions side by side). Here `pkgs` holds the extensions
          # host.nix lists (postgresqlExtensions, the host's files); any other `ps.X` is a missing attribute,
          # as for an extension nixpkgs does not have. Contrib modules (pg_trgm...) are in postgresql itself.
          withPostgresPackages = name: pg: pg // rec {
            pkgs = builtins.mapAttrs hostPkg (host.postgresqlExtensions or { });
            withPackages = f: run "${name}-and-plugins" ''
              mkdir -p "$out/bin"
              for p in $paths; do
                if [ -d "$p/bin" ]; then for b in "$p"/bin/*; do ln -sf "$b" "$out/bin/"; done; fi
              done
            '' { paths = f pkgs ++ [ pg ]; };
          };
          hostPackages = builtins.mapAttrs (name: spec:
            if builtins.match "postgresql_[0-9]+" name != null then withPostgresPackages name (hostPkg name spec)
            else hostPkg name spec) host.packages;
        in
        hostPackages // pythons // {
          inherit lib stdenv libgreet zlib;
          python3 = pythons.python312;
          # a Python application from nixpkgs, whose dependencies propagate (as pre-commit's do)
          pre-commit = mkPyApp pythons.python312 "pre-commit" [ pythonPackageSets.python312.nodeenv ];
        } // builtins.listToAttrs (map (name: { name = "${name}Packages"; value = pythonPackageSets.${name}; })
          (builtins.attrNames pythonPackageSets)) // {

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
