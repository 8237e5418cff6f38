# Shell functions scripts/demo and bench/run-fleet share. Source it; it only defines functions.

# Prints a port on 127.0.0.1 that nothing answers on.
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  echo "no free port found on 127.0.0.1 after 50 tries" >&2
  return 1
}

# Waits up to 10 s for a coordinator on 127.0.0.1:PORT to answer /healthz over TLS, trusting CA_FILE. NAMED_HOST,
# when given, is the address its certificate names (its advertise host), which curl then verifies while it
# connects to 127.0.0.1.
wait_for_coordinator() {
  local port=$1 ca=$2 host=${3:-127.0.0.1}
  for _ in $(seq 100); do
    curl -fsS --cacert "$ca" --connect-to "$host:$port:127.0.0.1:$port" "https://$host:$port/healthz" >/dev/null 2>&1 \
      && return 0
    sleep 0.1
  done
  echo "the coordinator on 127.0.0.1:$port did not answer /healthz within 10 s" >&2
  return 1
}

# The staged node overlay of the newest arm64 build: `scripts/build arm64` (everything, as CI and scripts/package
# arm64 build it) or `scripts/build arm64-agent` (the agent alone). Prints the overlay directory, or nothing.
arm64_overlay() {
  local repo=${1:?repo} newest=
  for dir in "$repo/build/arm64" "$repo/build/arm64-agent"; do
    local agent=$dir/image-overlay/rootfs/usr/bin/graft-agent
    [[ -x $agent ]] || continue
    if [[ -z $newest || $agent -nt $newest/usr/bin/graft-agent ]]; then newest=$dir/image-overlay/rootfs; fi
  done
  echo "$newest"
}
