# nixenv's own flake: `nix develop` for working on nixenv, `nix build` / `nix profile install`
# for the CLI.
{
  description = "nixenv: Docker-free development environments from one nixenv.toml";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = builtins.head (builtins.match ''.*__version__ = "([^"]+)".*'' (builtins.readFile ./nixenv/__init__.py));
      # What nixenv runs besides nix itself (the user's nix is used, never a second one).
      runtimeTools = pkgs: [ pkgs.direnv pkgs.s6 pkgs.execline pkgs.sops pkgs.age pkgs.git ]
        ++ pkgs.lib.optionals pkgs.stdenv.isLinux [ pkgs.keyutils ];  # the secrets cache (kernel keyring)
    in
    {
      packages = forAllSystems (pkgs: {
        default = pkgs.python3Packages.buildPythonApplication {
          pname = "nixenv";
          inherit version;
          pyproject = true;
          src = ./.;
          build-system = [ pkgs.python3Packages.hatchling ];
          dependencies = with pkgs.python3Packages; [ typer jinja2 tomli-w pyyaml tomlkit ];
          makeWrapperArgs = [ "--suffix" "PATH" ":" (pkgs.lib.makeBinPath (runtimeTools pkgs)) ];
          # The test suite needs a working nix store and network-free flakes: run it with
          # `nix develop -c scripts/test`, not inside the build sandbox.
          doCheck = false;
          pythonImportsCheck = [ "nixenv" ];
          meta = {
            description = "Docker-free development environments: Nix, direnv, s6 and sops from one nixenv.toml";
            mainProgram = "nixenv";
            license = pkgs.lib.licenses.mit;
          };
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = runtimeTools pkgs ++ [
            (pkgs.python312.withPackages (ps: with ps; [ typer jinja2 tomli-w pyyaml tomlkit pytest hypothesis hatchling pip ]))
            pkgs.uv
            pkgs.poetry
            pkgs.pdm
            pkgs.honcho
            pkgs.python3Packages.supervisor
            pkgs.nodejs_22
            pkgs.redis
            pkgs.postgresql_17
            pkgs.strace
            pkgs.pkg-config
          ];
          shellHook = ''
            export NIX_CONFIG="''${NIX_CONFIG:+$NIX_CONFIG
            }extra-experimental-features = nix-command flakes"
          '';
        };
      });
    };
}
