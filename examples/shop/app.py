"""A tiny web app: GET / answers with a greeting from the vendored `greeting` package."""

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from greeting import hello


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (hello() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1])
    print(f"listening on 127.0.0.1:{port}", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
