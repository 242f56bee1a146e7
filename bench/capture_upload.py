"""Uploads every file under DIR to s3://BUCKET/<its path below DIR>, for bench/capture.sh
(moto's python, which has boto3). Usage: capture_upload.py ENDPOINT BUCKET DIR"""
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3

endpoint, bucket, root = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)


def put(path):
    key = os.path.relpath(path, root)
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f.read())
    return os.path.getsize(path)


t0 = time.time()
with ThreadPoolExecutor(4) as ex:
    total = sum(ex.map(put, files))
print(json.dumps({"objects": len(files), "bytes": total, "seconds": round(time.time() - t0, 1)}))
