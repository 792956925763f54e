"""The worker process of a node with `isolation = "process"`: `python -m nodefusion.worker`,
spawned by the node's instance, one per instance. It receives the node pickled (and the
parent's `sys.path`, so that the same modules import), builds its runner (a stateful
class's object lives here), then computes the batches it is sent until told to exit.

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


def serve(requests, replies):
    """Builds the runner from the `init` message, then answers batches until `exit`."""
    message = receive(requests)
    if message is None:
        return 0
    header, body = message
    sys.path[:] = header["path"]
    try:
        node = pickle.loads(body)
        runner = node.make_runner(header["options"])
    except Exception as error:
        send(replies, {"kind": "error", "message": exception_text(error)})
        return 1
    send(replies, {"kind": "ready"})
    while (message := receive(requests)) is not None:
        header, body = message
        if header["kind"] == "exit":
            break
        values, failures = runner(arguments_of(body))
        if values is None:
            send(replies, {"kind": "failed", "message": failures})
        else:
            send(replies, {"kind": "result", "failures": failures}, values_body(values))
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
