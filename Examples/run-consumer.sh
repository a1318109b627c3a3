#!/usr/bin/env bash
# CI: use ConvKit as an application does, by version from git. Clones the committed HEAD of this
# repository (or of $REPO), tags the clone with the library version in Sources/ConvKit/Version.swift,
# then builds Examples/Consumer against that tag, in debug mode (the quickest build; the C kernels are -O3 either way) and its own scratch directory,
# and runs its programs: the DocC articles' code, the README program and the custom-layer program,
# which exit non-zero if the networks they train miss their accuracy.
set -euo pipefail
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

git clone --quiet "$REPO" "$TMP/convkit"
VERSION=$(sed -n 's/^public let version = "\(.*\)"$/\1/p' "$TMP/convkit/Sources/ConvKit/Version.swift")
[ -n "$VERSION" ] || { echo "no version in Sources/ConvKit/Version.swift" >&2; exit 1; }
# -f: an older tag of the same name would point elsewhere; this run tests HEAD.
git -C "$TMP/convkit" tag -f "$VERSION" >/dev/null
echo "ConvKit $VERSION = $(git -C "$TMP/convkit" rev-parse --short HEAD)"

# The articles' code as committed must be what the articles say.
"$TMP/convkit/Examples/extract-snippets.sh"
if ! git -C "$TMP/convkit" diff --quiet -- Examples/Consumer; then
    echo "Examples/Consumer/Sources differ from the DocC articles: run Examples/extract-snippets.sh and commit" >&2
    git -C "$TMP/convkit" diff --stat -- Examples/Consumer >&2
    exit 1
fi

# A fresh scratch path and a manifest cache inside it: SwiftPM's shared cache would keep an
# evaluation of the manifest made with another CONVKIT_GIT_URL.
export CONVKIT_GIT_URL="file://$TMP/convkit"
BUILD="$TMP/build"
swift build --package-path "$TMP/convkit/Examples/Consumer" --scratch-path "$BUILD" --manifest-cache local
for program in GettingStarted FromScratch consumer CustomLayer; do
    echo "--- $program"
    "$BUILD/debug/$program"
done
