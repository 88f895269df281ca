"""nixenv: Docker-free development environments from one nixenv.toml."""

__version__ = "0.1.0"
