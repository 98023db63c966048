"""docker-py driving berth's service as its users drive a daemon.

Run by TestDockerPy with DOCKER_HOST set to the service's socket and
REGISTRY set to a berth registry (user/secret). Prints one line per check;
any failure raises, which exits non-zero with the traceback.
"""
import io
import os
import tarfile

import docker

reg = os.environ["REGISTRY"]
client = docker.from_env(version="auto")
api = client.api

v = client.version()
assert v["ApiVersion"] == "1.50", v
assert any(c["Name"] == "Engine" for c in v["Components"]), v
assert client.ping()
print("version", v["ApiVersion"])

# Listing, with filters.
names = sorted(t for i in client.images.list() for t in i.tags)
assert names == ["busybox:latest"], names
assert client.images.list(filters={"dangling": True}) == []
assert [i.tags for i in client.images.list(name="busybox")] == [["busybox:latest"]]
img = client.images.get("busybox")
assert img.attrs["Config"]["Cmd"] == ["sh"], img.attrs["Config"]
print("list", img.short_id)

# Tag and history.
assert img.tag(reg + "/py/busybox", tag="1")
img.reload()
assert reg + "/py/busybox:1" in img.tags, img.tags
assert len(img.history()) == 1
print("tag", sorted(img.tags))

# Build from an in-memory context (the classic API docker-py speaks).
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tar:
    df = b"FROM busybox\nARG GREETING=hi\nRUN echo $GREETING > /greeting\nLABEL made=by-docker-py\n"
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(df)
    tar.addfile(info, io.BytesIO(df))
buf.seek(0)
built, logs = client.images.build(fileobj=buf, custom_context=True, tag="pybuilt:1", buildargs={"GREETING": "hello"}, rm=True)
text = "".join(l.get("stream", "") for l in logs)
assert "Successfully built " + built.short_id.split(":")[1] in text, text
assert "Successfully tagged pybuilt:1" in text, text
assert built.labels == {"made": "by-docker-py"}, built.labels
print("build", built.short_id)

# A failing build raises BuildError with the daemon's message.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tar:
    df = b"FROM busybox\nRUN exit 4\n"
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(df)
    tar.addfile(info, io.BytesIO(df))
buf.seek(0)
try:
    client.images.build(fileobj=buf, custom_context=True, tag="pybroken:1")
    raise AssertionError("a failing build did not raise")
except docker.errors.BuildError as e:
    assert "exit code: 4" in str(e), e
print("build error ok")

# Push and pull with credentials passed as docker-py passes them.
auth = {"username": "user", "password": "secret"}
assert client.login(username="user", password="secret", registry=reg)["Status"] == "Login Succeeded"
out = client.images.push(reg + "/py/busybox", tag="1", auth_config=auth)
assert "digest: sha256:" in out, out
client.images.remove(reg + "/py/busybox:1")
pulled = client.images.pull(reg + "/py/busybox", tag="1", auth_config=auth)
assert pulled.id == img.id, (pulled.id, img.id)
print("push pull", pulled.id[:19])

# Save (a stream of chunks) and load it back.
data = b"".join(client.images.get("pybuilt:1").save(named=True))
client.images.remove("pybuilt:1")
loaded = client.images.load(data)
assert [i.tags for i in loaded] == [["pybuilt:1"]], [i.tags for i in loaded]
print("save load", len(data))

# Errors are docker-py's own exceptions.
try:
    client.images.get("nosuch:1")
    raise AssertionError("no error for a missing image")
except docker.errors.ImageNotFound:
    pass
try:
    client.containers.run("busybox", "true")
    raise AssertionError("containers should not be served")
except docker.errors.APIError as e:
    assert "berth manages images only" in str(e), e
print("errors ok")

# Remove and prune.
client.images.remove("pybuilt:1")
client.images.prune(filters={"dangling": False})
df = api.df()
assert df["Images"] == [] and df["LayersSize"] == 0, df
print("prune ok")
