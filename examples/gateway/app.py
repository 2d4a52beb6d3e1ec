"""A stand-in application behind nginx: answers 200 to every request with
the principal Palisade let through (the X-Palisade-Principal header)."""
import http.server
import sys


class App(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = f"hello {self.headers.get('X-Palisade-Principal', '?')}: {self.command} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
http.server.ThreadingHTTPServer(("127.0.0.1", port), App).serve_forever()
