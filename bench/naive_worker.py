"""The hand-written design the capacity benchmark compares against: fal's usage example in a task.

One Celery task per video calls `fal_client.subscribe` (submit, then poll until done),
downloads the mp4 and uploads it to S3 with boto3. The task holds its worker process for
the whole render, so a worker with P processes has at most P videos in flight.

Run by bench/capacity.py as `celery -A bench.naive_worker worker`; configured entirely by
environment (fal-client's FAL_KEY / FAL_QUEUE_RUN_HOST / SSL_CERT_FILE for the simulator,
NAIVE_BROKER_URL, and the S3 server's AWS_* variables).
"""

from __future__ import annotations

import os
import tempfile

import boto3
import fal_client
import httpx
from botocore.config import Config
from celery import Celery

MODEL_ID = "fal-ai/bytedance/seedance/v1/pro/fast/image-to-video"

BROKER = os.environ["NAIVE_BROKER_URL"]
if BROKER.startswith("filesystem://"):  # the embedded broker (the benchmark's tiny test run)
    FOLDER = os.environ["NAIVE_BROKER_DIR"]
    for sub in ("queue", "processed", "control", "results"):
        os.makedirs(os.path.join(FOLDER, sub), exist_ok=True)
    app = Celery("naive", broker=BROKER, backend=f"file://{FOLDER}/results")
    app.conf.broker_transport_options = {
        "data_folder_in": f"{FOLDER}/queue",
        "data_folder_out": f"{FOLDER}/queue",
        "processed_folder": f"{FOLDER}/processed",
        "control_folder": f"{FOLDER}/control",
    }
else:
    app = Celery("naive", broker=BROKER, backend=BROKER)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"], worker_prefetch_multiplier=1)


@app.task(name="naive.generate")
def generate(arguments: dict, key: str) -> int:
    result = fal_client.subscribe(MODEL_ID, arguments=arguments)
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
        region_name=os.environ["AWS_S3_REGION_NAME"],
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    with tempfile.NamedTemporaryFile(suffix=".mp4") as video:
        with httpx.stream("GET", result["video"]["url"], timeout=60) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(1024 * 1024):
                video.write(chunk)
        video.flush()
        s3.upload_file(video.name, os.environ["AWS_STORAGE_BUCKET_NAME"], key, ExtraArgs={"ContentType": "video/mp4"})
        return video.tell()
