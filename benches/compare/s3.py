"""The S3-compatible server of the harness's storage cases: moto's server (`moto[server]`,
benches/compare/requirements.txt) as a separate process on 127.0.0.1, one bucket, and the
usual `AWS_*` variables set in this process's environment, so that every system started
after it (the runners, the cluster processes they start) reads and writes the bucket as a
user's would."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.fs as pafs

BUCKET = "nodefusion-bench"


class S3Server:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        address = None
        for line in self.process.stderr:
            if "Running on " in line:
                address = line.split("Running on ")[1].split()[0]
                break
        if address is None:
            raise RuntimeError("moto's server did not start: install moto[server] "
                               "(benches/compare/run.sh --setup)")
        # The log goes on being written: drain it so the server never blocks on a full pipe.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        os.environ.update({
            "AWS_ENDPOINT": address, "AWS_ENDPOINT_URL": address, "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
        })
        filesystem().create_dir(BUCKET)

    def upload(self, path):
        """`path` (a local file) copied into the bucket once; its URL."""
        key = f"{BUCKET}/in/{Path(path).name}"
        store = filesystem()
        if store.get_file_info(key).type == pafs.FileType.NotFound:
            pafs.copy_files(str(path), key, destination_filesystem=store)
        return f"s3://{key}"

    def close(self):
        self.process.kill()
        self.process.wait()


def filesystem():
    """pyarrow's client of the server this process's `AWS_*` variables name."""
    endpoint = os.environ["AWS_ENDPOINT"]
    scheme, host = endpoint.split("://", 1)
    return pafs.S3FileSystem(
        endpoint_override=host, scheme=scheme, region=os.environ["AWS_REGION"],
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"], allow_bucket_creation=True,
    )


def output_url(name):
    """The URL of an output directory `name` in the bucket."""
    return f"s3://{BUCKET}/out/{name}/"
