#!/usr/bin/env bash
# Builds every connector image from docker/Dockerfile without a Docker
# daemon or a registry (buildah, vfs storage, chroot isolation), runs each
# one (--version, --check against opencti-sim, one real run, as the image's
# non-root user on the image's own filesystem), and prints their sizes.
#
# Usage: scripts/images.sh [--prebuilt DIR] [CONNECTOR...]
#
#   (default)       release images: the Dockerfile's builder stage compiles
#                   each connector in a stand-in of rust:1.95-bookworm.
#   --prebuilt DIR  images whose binary is DIR/opencti-<connector>, already
#                   compiled on this machine (scripts/test.sh passes the
#                   binaries its tests built); the builder stage is skipped.
#
# The public base images cannot be pulled here, so stand-ins are made from
# Debian packages with mmdebstrap and passed as the Dockerfile's build
# arguments: a distroless-like runtime (libc6, libgcc-s1, ca-certificates,
# tzdata; no shell, no package manager; user 65532) and, for the builder, a
# Debian bookworm with gcc and this machine's Rust toolchain (the same 1.95
# the public rust image carries). Needs root; installs buildah and
# mmdebstrap when missing. State lives under $OPENCTI_IMAGES_DIR (default:
# <cargo target dir>/images).
set -euo pipefail
cd "$(dirname "$0")/.."

all_connectors=(misp-feed ptnad sekoia-intel teamt5 nti import-file-stix export-file-stix export-file-txt)
prebuilt=""
connectors=()
while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) prebuilt="$(cd "$2" && pwd)"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) connectors+=("$1"); shift ;;
  esac
