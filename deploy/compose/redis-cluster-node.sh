#!/bin/sh
# One node of the Redis Cluster: deploy/k8s/21-redis.yaml and docker-compose.scale.yml run this
# same script in the redis image, with the node's name in REDIS_ANNOUNCE_HOSTNAME and
# redis-server's options as arguments.
#
# Clients are sent to a node by its name (cluster-preferred-endpoint-type hostname), which a
# container keeps when it starts again with a new address. The nodes know one another by
# address: before this node starts, every address in its nodes.conf is made current from the
# name the node announced, so that a cluster whose containers all started again finds itself.
# A name that does not resolve yet keeps its address; gossip brings the new one later.
set -eu
: "${REDIS_ANNOUNCE_HOSTNAME:?the name this node is reached by}"
conf=/data/nodes.conf
if [ -s "$conf" ]; then
  awk '{
    # <id> <ip>:<port>@<cport>,<hostname>[,<aux>=<value>...] <flags> ...
    n = split($2, f, ",")
    at = index(f[1], "@")
    if (n > 1 && f[2] != "" && index(f[2], "=") == 0 && at > 0) {
      ip = ""
      cmd = "getent hosts " f[2]
      if ((cmd | getline line) > 0) { split(line, w, " "); ip = w[1] }
      close(cmd)
      hp = substr(f[1], 1, at - 1)
      if (ip != "" && match(hp, /:[0-9]+$/)) { $2 = ip substr(hp, RSTART) substr($2, at) }
    }
    print
  }' "$conf" >"$conf.new"
  mv "$conf.new" "$conf"
fi
exec docker-entrypoint.sh redis-server "$@" --cluster-announce-hostname "$REDIS_ANNOUNCE_HOSTNAME"
