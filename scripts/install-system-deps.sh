#!/bin/sh
# Install the system binaries the integration and e2e tests run for real.
#
# Checks PATH (plus the sbin dirs, where dockerd lives) for every binary the
# tests use. When something is missing and we run as root on Debian/Ubuntu,
# installs the Debian packages that provide the missing binaries; otherwise
# prints what is missing and exits 0 (the tests then skip with a reason).
# Silent and idempotent when everything is present.
#
# Binary -> Debian package (checked with `dpkg -L` on Debian 12):
#   victoria-metrics vmagent vmalert -> victoria-metrics (also vmauth, vmctl,
#                                       vmbackup, vmrestore; no -prod suffix)
#   prometheus promtool              -> prometheus
#   dockerd docker                   -> docker.io (dockerd in /usr/sbin)
#   busybox                          -> busybox-static (must be the static one:
#                                       it is copied into a scratch image)
#   ffmpeg                           -> ffmpeg
#   docker-compose                   -> docker-compose
#   prometheus-node-exporter         -> prometheus-node-exporter
#   mmdebstrap eatmydata             -> mmdebstrap, eatmydata (the Debian base image
#                                       of the container tests, scripts/images.py)
#   nginx                            -> nginx
#   chromium                         -> chromium (the headless browser the report's
#                                       HTML test opens pages in)
#   the nginx RTMP module file       -> libnginx-mod-rtmp
#     (/usr/lib/nginx/modules/ngx_rtmp_module.so; a module, not a binary, so
#     checked as a file: nginx alone does not serve RTMP)
set -eu

PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

package_for() {
    case "$1" in
        victoria-metrics|vmagent|vmalert) echo victoria-metrics ;;
        prometheus|promtool) echo prometheus ;;
        dockerd|docker) echo docker.io ;;
        busybox) echo busybox-static ;;
        *) echo "$1" ;;
    esac
}

missing=""
packages=""
for bin in victoria-metrics vmagent vmalert prometheus promtool dockerd docker \
           ffmpeg docker-compose busybox prometheus-node-exporter nginx chromium \
           mmdebstrap eatmydata; do
    path=$(command -v "$bin" 2>/dev/null || true)
    if [ -n "$path" ] && [ "$bin" = busybox ] && ldd "$path" >/dev/null 2>&1; then
        # A dynamically linked busybox (package "busybox") cannot run inside
        # the scratch test image; busybox-static replaces it.
        path=""
    fi
    if [ -z "$path" ]; then
        missing="$missing $bin"
        pkg=$(package_for "$bin")
        case " $packages " in
            *" $pkg "*) ;;
            *) packages="$packages $pkg" ;;
        esac
    fi
done

# The RTMP module: one of the paths ffwatt/runner/execute/rtmp_server.py searches (Debian's first).
rtmp_module=""
for dir in /usr/lib/nginx/modules /usr/lib64/nginx/modules /usr/share/nginx/modules \
           /usr/local/lib/nginx/modules /usr/local/nginx/modules /etc/nginx/modules; do
    if [ -f "$dir/ngx_rtmp_module.so" ]; then
        rtmp_module="$dir/ngx_rtmp_module.so"
        break
    fi
done
if [ -z "$rtmp_module" ]; then
    missing="$missing ngx_rtmp_module.so"
    packages="$packages libnginx-mod-rtmp"
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ] || [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: missing binaries:$missing" >&2
    echo "install-system-deps: not root on Debian/Ubuntu; install the packages:$packages" >&2
    echo "install-system-deps: integration tests needing them will be skipped" >&2
    exit 0
fi

echo "install-system-deps: missing:$missing; installing:$packages"
DEBIAN_FRONTEND=noninteractive
export DEBIAN_FRONTEND
apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $packages
