"""Runs the moto DynamoDB/S3 emulator on 127.0.0.1 with one request at a time.

moto evaluates a DynamoDB ConditionExpression and then applies the update in
separate steps, without a lock, so two concurrent conditional writes can both
pass the same condition. DynamoDB itself applies each conditional write
atomically. Handling one request at a time gives the emulator that guarantee,
which the concurrent-download tests depend on.

moto also serves presigned S3 URLs without checking their signature or
expiry. The emulator checks both for any request that carries
X-Amz-Signature in its query, as S3 does, with the secret key of the
access key it names (the AWS_SECRET_ACCESS_KEY of the emulator's
environment, "test" by default), so that tests can show that S3 rejects a
tampered or expired URL.

Usage: python script/emulator.py PORT
"""

import hashlib
import hmac
import os
import sys
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class OneRequestAtATime:
    """WSGI middleware that serialises every request through one lock."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # moto returns complete bodies, so reading the whole response
            # inside the lock keeps each request's effects atomic.
            return list(self.app(environ, start_response))


def _sign(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def presign_error(environ, secret_key):
    """Return the S3 error code and message for an invalid presigned request, or None.

    Follows SigV4 query-string authentication: the canonical request is the
    method, the path as sent, the sorted query without X-Amz-Signature, the
    signed headers and UNSIGNED-PAYLOAD.
    """
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    path = raw.split("?", 1)[0]
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    params = dict(pairs)
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        return "SignatureDoesNotMatch", "unsupported algorithm"
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=timezone.utc
        )
        expires = int(params["X-Amz-Expires"])
        access_key, date, region, service, terminal = params["X-Amz-Credential"].split("/")
        signed_headers = params["X-Amz-SignedHeaders"].split(";")
        signature = params["X-Amz-Signature"]
    except (KeyError, ValueError):
        return "AuthorizationQueryParametersError", "missing or malformed signing parameters"
    if access_key != os.environ.get("AWS_ACCESS_KEY_ID", "test"):
        return "InvalidAccessKeyId", "unknown access key"
    if datetime.now(timezone.utc) > signed_at + timedelta(seconds=expires):
        return "AccessDenied", "Request has expired"
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(pairs)
        if k != "X-Amz-Signature"
    )
    headers = ""
    for name in signed_headers:
        key = "HTTP_" + name.upper().replace("-", "_")
        value = environ.get(key, environ.get(name.upper().replace("-", "_"), ""))
        headers += f"{name}:{' '.join(value.split())}\n"
    canonical = "\n".join(
        [environ["REQUEST_METHOD"], path, query, headers, ";".join(signed_headers), "UNSIGNED-PAYLOAD"]
    )
    scope = f"{date}/{region}/{service}/{terminal}"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, terminal):
        key = _sign(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "SignatureDoesNotMatch", "signature does not match"
    return None


class CheckPresignedUrls:
    """WSGI middleware that rejects the presigned requests S3 would reject."""

    def __init__(self, app):
        self.app = app
        self.secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "test")

    def __call__(self, environ, start_response):
        if "X-Amz-Signature=" in environ.get("QUERY_STRING", ""):
            error = presign_error(environ, self.secret_key)
            if error is not None:
                code, message = error
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>'
                    f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
                ).encode()
                start_response(
                    "403 Forbidden",
                    [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.app(environ, start_response)


def main():
    port = int(sys.argv[1])
    app = CheckPresignedUrls(OneRequestAtATime(DomainDispatcherApplication(create_backend_app)))
    run_simple("127.0.0.1", port, app, threaded=True)


if __name__ == "__main__":
    main()
