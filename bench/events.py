"""Writes the API Gateway events that script/bench sends to the functions.

They are the samples in events/, with the token, file name and file URL of
a link the fixture made: one event per function in OUT_DIR, named after it.
link-events.json is a direct invocation for the fixture's object.

Usage: python bench/events.py TOKENS_FILE BUCKET OUT_DIR
"""

import json
import os
import sys

EVENTS = os.path.join(os.path.dirname(__file__), "..", "events")


def sample(name):
    with open(os.path.join(EVENTS, name)) as f:
        return f.read()


def main():
    tokens_file, bucket, out_dir = sys.argv[1:4]
    with open(tokens_file) as f:
        token, file_name = f.readline().rstrip("\n").split("\t")
    os.makedirs(out_dir, exist_ok=True)
    access = sample("access.json").replace("REPLACE_WITH_TOKEN", token)
    files = sample("files.json").replace("REPLACE_WITH_TOKEN", token)
    files = files.replace("report.pdf", file_name)
    generate = json.loads(sample("generate-link.json"))
    generate["body"] = json.dumps(
        {"file_url": f"s3://{bucket}/bench/{file_name}", "expire_minutes": 30}
    )
    direct = json.loads(sample("link-events-direct.json"))
    direct["bucket"] = bucket
    direct["key"] = f"bench/{file_name}"
    written = {
        "access.json": access,
        "files.json": files,
        "generate-link.json": json.dumps(generate),
        "upload-file.json": sample("upload-file.json"),
        "upload-url.json": sample("upload-url.json"),
        "links.json": sample("links-list.json"),
        "link-events.json": json.dumps(direct),
    }
    for name, text in written.items():
        json.loads(text)
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
