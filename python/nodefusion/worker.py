"""The worker process of nodes with `isolation = "process"`: `python -m nodefusion.worker`,
spawned by the package, serving one instance at a time and kept between them. For each
instance it receives the node pickled (and the parent's `sys.path`, so that the same
modules import), builds its runner (a stateful class's object lives here), computes the
batches it is sent, and closes the runner when the instance ends; it exits when its input
closes (the parent is gone) or it is told to.

Messages (see `python/src/worker_messages.rs`) come on standard input and go out on what
was standard output; standard output itself is sent to standard error, so that whatever
the node prints cannot garble them. Ctrl-C is left to the parent, which kills its workers.
"""

import json
import os
import pickle
import signal
import struct
import sys

import pyarrow as pa

from ._runner import exception_text


def receive(stream):
    """One message: its JSON header and its body, or None at the end of the input."""
    prefix = stream.read(4)
    if len(prefix) < 4:
        return None
    (header_length,) = struct.unpack("<I", prefix)
    header = json.loads(stream.read(header_length))
    (body_length,) = struct.unpack("<Q", stream.read(8))
    return header, stream.read(body_length)


def send(stream, header, body=b""):
    """Sends one message."""
    encoded = json.dumps(header).encode()
    stream.write(struct.pack("<I", len(encoded)) + encoded + struct.pack("<Q", len(body)))
    stream.write(body)
    stream.flush()


def arguments_of(body):
    """The arrays of a `batch` message's body, in parameter order."""
    batch = pa.ipc.open_stream(body).read_next_batch()
    return batch.columns


def values_body(values):
    """`values` as the body of a `result` message."""
    sink = pa.BufferOutputStream()
    batch = pa.record_batch([values], names=["values"])
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def start(header, body):
    """The runner an `init` message asks for."""
    sys.path[:] = header["path"]
    node = pickle.loads(body)
    return node.make_runner(header["options"])


def compute(runner, body):
    """The reply to a `batch` message: its header and body."""
    if runner is None:
        return {"kind": "failed", "message": "the worker has no instance"}, b""
    values, failures = runner(arguments_of(body))
    if values is None:
        return {"kind": "failed", "message": failures}, b""
    return {"kind": "result", "failures": failures}, values_body(values)


def serve(requests, replies):
    """Answers messages until the input closes or `exit`."""
    runner = None
    while (message := receive(requests)) is not None:
        header, body = message
        kind = header["kind"]
        if kind == "init":
            try:
                runner = start(header, body)
                send(replies, {"kind": "ready"})
            except Exception as error:
                send(replies, {"kind": "error", "message": exception_text(error)})
        elif kind == "batch":
            send(replies, *compute(runner, body))
        elif kind == "end":
            if runner is not None:
                runner.close()
            runner = None
            send(replies, {"kind": "ended"})
        else:
            break
    if runner is not None:
        runner.close()
    return 0


def main():
    """The worker's entry point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main())
