#!/usr/bin/env python3
"""S3 steps of the end-to-end suite, against the moto server of
e2e/scripts/moto.sh (SLUICE_TEST_AWS_ENDPOINT and the AWS_* variables):

    e2e-s3.py mb BUCKET                         create a bucket
    e2e-s3.py ls BUCKET PREFIX                  print the keys under PREFIX
    e2e-s3.py run-prefix BUCKET PREFIX RUN      print the prefix of RUN's files
    e2e-s3.py compare BUCKET PREFIX EXPECTED    the part-*.jsonl records under
        PREFIX equal the JSON array in the file EXPECTED, row by row (each id
        once, every field equal); prints the first differences otherwise
"""

import json
import os
import sys

import boto3


def client():
    return boto3.client("s3", endpoint_url=os.environ["SLUICE_TEST_AWS_ENDPOINT"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def keys(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(item["Key"] for item in page.get("Contents", []))
    return out


def normal(value):
    """Numbers and strings compare by their text, as JSON Lines may carry a
    numeric column as either."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def compare(s3, bucket, prefix, expected_path):
    with open(expected_path) as handle:
        expected = {str(row["id"]): row for row in json.load(handle)}
    # Published files only: _sluice/ holds staging and manifests.
    files = [k for k in keys(s3, bucket, prefix)
             if k.rsplit("/", 1)[-1].startswith("part-") and "_sluice/" not in k]
    if not files:
        sys.exit(f"e2e-s3: no part files under s3://{bucket}/{prefix}")
    seen, problems = {}, []
    for key in files:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            record = json.loads(line)
            rid = normal(record.get("id"))
            if rid in seen:
                problems.append(f"id {rid} twice: {seen[rid]} and {key}:{number}")
                continue
            seen[rid] = f"{key}:{number}"
            want = expected.get(rid)
            if want is None:
                problems.append(f"{key}:{number}: id {rid} is not in the source")
                continue
            for field, value in want.items():
                got = record.get(field)
                if field == "updated_at" and isinstance(got, str):
                    got = got.replace("+00:00", "Z").replace(".000000", "")
                if normal(got) != normal(value) and not _same_number(got, value):
                    problems.append(f"{key}:{number}: id {rid} {field} is {got!r}, the source has {value!r}")
    for rid in expected:
        if rid not in seen:
            problems.append(f"id {rid} is missing from s3://{bucket}/{prefix}")
    if problems:
        for problem in problems[:20]:
            print("e2e-s3: " + problem, file=sys.stderr)
        sys.exit(f"e2e-s3: {len(problems)} differences ({len(seen)} records read, {len(expected)} expected)")
    print(f"e2e-s3: {len(seen)} records in {len(files)} files match the source row by row")


def _same_number(got, want):
    try:
        return float(got) == float(want)
    except (TypeError, ValueError):
        return False


def main():
    s3 = client()
    command, args = sys.argv[1], sys.argv[2:]
    if command == "mb":
        s3.create_bucket(Bucket=args[0])
    elif command == "ls":
        for key in keys(s3, args[0], args[1]):
            print(key)
    elif command == "run-prefix":
        bucket, prefix, run = args
        matches = sorted({k[: k.index("/" + run + "/") + len(run) + 2]
                          for k in keys(s3, bucket, prefix) if "/" + run + "/" in k and "_sluice/" not in k})
        if len(matches) != 1:
            sys.exit(f"e2e-s3: run {run} has {len(matches)} prefixes under s3://{bucket}/{prefix}: {matches}")
        print(matches[0])
    elif command == "compare":
        compare(s3, *args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
