"""Fallbacks for bench/device/run.sh on a machine without `xz` or `dpkg` (Python's standard
library only).

    python3 unpack.py xz FILE.xz TARGET      decompress FILE.xz to TARGET
    python3 unpack.py deb FILE.deb ROOT      extract a Debian package's files under ROOT (dpkg -x)
"""
import io
import lzma
import os
import shutil
import sys
import tarfile


def unxz(source, target):
    with lzma.open(source) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def undeb(source, root):
    with open(source, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise SystemExit(f"{source}: not an ar archive")
        while True:
            header = f.read(60)
            if len(header) < 60:
                raise SystemExit(f"{source}: no data.tar member")
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            body = f.read(size)
            if size % 2:
                f.read(1)
            if name.startswith("data.tar"):
                if name.endswith(".zst"):
                    raise SystemExit(f"{source}: {name} is zstd, which Python cannot read")
                with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                    # 'tar' keeps the package's own symlinks (libvulkan.so.1 -> ...) and modes.
                    extra = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
                    tar.extractall(root, **extra)
                return


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("xz", "deb"):
        raise SystemExit(__doc__)
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[3])), exist_ok=True)
    (unxz if sys.argv[1] == "xz" else undeb)(sys.argv[2], sys.argv[3])
