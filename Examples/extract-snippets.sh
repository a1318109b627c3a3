#!/usr/bin/env bash
# Writes the Swift code of each DocC article, its ```swift blocks in order, to
# Examples/Consumer/Sources/<Article>/main.swift, where Examples/run-consumer.sh compiles and runs
# it. Blocks that start with "// Package.swift" are manifest excerpts and are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
for article in GettingStarted FromScratch; do
    out=Examples/Consumer/Sources/$article/main.swift
    mkdir -p "$(dirname "$out")"
    {
        echo "// Generated from Sources/ConvKit/ConvKit.docc/$article.md by Examples/extract-snippets.sh:"
        echo "// edit the article, then run the script."
        awk '/^```swift$/ { inside = 1; first = 1; next }
             /^```$/ && inside { inside = 0; if (!skip) print ""; skip = 0; next }
             inside && first { first = 0; if ($0 == "// Package.swift") skip = 1 }
             inside && !skip { print }' "Sources/ConvKit/ConvKit.docc/$article.md"
    } > "$out"
done
