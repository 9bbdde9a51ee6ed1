"""A plain HTTP/1.1 client for the examples: N requests to 127.0.0.1:PORT,
a new connection each (http.client), one JSON line per response."""
import http.client
import json
import sys

port, count = int(sys.argv[1]), int(sys.argv[2])
for n in range(1, count + 1):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", f"/request/{n}")
    response = connection.getresponse()
    body = response.read().decode()
    print(json.dumps({
        "status": response.status,
        "length": int(response.getheader("Content-Length")),
        "body": body,
    }), flush=True)
    connection.close()
