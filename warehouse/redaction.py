"""Credentials out of every message: URIs such as an MLflow tracking URI carry a password
(`http://user:secret@host`), and error texts, logs and health answers quote them.

`redact` is for anything written anywhere (logs included). `public` also hides the machine's
file paths, for answers that leave the machine (an HTTP body): a client has no use for where
the warehouse or the interpreter lives, and an attacker has.
"""

from __future__ import annotations

import re

# user:password@ in any scheme://... authority
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@]*):[^/\s@]*@")
# ?password=...&token=... style query parameters and key=value pairs in connection strings
_SECRET_PARAM = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|token|secret|api_key|apikey|access_token)=)[^&\s;'\"]+",
    re.IGNORECASE,
)
# an Authorization header value quoted in a message (`Bearer sk_live_...`, `Basic dXNl...`)
_AUTH_HEADER = re.compile(r"(?P<kind>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
# file URIs (sqlite:////abs/mlflow.db, file:///abs/dir): the path part
_FILE_URI = re.compile(r"(?P<scheme>\b(?:sqlite|file|duckdb)):/{2,}[^\s'\"),;]+", re.IGNORECASE)
# an absolute path of two or more parts, not inside a URL (`/home/u/data/warehouse.duckdb`)
_ABS_PATH = re.compile(r"(?<![\w.:/~-])(?:/[\w.@+~-]+){2,}/?")
MASK = "***"
PATH_MASK = "<path>"


def redact(text: object) -> str:
    """`text` as a string with every embedded password or token replaced by ***."""
    masked = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", str(text))
    masked = _AUTH_HEADER.sub(lambda m: f"{m['kind']}{MASK}", masked)
    return _SECRET_PARAM.sub(lambda m: f"{m['key']}{MASK}", masked)


def public(text: object) -> str:
    """`redact(text)` with absolute file paths (and file URIs' paths) replaced by <path>."""
    masked = _FILE_URI.sub(lambda m: f"{m['scheme']}:///{PATH_MASK}", redact(text))
    return _ABS_PATH.sub(PATH_MASK, masked)
