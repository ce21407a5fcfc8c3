# Sourced by build.sh and images-test: podman's configuration and storage under the cache,
# so building images touches neither /etc/containers nor /var/lib/containers.
LOOCV_IMAGES_CACHE="${LOOCV_IMAGES_CACHE:-$HOME/.cache/loocv-operator/images}"
mkdir -p "$LOOCV_IMAGES_CACHE/storage" "$LOOCV_IMAGES_CACHE/run"
export BASE_IMAGE="${BASE_IMAGE:-localhost/loocv-base:bookworm}"
export PAUSE_IMAGE="${PAUSE_IMAGE:-localhost/loocv-pause:1.0}"
# crun refuses the hybrid cgroup v1 layout: runc. No CAP_SYS_RESOURCE and a hard open-files
# limit of 20000 here: explicit ulimits within it.
cat > "$LOOCV_IMAGES_CACHE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat > "$LOOCV_IMAGES_CACHE/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$LOOCV_IMAGES_CACHE/storage"
runroot = "$LOOCV_IMAGES_CACHE/run"
CONF
export CONTAINERS_CONF="$LOOCV_IMAGES_CACHE/containers.conf"
export CONTAINERS_STORAGE_CONF="$LOOCV_IMAGES_CACHE/storage.conf"
