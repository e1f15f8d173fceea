"""The hostile HTTP requests corpus: raw bytes a client may send to the agent socket -> (status, the one-line error).

Each was reproduced against the agent before the fix (issue 8, item 8): a negative length read
the whole stream past the 4 MiB cap, the others dropped the connection without an answer.
"""

DEEP = b"[" * 200_000 + b"]" * 200_000  # past the interpreter's recursion limit
NESTED_70 = b'{"config": ' + b"[" * 70 + b"]" * 70 + b"}"  # decodes, but past the 64-level bound


def post(*headers: str, body: bytes = b"") -> bytes:
    head = "".join(f"{h}\r\n" for h in ("POST /v1/cni HTTP/1.1", "Host: spiderpool-agent", *headers))
    return head.encode("latin-1") + b"\r\n" + body


CORPUS = [
    ("negative length", post("Content-Length: -1", body=b"{}"),
     400, "Content-Length '-1' is not one decimal number"),
    ("length not a number", post("Content-Length: abc", body=b"{}"),
     400, "Content-Length 'abc' is not one decimal number"),
    ("length in a non-ASCII digit", post("Content-Length: \u00b2", body=b"{}"),
     400, "Content-Length '\u00b2' is not one decimal number"),
    ("two lengths", post("Content-Length: 2", "Content-Length: 2", body=b"{}"),
     400, "Content-Length '2' is not one decimal number"),
    ("no length", post(body=b"{}"),
     411, "a Content-Length is required"),
    ("chunked", post("Transfer-Encoding: chunked", body=b"2\r\n{}\r\n0\r\n\r\n"),
     411, "a Content-Length is required (chunked bodies are not accepted)"),
    ("1 GiB announced", post("Content-Length: 1073741824", body=b"{" * 1024),
     413, "the request body is 1073741824 bytes, more than the 4194304 accepted"),
    ("200k-deep JSON", post(f"Content-Length: {len(DEEP)}", body=DEEP),
     400, "the request body nests deeper than 64 levels"),
    ("70-deep JSON", post(f"Content-Length: {len(NESTED_70)}", body=NESTED_70),
     400, "the request body nests deeper than 64 levels"),
    ("body shorter than announced", post("Content-Length: 100", body=b"{}"),
     400, "the request body ended after 2 of 100 bytes"),
]
