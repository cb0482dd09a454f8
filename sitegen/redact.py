"""Remove secrets from text before it is written or rendered anywhere public.

Masking errs on the side of too much: a log line that loses a harmless word is a small
cost, a published credential is not. Patterns run from the most specific (token formats
with known prefixes) to the most general (any `password=...`), so a general pattern
never cuts a specific one in half and leaves its tail.
"""

from __future__ import annotations

import re
from functools import cache

MASK = "[REDACTED]"

# Token formats with a recognisable prefix: the whole match is the secret.
_TOKENS = re.compile(
    "|".join(
        (
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
            r"\bgh[pousr]_[A-Za-z0-9]{30,255}\b",  # GitHub tokens
            r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",  # GitHub fine-grained tokens
            r"\bglpat-[A-Za-z0-9_-]{20,}",  # GitLab personal access tokens
            r"\bxox[abposre]-[A-Za-z0-9-]{10,}",  # Slack tokens
            r"\bAIza[0-9A-Za-z_-]{35}",  # Google API keys
            r"\bya29\.[0-9A-Za-z_-]{20,}",  # Google OAuth access tokens
            r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",  # Stripe keys
            r"\bwhsec_[0-9A-Za-z]{20,}",  # Stripe webhook secrets
            r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",  # OpenAI / Anthropic keys
            r"\bnpm_[A-Za-z0-9]{36}\b",  # npm tokens
            r"\bpypi-[A-Za-z0-9_-]{50,}",  # PyPI tokens
            r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",  # SendGrid keys
            # JSON Web Tokens (also unsigned ones, and 5-part JWE)
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}",
            # PEM private keys (RSA, EC, OpenSSH, PGP, encrypted): to the END line or the end
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)",
        )
    )
)

# Headers that carry a credential whatever their value looks like.
_HEADERS = (
    r"(?:proxy-)?authorization|(?:set-)?cookie|x-(?:auth|access|api|csrf|xsrf|amz-security)"
    r"-?token|x-api-key"
)
# A header's value: the whole line's rest, a quoted string, or an array of them as JSON,
# Go's http.Header (map[Cookie:[a=b]]) or Python print it; an array too long to see the
# end of is masked to the end of the line.
_HEADER = re.compile(
    rf"(?i)(\b(?:{_HEADERS})\\?[\"']?\s*[:=]\s*)"
    r"(\[[^\]\r\n]{0,4096}\]|\[[^\r\n]*|(\\?[\"']?)[^\"'\r\n\\]+(?:[\"'][^\"'\r\n\\]*[\"'])?)"
)


def _header_value(m: re.Match[str]) -> str:
    if m.group(2).startswith("["):
        return f"{m.group(1)}[{MASK}]"
    return m.group(1) + (m.group(3) or "") + MASK