done
[ ${#connectors[@]} -gt 0 ] || connectors=("${all_connectors[@]}")

if [ "$(id -u)" -ne 0 ]; then
  echo "images: SKIPPED: building and running images needs root (buildah --isolation chroot); run as root to check them" >&2
  exit 77
fi

for tool in buildah mmdebstrap; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "images: installing buildah and mmdebstrap (apt-get)..." >&2
    apt-get install -y -q buildah mmdebstrap >&2 \
      || { apt-get update -q >&2 && apt-get install -y -q buildah mmdebstrap >&2; }
    break
  fi
done

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
work="${OPENCTI_IMAGES_DIR:-$target_dir/images}"
mkdir -p "$work/bases"
# Our own storage, apart from any other buildah user of this machine.
cat >"$work/buildah" <<EOF
#!/bin/sh
exec buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "\$@"
EOF
chmod +x "$work/buildah"
bah="$work/buildah"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
runtime_base="localhost/opencti-connectors-base/runtime:bookworm"
builder_base="localhost/opencti-connectors-base/builder:bookworm-rust-$(rustc --version | cut -d' ' -f2)-2"

has_image() { "$bah" inspect --type image "$1" >/dev/null 2>&1; }

# Turns a root file system tarball into an image with the given config.
import_base() {
  local tarball="$1" name="$2"
  shift 2
  local container
  container="$("$bah" from scratch)"
  "$bah" add "$container" "$tarball" / >/dev/null
  "$bah" config "$@" "$container"
  "$bah" commit --quiet --rm "$container" "$name" >/dev/null
}

# mmdebstrap runs no customize hook for the extract variant: the tree is
# finished here, then packed with numeric owners for `buildah add`.
make_tree() {
  local tree="$1"
  shift
  rm -rf "$tree"
  mmdebstrap --quiet "$@" bookworm "$tree"
}
pack_tree() {
  tar --numeric-owner -C "$1" -cf "$1.tar" .
  rm -rf "$1"
}

if ! has_image "$runtime_base"; then
  echo "images: making the runtime base (stand-in for gcr.io/distroless/cc-debian12:nonroot)..." >&2
  tree="$work/bases/runtime"
  make_tree "$tree" --variant=extract --include=libc6,libgcc-s1,ca-certificates,tzdata
  # What distroless adds to the packages: the CA bundle, the nonroot user.
  mkdir -p "$tree/etc/ssl/certs"
  cat "$tree"/usr/share/ca-certificates/mozilla/*.crt >"$tree/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$tree/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$tree/etc/group"
  install -d -m 0700 -o 65532 -g 65532 "$tree/home/nonroot"
  chmod 1777 "$tree/tmp"
  # ...and what it leaves out of them: tools dragged in as dependencies.
  rm -f "$tree"/usr/bin/openssl "$tree"/usr/bin/c_rehash "$tree"/usr/bin/debconf* \
    "$tree"/usr/sbin/dpkg-* "$tree"/usr/sbin/update-ca-certificates
  pack_tree "$tree"
  import_base "$tree.tar" "$runtime_base" \
    --user 65532:65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
  rm -f "$tree.tar"
fi

if [ -z "$prebuilt" ] && ! has_image "$builder_base"; then
  echo "images: making the builder base (stand-in for rust:1.95-bookworm)..." >&2
  tree="$work/bases/builder"
  make_tree "$tree" --variant=apt --include=gcc,libc6-dev,ca-certificates
  # This machine's toolchain (no docs), where the public image keeps it.
  sysroot="$(rustc --print sysroot)"
  mkdir -p "$tree/usr/local/rust" "$tree/usr/local/cargo"
  cp -a "$sysroot/bin" "$sysroot/lib" "$tree/usr/local/rust/"
  # This machine's trust store: where crates.io is reached through a
  # TLS-inspecting proxy, its CA is there and not in Debian's bundle.
  host_bundle="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
  if [ -r "$host_bundle" ]; then
    cp "$host_bundle" "$tree/etc/ssl/certs/ca-certificates.crt"
  fi
  pack_tree "$tree"
  import_base "$tree.tar" "$builder_base" \
    --env PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env CARGO_HOME=/usr/local/cargo
  rm -f "$tree.tar"
fi

tag="$version"
build_args=(--build-arg "VERSION=$version" --build-arg "RUNTIME_IMAGE=$runtime_base")
if [ -n "$prebuilt" ]; then
  tag="$version-prebuilt"
  # The binaries the tests built, stripped as the builder stage strips them,
  # stand in for the builder stage's output.
  context="$work/prebuilt-context"
  rm -rf "$context" && mkdir -p "$context"
  for connector in "${connectors[@]}"; do
    strip --strip-all -o "$context/opencti-$connector" "$prebuilt/opencti-$connector"
  done
  build_args+=(--build-context "prebuilt=$context")
else
  build_args+=(--build-arg "BUILDER_IMAGE=$builder_base")
fi

for connector in "${connectors[@]}"; do
  image="localhost/opencti-connectors/$connector:$tag"
  echo "images: building $image..." >&2
  started=$SECONDS
  if [ -n "$prebuilt" ]; then
    # The runtime stage alone, its binary from the prebuilt context.
    sed "s|^COPY --from=builder /opencti-connector |COPY --from=prebuilt opencti-$connector |" \
      docker/Dockerfile >"$work/Dockerfile.prebuilt"
    dockerfile="$work/Dockerfile.prebuilt"
  else
    dockerfile=docker/Dockerfile
  fi
  "$bah" build --quiet --isolation chroot --layers=false \
    --file "$dockerfile" --ignorefile docker/Dockerfile.dockerignore \
    --build-arg "CONNECTOR=$connector" "${build_args[@]}" \
    --tag "$image" . >/dev/null
  echo "images: built $image in $((SECONDS - started)) s" >&2
done

# Run each image for real: the checks live in a Rust test, which has the
# simulator and the fake vendor servers at hand (--workspace: the same
# build as scripts/test.sh's, so nothing is compiled twice).
OPENCTI_IMAGES_BUILDAH="$bah" OPENCTI_IMAGES_TAG="$tag" \
  OPENCTI_IMAGES_CONNECTORS="${connectors[*]}" \
  OPENCTI_IMAGES_RELEASE="$([ -z "$prebuilt" ] && echo 1 || echo 0)" \
  cargo test --workspace --locked --test tests images:: -- --test-threads=1

echo "images: uncompressed sizes"
for connector in "${connectors[@]}"; do
  image="localhost/opencti-connectors/$connector:$tag"
  container="$("$bah" from --quiet "$image")"
  size="$(du -sb "$("$bah" mount "$container")" | cut -f1)"
  "$bah" rm "$container" >/dev/null
  awk -v image="$image" -v size="$size" 'BEGIN { printf "  %-55s %6.1f MB\n", image, size / 1e6 }'
done
