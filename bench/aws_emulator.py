"""The project's moto emulator (script/emulator.py) with a request counter.

Every request is counted by service and operation before moto handles it:
DynamoDB by its X-Amz-Target (``dynamodb GetItem``), S3 by method and
whether it names a bucket or an object (``s3 GET object``). The service
comes from the SigV4 credential scope of the Authorization header.

``GET /_bench/counts`` returns the counts as a JSON object and
``POST /_bench/reset`` sets them to zero; neither is counted.

Usage: python bench/aws_emulator.py PORT
"""

import collections
import importlib.util
import json
import os
import re
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def load_project_emulator():
    path = os.path.join(os.path.dirname(__file__), "..", "script", "emulator.py")
    spec = importlib.util.spec_from_file_location("project_emulator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def operation(environ):
    scope = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else "unsigned"
    if service == "dynamodb":
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        return f"dynamodb {target.rpartition('.')[2] or 'unknown'}"
    if service == "s3":
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
        resource = "object" if len(parts) > 1 else "bucket"
        return f"s3 {environ.get('REQUEST_METHOD', '?')} {resource}"
    return f"{service} {environ.get('REQUEST_METHOD', '?')}"


class Counting:
    """WSGI middleware that counts each AWS request by operation."""

    def __init__(self, app):
        self.app = app
        self.counts = collections.Counter()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            return self.control(path, environ, start_response)
        with self.lock:
            self.counts[operation(environ)] += 1
        return self.app(environ, start_response)

    def control(self, path, environ, start_response):
        if path == "/_bench/reset" and environ.get("REQUEST_METHOD") == "POST":
            with self.lock:
                self.counts.clear()
        elif path != "/_bench/counts":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"unknown bench route\n"]
        with self.lock:
            body = json.dumps(dict(self.counts), sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


def main():
    port = int(sys.argv[1])
    project = load_project_emulator()
    app = Counting(project.OneRequestAtATime(DomainDispatcherApplication(create_backend_app)))
    run_simple("127.0.0.1", port, app, threaded=True)


if __name__ == "__main__":
    main()