# Each of these keeps its harmless context (group 1) and masks what follows it.
_CONTEXT = (
    # Bearer credentials wherever they appear, whatever they look like
    re.compile(r"(\b(?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # Token scheme credentials (Django REST framework, Rails): a long run with a digit
    re.compile(r"(\b(?i:token)\s+)(?=[A-Za-z0-9._~+/=-]{0,255}\d)[A-Za-z0-9._~+/=-]{16,256}"),
    # Basic credentials ("basic setup" is prose: base64 of user:password has a digit, a
    # capital or a symbol)
    re.compile(r"(\b(?i:basic)\s+)(?=[A-Za-z0-9._~+/=-]*[0-9A-Z._~+/=-])[A-Za-z0-9._~+/=-]{8,}"),
    # user:password@ in URLs: the password may hold ":", "/" or "@"; the last "@" ends it
    # (bounded: unbounded runs made a long line without "@" cost quadratic time)
    re.compile(
        r"(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}://[^\s/:@\"'<>]{0,256}:)"
        r"(?:[^\s\"\\]|\\.){1,256}(?=@)"
    ),
    # Go DSNs without a scheme: user:password@tcp(host:3306)/db
    re.compile(r"(\b[\w.-]{1,256}:)[^\s@/]{1,256}(?=@(?:tcp|udp|unix)\()"),
    # Slack webhooks carry their secret in the path
    re.compile(r"(https://hooks\.slack\.com/)[^\s\"'<>]+"),
    # Signed URLs: S3 presigned, Azure SAS, OAuth codes and tokens in query strings
    re.compile(
        r"(?i)([?&](?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|"
        r"access_token|refresh_token|id_token|code|token|key|apikey|api_key)=)[^&\s\"'<>#]+"
    ),
)

# Keys that name a secret; the value after them (quoted or bare) is masked. The key may
# be embedded in a longer name: SecretAccessKey, db_password, x-api-key, refresh_token.
_SECRET_WORDS = (
    r"secret|passw(?:or)?d|passwd|passphrase|pwd|token|api[_-]?key|access[_-]?key|"
    r"private[_-]?key|account[_-]?key|credentials?|sess(?:ion)?[_-]?id|signature"
)
# A key starts where a run of name characters starts, and the runs around the word are
# bounded: otherwise a long run without a secret word in it costs quadratic time.
# The secret word is in the key's last dotted part (db.password, not Token.method) and the
# rest of that part is kept apart, to tell token_type or passwordPolicy from a secret.
_KEY_VALUE = re.compile(
    rf"(?i)((?<![\w.-])[\w.-]{{0,128}}(?:{_SECRET_WORDS})(?P<rest>[\w-]{{0,64}})\\?[\"']?"
    r"\s{0,8}[:=]\s{0,8})"
    r"(\\\"(?:(?!\\\").)*\\\"|\"(?:[^\"\\]|\\.)*\"|'[^']*'|[\"']?[^\s,;&\"'<>]+)"
)
# A 40-character AWS secret key a little after the word "secret" ("secret key: ...").
_NEAR_SECRET = re.compile(
    r"(?i)(secret[\w\s\"':=-]{0,30}?)(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
)
_SECRET_KEY = re.compile(
    rf"(?i)(?:{_SECRET_WORDS}|authorization|\bauth\b|cookie|dsn)(?P<rest>[a-z0-9_-]*)", re.ASCII
)
# What a name may go on with after a secret word and still hold none: it names a property
# of the secret (tokenValiditySeconds, token_type, password_length, passwordPolicy).
_PROPERTIES = frozenset(
    (
        *("type", "ttl", "expiry", "expires", "expiresin", "expiresat", "validity"),
        *("validityseconds", "length", "minlength", "maxlength", "policy", "count", "url"),
        *("uri", "endpoint", "path", "file", "service", "kind", "name", "names"),
    )
)
# A value that opens an object's printout (Java's Token{a64f992 ..., Hadoop's Token { kind:
# ...}): a class, not a credential.
_OBJECT = re.compile(r"[A-Z][A-Za-z0-9_$]*(?:\{[0-9a-f]{6,8}\s| \{ \w+:)")


def _property(rest: str) -> bool:
    return rest.replace("_", "").replace("-", "").lower() in _PROPERTIES


def _after_context(m: re.Match[str]) -> str:
    return m.group(1) + MASK


def _masked_value(m: re.Match[str]) -> str:
    """Mask a key's value, keeping the quotes around it so JSON-looking text stays readable."""
    if _property(m.group("rest")) or _OBJECT.match(m.string, m.start(3)):
        return m.group(0)
    value = m.group(3)
    quote = value[:2] if value.startswith('\\"') else value[:1] if value[:1] in "\"'" else ""
    closing = quote if len(value) > 2 * len(quote) and value.endswith(quote) else ""
    return m.group(1) + quote + MASK + closing


@cache
def _compiled(extra: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    # Config validation already compiled each one; this compiles them once per process.
    return tuple(re.compile(p) for p in extra)


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Return text with every known kind of secret, and whatever `extra` matches, masked."""
    text = _TOKENS.sub(MASK, text)
    text = _HEADER.sub(_header_value, text)
    for pattern in _CONTEXT:
        text = pattern.sub(_after_context, text)
    text = _KEY_VALUE.sub(_masked_value, text)
    text = _NEAR_SECRET.sub(lambda m: m.group(1) + MASK, text)
    for pattern in _compiled(extra):
        text = pattern.sub(MASK, text)
    return text


def redact_field(key: str, value: str, extra: tuple[str, ...] = ()) -> str:
    """Return a structured field's value, masked whole when its key names a secret."""
    secret = any(not _property(m.group("rest")) for m in _SECRET_KEY.finditer(key))
    return MASK if secret else redact(value, extra)


# A private key logged one line per record: the BEGIN line, base64 lines, the END line.
_BLOCK_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_BLOCK_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_BODY = re.compile(r"\s*[A-Za-z0-9+/]{40,80}={0,2}\s*")
MAX_BLOCK_LINES = 120  # an 8192-bit RSA key is about 100 lines: a block cannot go on forever


class KeyBlocks:
    """Masks the lines of private keys spread over several records, in record order.

    `inside` (lines masked so far, or -1) is the state to carry to the next call, so a
    key cut between two cycles is still masked.
    """

    def __init__(self, inside: int = -1) -> None:
        self.inside = inside

    def mask(self, line: str) -> str:
        """Return the line, or MASK when it is part of a private key."""
        if self.inside >= 0:
            self.inside += 1
            if _BLOCK_END.search(line) or self.inside >= MAX_BLOCK_LINES:
                self.inside = -1
            return MASK
        if (begin := _BLOCK_BEGIN.search(line)) and not _BLOCK_END.search(line, begin.end()):
            self.inside = 0  # the key goes on in the next records
            return redact(line)
        # A base64 line on its own: a key whose BEGIN line was skipped or cut off.
        return MASK if _KEY_BODY.fullmatch(line) else line
