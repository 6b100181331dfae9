#!/bin/sh
# npm run build (and npm's prepare: npm install in a checkout, npm pack): src/ compiled to dist/, for Node
# without type stripping.
# The build is made beside dist/ and swapped in at the end, so a zdd running from dist/ (bin/zdd runs it
# when it is current) never finds it half-built, and finds it missing only between two renames. The
# stamp, made before tsc reads a source, is what bin/zdd compares src/ with: a source changed after it
# may be missing from this build.
set -eu
cd "$(dirname "$0")/.."
# npm install --omit=dev has no TypeScript: zdd then runs its sources.
if [ ! -x node_modules/.bin/tsc ]; then echo "zdd: no TypeScript compiler here; bin/zdd will run the sources" >&2; exit 0; fi
rm -rf dist.next dist.old
mkdir dist.next
touch dist.next/.build-started
node_modules/.bin/tsc -p tsconfig.build.json --outDir dist.next
cp -r src/dashboard/public dist.next/dashboard/
if [ -d dist ]; then mv dist dist.old; fi
mv dist.next dist
rm -rf dist.old
