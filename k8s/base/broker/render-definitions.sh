#!/bin/sh
# Render RabbitMQ's definitions (its users, their permissions and topic permissions) from
# definitions.template.json, for `load_definitions` in rabbitmq.conf.
#
#   render-definitions.sh TEMPLATE OUTPUT
#
# The broker's init container runs it on every start, so the passwords stay in the Secret and
# the file holds only their salted hashes (rabbit_password_hashing_sha256: base64 of a 4-byte
# salt followed by SHA-256(salt + password)); a changed password takes effect at the broker's
# next start. The template names each password by the environment variable that holds it
# (@SHA256:BROKER_RUNNER_PASSWORD@), the admin user's name (@ADMIN_USER@, from
# RABBITMQ_DEFAULT_USER) and the name prefix (@PREFIX@ as it is, @PREFIX_RE@ inside a regular
# expression; from GOSSIPSIM_PREFIX, default gossipsim). Outside Kubernetes, for a broker of your
# own (docs/kubernetes.md):
#
#   set -a; . k8s/base/secrets.env; set +a
#   sh k8s/base/broker/render-definitions.sh k8s/base/broker/definitions.template.json defs.json
#
# Needs only a POSIX shell, sed, grep and the openssl command (the rabbitmq image has them).
# Error messages name the variable at fault, never its value.
set -eu

fail() {
    echo "render-definitions: $*" >&2
    exit 2
}

[ $# -eq 2 ] || fail "usage: render-definitions.sh TEMPLATE OUTPUT"
template=$1
output=$2
[ -r "$template" ] || fail "cannot read the template $template"

prefix=${GOSSIPSIM_PREFIX:-gossipsim}
case $prefix in
    '' | *[!A-Za-z0-9._-]*) fail "GOSSIPSIM_PREFIX may hold only letters, digits, '.', '_' and '-'" ;;
esac
admin=${RABBITMQ_DEFAULT_USER:-}
case $admin in
    '' | *[!A-Za-z0-9._-]*) fail "RABBITMQ_DEFAULT_USER must be set, of letters, digits, '.', '_' and '-'" ;;
esac

umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The salted hash of the password in the variable named $1 (a name from the template).
password_hash() {
    eval "password=\${$1:-}"
    # Passwords go into AMQP URLs unescaped (the Deployments compose GOSSIPSIM_BROKER_URL).
    case $password in
        *[!A-Za-z0-9._~-]*) fail "$1 may hold only letters, digits, '.', '_', '~' and '-'" ;;
    esac
    [ ${#password} -ge 16 ] || fail "$1 is unset or shorter than 16 characters (make one with: openssl rand -hex 24)"
    openssl rand 4 >"$work/salt"
    { cat "$work/salt"; printf '%s' "$password"; } | openssl dgst -sha256 -binary >"$work/digest"
    cat "$work/salt" "$work/digest" | openssl base64 -A
}

# A dot in the prefix must match only a dot: [.] needs no escaping in JSON or sed.
prefix_re=$(printf '%s' "$prefix" | sed 's/\./[.]/g')
{
    echo "s|@PREFIX_RE@|$prefix_re|g"
    echo "s|@PREFIX@|$prefix|g"
    echo "s|@ADMIN_USER@|$admin|g"
    for name in $(grep -o '@SHA256:[A-Z0-9_]*@' "$template" | sed 's/^@SHA256:\(.*\)@$/\1/' | sort -u); do
        hash=$(password_hash "$name") # an assignment: a failure stops the script (set -e)
        echo "s|@SHA256:$name@|$hash|g"
    done
} >"$work/substitutions.sed"
sed -f "$work/substitutions.sed" "$template" >"$work/definitions.json"
if grep -q '@[A-Z0-9_:]*@' "$work/definitions.json"; then
    fail "the template has a placeholder this script does not know"
fi
mv "$work/definitions.json" "$output"
echo "render-definitions: wrote $output (prefix $prefix)"
