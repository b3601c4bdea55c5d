#!/usr/bin/env python3
"""Writes a single-layer OCI image archive from local files, for clusters that
cannot reach a registry: the archive is what `ctr images import` loads.

    oci-image.py --ref sluice.local/sluice:dev --out sluice.tar \
        --file target/.../sluice:/usr/local/bin/sluice \
        --entrypoint /usr/local/bin/sluice --user 65532:65532

The layer holds the given files, /etc/passwd and /etc/group with the
non-root user 65532 (nonroot), /tmp, /home/nonroot and the host's CA bundle,
like the distroless static base the Dockerfile uses. A dynamically linked
executable (`--with-libs`) brings along the shared libraries and loader it
needs, found with ldd; a static one needs nothing else.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def shared_libraries(path):
    """The absolute paths ldd resolves for an executable, empty when static."""
    result = subprocess.run(["ldd", path], capture_output=True, text=True)
    if result.returncode != 0 or "not a dynamic executable" in result.stdout + result.stderr:
        return []
    libs = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/"):
                libs.append(target)
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def add_dir(tar, name, mode=0o755, uid=0):
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid = info.gid = uid
    tar.addfile(info)


def add_bytes(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name.lstrip("/"))
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def add_file(tar, source, dest, mode=None):
    real = os.path.realpath(source)
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.size = os.path.getsize(real)
    info.mode = mode if mode is not None else (os.stat(real).st_mode & 0o7777)
    with open(real, "rb") as handle:
        tar.addfile(info, handle)


def layer(files, with_libs):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = {"/etc", "/tmp", "/home", "/home/nonroot", "/etc/ssl", "/etc/ssl/certs"}
        entries = []
        for source, dest in files:
            entries.append((source, dest))
            if with_libs:
                entries.extend((lib, lib) for lib in shared_libraries(source))
        for _, dest in entries:
            parent = os.path.dirname(dest)
            while parent not in ("", "/"):
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for name in sorted(dirs):
            if name == "/tmp":
                add_dir(tar, name, 0o1777)
            elif name == "/home/nonroot":
                add_dir(tar, name, 0o700, 65532)
            else:
                add_dir(tar, name)
        add_bytes(tar, "/etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\n"
                  b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
        add_bytes(tar, "/etc/group", b"root:x:0:\nnonroot:x:65532:\n")
        if os.path.exists(CA_BUNDLE):
            add_file(tar, CA_BUNDLE, CA_BUNDLE, 0o644)
        seen = set()
        for source, dest in entries:
            if dest in seen:
                continue
            seen.add(dest)
            add_file(tar, source, dest)
    return buffer.getvalue()


def blob(tar, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    add_bytes(tar, "blobs/sha256/" + digest.split(":")[1], data)
    return digest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="image reference, e.g. sluice.local/sluice:dev")
    parser.add_argument("--out", required=True, help="the archive to write")
    parser.add_argument("--file", action="append", default=[], metavar="SRC:DEST",
                        help="a local file and its path in the image")
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--user", default="65532:65532")
    parser.add_argument("--with-libs", action="store_true",
                        help="add the shared libraries of dynamically linked files")
    args = parser.parse_args()

    files = []
    for spec in args.file:
        source, sep, dest = spec.partition(":")
        if not sep or not dest.startswith("/"):
            sys.exit(f"oci-image: --file {spec!r}: expected SRC:/absolute/dest")
        if not os.path.isfile(source):
            sys.exit(f"oci-image: --file {spec!r}: {source} is not a file")
        files.append((source, dest))

    data = layer(files, args.with_libs)
    # Compressed layers keep the archive small; gzip level 1 keeps it fast.
    compressed = gzip.compress(data, compresslevel=1, mtime=0)
    diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": args.user,
            "Entrypoint": [args.entrypoint],
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin",
                    "SSL_CERT_FILE=" + CA_BUNDLE],
            "WorkingDir": "/home/nonroot",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "e2e/scripts/oci-image.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    with tarfile.open(args.out, "w") as tar:
        config_digest = blob(tar, config_bytes)
        layer_digest = blob(tar, compressed)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config_bytes)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest, "size": len(compressed)}],
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
        manifest_digest = blob(tar, manifest_bytes)
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"io.containerd.image.name": args.ref,
                                "org.opencontainers.image.ref.name": args.ref.rsplit(":", 1)[-1]},
            }],
        }
        add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        add_bytes(tar, "index.json", json.dumps(index, sort_keys=True).encode())
        # The Docker archive manifest too, so `docker load` reads it as well.
        add_bytes(tar, "manifest.json", json.dumps([{
            "Config": "blobs/sha256/" + config_digest.split(":")[1],
            "RepoTags": [args.ref],
            "Layers": ["blobs/sha256/" + layer_digest.split(":")[1]],
        }]).encode())
    print(f"oci-image: wrote {args.ref} to {args.out} ({len(compressed) // 1024} KiB layer)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
