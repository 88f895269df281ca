"""sops's dotenv format: what it can hold, how it parses, and reading names without a key.

sops 3.11's dotenv parser (see reference.md §2) splits each line at the first `=`, does no
quote handling or trimming, and turns the two characters `\\n` anywhere in a value into a
newline. So a value holding a literal backslash followed by `n` cannot survive `sops -d`,
`sops edit` or an import; nixenv rejects such values instead of corrupting them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nixenv.config.load import ENV_NAME, RESERVED_ENV

# Keys sops treats as its own metadata in a dotenv file.
METADATA_PREFIX = "sops_"
# Keys with this suffix are stored in clear by sops (its default `unencrypted_suffix`).
UNENCRYPTED_SUFFIX = "_unencrypted"
_ENC = re.compile(r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:\w+\]\Z")


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a secret's name, or None."""
    if not ENV_NAME.match(key):
        return (f"{key!r} is not a valid environment variable name "
                "(use letters, digits and _, not starting with a digit)")
    if key.lower().startswith(METADATA_PREFIX):
        return f"{key!r} starts with `sops_`, which sops reserves for its own metadata"
    if key.endswith(UNENCRYPTED_SUFFIX):
        return f"{key!r} ends with `{UNENCRYPTED_SUFFIX}`: sops would store its value unencrypted"
    if key in RESERVED_ENV or key.startswith("DIRENV_"):
        return f"{key!r} is managed by the shell, nix, direnv or nixenv and cannot be a secret"
    return None


def value_problem(value: str) -> str | None:
    """Why `value` cannot round-trip through sops's dotenv format, or None. Never quotes the value."""
    if "\0" in value:
        return "the value holds a NUL character, which no environment variable can hold"
    if "\\n" in value:
        return ("the value holds a backslash followed by `n`; sops's dotenv format turns those two "
                "characters into a newline, so it cannot be stored exactly (use a real newline, or "
                "encode the value, e.g. base64)")
    return None


def parse_sops(text: str) -> dict[str, str]:
    """Parse plaintext dotenv exactly as sops 3.11 does (for `import --raw` and for tests)."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"line {number}: no `=` (sops rejects such a line)")
        out[key] = value.replace("\\n", "\n")
    return out


def parse_conventional(text: str) -> dict[str, str]:
    """Parse a hand-written .env the way docker compose / direnv users write one.

    Blank lines and `#` comment lines are skipped, `export ` is dropped, whitespace around
    the key and `=` is trimmed. A value wrapped in single quotes is literal; in double quotes
    `\\n`, `\\t`, `\\"` and `\\\\` are escapes and the value may span lines. An unquoted value
    is taken as written up to the end of the line (trailing whitespace and a ` #` comment
    removed).
    """
    out: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export ") or stripped.startswith("export\t"):
            stripped = stripped[len("export"):].lstrip()
        key, sep, rest = stripped.partition("=")
        if not sep:
            raise ValueError(f"line {number}: expected KEY=value")
        key, rest = key.strip(), rest.lstrip()
        if rest[:1] == "'":
            end = rest.find("'", 1)
            if end < 0:
                raise ValueError(f"line {number}: unterminated single quote")
            value = rest[1:end]
        elif rest[:1] == '"':
            value, rest_index, body = None, 1, rest
            chars: list[str] = []
            while value is None:
                if rest_index >= len(body):
                    if index >= len(lines):
                        raise ValueError(f"line {number}: unterminated double quote")
                    chars.append("\n")
                    body, rest_index = lines[index], 0
                    index += 1
                    continue
                c = body[rest_index]
                if c == "\\" and rest_index + 1 < len(body):
                    nxt = body[rest_index + 1]
                    chars.append({"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}.get(nxt, "\\" + nxt))
                    rest_index += 2
                elif c == '"':
                    value = "".join(chars)
                else:
                    chars.append(c)
                    rest_index += 1
        else:
            value = re.sub(r"\s+#.*\Z", "", rest).rstrip()
        out[key] = value
    return out


def encode_sops(values: dict[str, str]) -> str:
    """Plaintext dotenv that sops parses back into exactly `values` (validated first)."""
    return "".join(f"{k}={v.replace(chr(10), chr(92) + 'n')}\n" for k, v in values.items())


@dataclass(frozen=True)
class EncryptedFile:
    """What can be read from an encrypted dotenv file without any key."""

    names: tuple[str, ...]  # secret names, in file order
    clear: tuple[str, ...]  # names whose value is neither encrypted nor empty
    has_metadata: bool  # sops_mac and sops_version present
    damage: str | None = None  # why the file looks cut off or stripped (a sops file that lost part of itself)

    @property
    def encrypted(self) -> bool:
        return self.has_metadata and not self.clear and self.damage is None


_AGE_END = "-----END AGE ENCRYPTED FILE-----\\n"  # how sops's dotenv writes the end of a wrapped key


def read_encrypted(text: str) -> EncryptedFile:
    names: list[str] = []
    clear: list[str] = []
    cut: list[str] = []
    meta: dict[str, str] = {}
    lines = text.split("\n")
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.startswith(METADATA_PREFIX):
            meta[key] = value
    suffix = meta.get("sops_unencrypted_suffix", UNENCRYPTED_SUFFIX)
    encrypted = 0
    for line in lines:
        if not line:
            continue
        if line.startswith("#"):
            if _ENC.match(line[1:]):
                encrypted += 1
            elif line[1:].startswith("ENC["):
                cut.append("(a comment)")
            else:
                clear.append("(a comment)")
            continue
        key, _, value = line.partition("=")
        if key.startswith(METADATA_PREFIX):
            continue
        names.append(key)
        if _ENC.match(value):
            encrypted += 1
        elif value.startswith("ENC["):
            cut.append(key)
        elif value and not (suffix and key.endswith(suffix)):
            clear.append(key)
    has_metadata = {"sops_mac", "sops_version"} <= set(meta)
    return EncryptedFile(tuple(names), tuple(clear), has_metadata, _damage(text, meta, cut, encrypted, has_metadata))


def _damage(text: str, meta: dict[str, str], cut: list[str], encrypted: int, has_metadata: bool) -> str | None:
    """Signs that a sops file lost part of itself (truncated by a failed write, or edited)."""
    if cut:
        return f"the encrypted value of {', '.join(cut)} is cut off (the file was truncated)"
    wrapped = [k for k in meta if k.endswith("__map_enc")]
    if any(k.startswith("sops_age__") and not meta[k].endswith(_AGE_END) for k in wrapped):
        return "a wrapped data key is cut off (the file was truncated)"
    if has_metadata:
        if text and not text.endswith("\n"):
            return "it ends in the middle of a line (the file was truncated)"
        return None
    if meta:
        missing = [k for k in ("sops_mac", "sops_version") if k not in meta]
        return f"its sops metadata lacks {' and '.join(missing)} (the file was truncated, or the MAC line removed)"
    if encrypted:
        return "it holds encrypted values but no sops metadata (the file was truncated)"
    return None
