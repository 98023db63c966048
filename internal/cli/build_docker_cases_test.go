package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
	"time"
)

// The seed patterns, with busybox-static stand-ins for the toolchains (no
// network here): each keeps its pattern's shape — the dependency manifest
// copied before the sources, a builder stage, a non-root user, a
// .dockerignore — and the harder cases Docker users' files hit.
func dockerBuildCases() []dockerBuildCase {
	return []dockerBuildCase{
		{name: "node", files: map[string]string{
			"Dockerfile": `FROM BASE AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN mkdir node_modules && cat package.json > node_modules/.package-lock && echo 'module.exports = 1' > node_modules/lodash.js
FROM BASE
ENV NODE_ENV=production
RUN echo 'node:x:1001:1001::/home/node:/bin/sh' >> /etc/passwd && echo 'node:x:1001:' >> /etc/group && mkdir -p /home/node && chown 1001:1001 /home/node
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node . .
USER node
EXPOSE 3000
CMD ["node", "server.js"]
`,
			".dockerignore":     "node_modules\n*.log\n.git\n",
			"package.json":      `{"name":"app","dependencies":{"lodash":"4"}}`,
			"package-lock.json": `{"lockfileVersion":3}`,
			"server.js":         "require('http').createServer().listen(3000)\n",
			"lib/util.js":       "module.exports = {}\n",
			"debug.log":         "ignored\n",
			"node_modules/x.js": "ignored\n",
			".git/HEAD":         "ignored\n",
		}},
		{name: "go", files: map[string]string{
			"Dockerfile": `FROM BASE AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN mkdir -p /root/go/pkg/mod && cat go.mod > /root/go/pkg/mod/cache.txt
COPY . .
RUN mkdir -p /out && cat main.go cmd/tool.go > /out/app && chmod 0755 /out/app
FROM scratch
COPY --from=build /out/app /app
COPY --from=build /etc/passwd /etc/passwd
USER 65532:65532
ENTRYPOINT ["/app"]
`,
			".dockerignore": "*.md\nbin/\n",
			"go.mod":        "module example.com/app\n\ngo 1.22\n",
			"go.sum":        "",
			"main.go":       "package main\n\nfunc main() {}\n",
			"cmd/tool.go":   "package cmd\n",
			"README.md":     "ignored\n",
			"bin/old":       "ignored\n",
		},
			// BuildKit starts FROM scratch with a PATH and WorkingDir /;
			// the legacy builder with neither.
			builderDiffs: map[string]string{"Env": `["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]`, "WorkingDir": `"/"`}},
		{name: "python", files: map[string]string{
			"Dockerfile": `FROM BASE AS builder
WORKDIR /build
COPY requirements.txt .
RUN mkdir -p /install/lib/site-packages && for p in $(cat requirements.txt); do echo "# $p" > /install/lib/site-packages/$p.py; done
FROM BASE
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN echo 'appuser:x:10001:10001::/home/app:/bin/sh' >> /etc/passwd && echo 'appuser:x:10001:' >> /etc/group
COPY --from=builder /install /usr/local
WORKDIR /app
COPY --chown=10001:10001 app/ ./app/
USER appuser
CMD ["python", "-m", "app"]
`,
			".dockerignore":    "__pycache__\n*.pyc\n.venv\n",
			"requirements.txt": "flask\nrequests\n",
			"app/__init__.py":  "",
			"app/__main__.py":  "print('hi')\n",
			"app/x.pyc":        "ignored\n",
			".venv/bin/python": "ignored\n",
		}},
		{name: "whiteouts across stages", files: map[string]string{
			"Dockerfile": `FROM BASE AS a
RUN mkdir -p /d/sub /e && echo 1 > /d/a && echo 2 > /d/sub/b && echo 3 > /e/c && echo x > /tmp/x
RUN rm /d/a && rm -rf /e && rm /etc/group && echo 'root:x:0:' > /etc/group
FROM a
RUN rm -rf /d && mkdir /d && echo new > /d/n && rm /tmp/x
RUN rm -rf /d/sub
`,
		}},
		{name: "links", files: map[string]string{
			// (Writing through one name of a hard link in a later step is
			// left out: what the other names see then depends on the
			// kernel's overlayfs index feature, and the Engine's answer
			// changes run to run.)
			"Dockerfile": `FROM BASE AS a
RUN mkdir /h /g && echo a > /h/a && ln /h/a /h/b && ln /h/a /c && ln -s /h/b /s && ln -s h /rel && echo g > /g/x && ln /g/x /g/y
RUN rm /h/a
FROM a
COPY --from=a /h /h2
COPY --from=a /g /g2
COPY --from=a /s /rel /
COPY ctx/ /ctx/
`,
			"ctx/file": "f\n",
		},
			links:     map[string]string{"ctx/link": "file", "ctx/abs": "/etc/passwd"},
			hardlinks: map[string]string{"ctx/hard": "ctx/file"}},
		{name: "ADD archives", files: map[string]string{
			"Dockerfile": `FROM BASE
ADD root.tar.gz /dir/
ADD links.tar /links/
ADD plain.txt.gz /raw/
RUN mkdir /e
ADD root.tar.gz /e/
`,
		},
			blobs: func(t *testing.T) map[string][]byte {
				return map[string][]byte{
					"root.tar.gz": gzipBytes(t, ownedTar(t, []ownedEntry{
						{h: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000}},
						{h: tar.Header{Name: "./sub/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1000}},
						{h: tar.Header{Name: "./sub/f", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 50}, body: "f\n"},
						{h: tar.Header{Name: "./setuid", Typeflag: tar.TypeReg, Mode: 0o4755}, body: "#!/bin/sh\n"},
					})),
					"links.tar": ownedTar(t, []ownedEntry{
						{h: tar.Header{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644}, body: "a\n"},
						{h: tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a", Mode: 0o644}},
						{h: tar.Header{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "a", Mode: 0o777}},
					}),
					"plain.txt.gz": gzipBytes(t, []byte("not a tar\n")),
				}
			}},
		{name: "ONBUILD of a stage", files: map[string]string{
			"Dockerfile": `FROM BASE AS base
ONBUILD COPY hello.txt /hello.txt
ONBUILD RUN cat /hello.txt > /seen
ONBUILD ENV TRIGGERED=1
FROM base
RUN cat /seen
`,
			"hello.txt": "hello\n",
		}},
		{name: "ARG scoping", args: []string{"--build-arg", "VERSION=2.0", "--build-arg", "BUILD_ONLY=b"}, files: map[string]string{
			"Dockerfile": `ARG VERSION=1.0
ARG BASE_IMAGE=BASE
FROM ${BASE_IMAGE} AS first
RUN echo "version=[$VERSION]" > /no-redeclare
ARG VERSION
RUN echo "version=[$VERSION]" > /redeclared
ARG BUILD_ONLY
ARG DEFAULTED=d
ENV FROM_ARG=${DEFAULTED}-${BUILD_ONLY}
RUN echo "$BUILD_ONLY $DEFAULTED" > /args
FROM first
RUN echo "[$BUILD_ONLY][$VERSION]" > /second
LABEL version=${VERSION}
`,
		}},
		{name: "instructions", files: map[string]string{
			"Dockerfile": `FROM BASE
SHELL ["/bin/sh", "-ec"]
RUN echo shell > /shell
LABEL org.opencontainers.image.title="app" multi="a b" empty=""
ENV A=1 B="two words"
ENV C=${A}-${B}
EXPOSE 8080 53/udp 9000/tcp
RUN mkdir -p /srv/app && chown 1000:1000 /srv/app
VOLUME /data
VOLUME ["/logs", "/cache"]
WORKDIR /srv/app
WORKDIR sub
USER app:app
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=4 CMD wget -q -O- http://localhost:8080/health || exit 1
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
`,
		}},
		{name: "shell form and healthcheck none", files: map[string]string{
			"Dockerfile": `FROM BASE AS a
HEALTHCHECK CMD true
ENTRYPOINT echo entry
FROM a
HEALTHCHECK NONE
CMD echo cmd
USER 1000
ONBUILD RUN echo later
`,
		}},
	}
}

type ownedEntry struct {
	h    tar.Header
	body string
}

// ownedTar writes entries with their owners and modes as given.
func ownedTar(t *testing.T, ents []ownedEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.h
		h.ModTime = time.Unix(1500000000, 0)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
