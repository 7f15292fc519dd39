# Postboard's image: `postboard serve` on 0.0.0.0:8000 as an unprivileged user, with the versions pinned in
# constraints.txt. README.md, "Run with containers", says how to build and run it.
#
# BASE_IMAGE: any Debian-like image with python3 (3.11 or newer) and its venv module; the official slim
#   image by default. `make base-image` makes one from Debian's packages where no registry is reachable.
# WHEELS: where the pinned packages come from.
#   index       (default) downloaded inside the build from the package index, with constraints.txt;
#   wheelhouse  the wheels in ./wheelhouse, built on the host by `make wheelhouse` (the build reaches no
#               index). They must suit the image's Python: pip refuses a wheel built for another version.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG WHEELS=index

FROM ${BASE_IMAGE} AS python
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# The virtual environment, from the index or from the wheelhouse alone. (One stage that chooses, rather
# than a stage named by the argument: podman's builder skips stages named through an ARG's default.)
# `--version` imports the command and with it the compiled dependencies, so that a base image lacking a
# library they load fails here, not at start.
FROM python AS install
ARG WHEELS
COPY . /src
RUN python3 -m venv /opt/postboard \
    && case "$WHEELS" in \
        index) /opt/postboard/bin/pip install --quiet -c /src/constraints.txt /src ;; \
        wheelhouse) /opt/postboard/bin/pip install --quiet --no-index --find-links /src/wheelhouse postboard ;; \
        *) echo "WHEELS must be index or wheelhouse, not '$WHEELS'" >&2; exit 1 ;; \
    esac \
    && /opt/postboard/bin/pip uninstall --quiet --yes pip \
    && /opt/postboard/bin/postboard --version

FROM python AS runtime
RUN groupadd --system --gid 10001 postboard \
    && useradd --system --uid 10001 --gid postboard --home-dir /var/lib/postboard --no-create-home \
        --shell /usr/sbin/nologin postboard \
    && install --directory --owner postboard --group postboard --mode 0750 /var/lib/postboard
COPY --from=install /opt/postboard /opt/postboard
ENV PATH=/opt/postboard/bin:$PATH \
    POSTBOARD_ENV=production
# The working directory is the user's own, so that a SQLite DATABASE_URL's default file can be written
# (mount a volume here to keep it); production asks for PostgreSQL, SECRET_KEY, SMTP_HOST and an https
# PUBLIC_URL from the environment.
WORKDIR /var/lib/postboard
USER postboard:postboard
EXPOSE 8000
# Liveness only: /health touches neither the database nor Redis. Slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# serve applies pending migrations, then serves; `podman run IMAGE migrate` (or create-user…) runs another
# command.
ENTRYPOINT ["postboard"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
