#!/bin/sh
# Makes the template pot that kiln's FreeBSD builders clone (run once per host, as root, after
# `pot init`): sh pot-templates/create-template.sh [RELEASE] [NAME]
#   RELEASE  the FreeBSD release of the template's base (default 14.3; pot fetches it)
#   NAME     the template's name, the `template` of builder.toml's [sandbox] (default kiln-build)
# The flavour pot-templates/kiln-build (attributes, command) and its script kiln-build.sh (build
# user, no services) are applied by pot create; the snapshot is what every clone starts from.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
release=${1:-14.3}
name=${2:-kiln-build}
pot create -p "$name" -b "$release" -t single -f "$here/kiln-build"
pot snapshot -p "$name"
echo "template pot $name ready: set template = \"$name\" in builder.toml [sandbox]"
