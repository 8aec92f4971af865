"""Runs the moto DynamoDB/S3 emulator on 127.0.0.1 with one request at a time.

moto evaluates a DynamoDB ConditionExpression and then applies the update in
separate steps, without a lock, so two concurrent conditional writes can both
pass the same condition. DynamoDB itself applies each conditional write
atomically. Handling one request at a time gives the emulator that guarantee,
which the concurrent-download tests depend on.

Usage: python script/emulator.py PORT
"""

import sys
import threading

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


def main():
    port = int(sys.argv[1])
    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True)


if __name__ == "__main__":
    main()
