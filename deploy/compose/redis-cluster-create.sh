#!/bin/sh
# Makes one Redis Cluster of the nodes given as host:port arguments, three masters with a
# replica each, the first time; when any node already holds slots it changes nothing.
# deploy/k8s/21-redis.yaml (a Job) and docker-compose.scale.yml (a one-shot service) run this
# same script in the redis image.
set -eu
addrs=""
for node in "$@"; do
  host=${node%:*}
  port=${node##*:}
  # CLUSTER MEET takes addresses, not names: wait until the name resolves and the node answers.
  until ip=$(getent hosts "$host" | awk '{ print $1; exit }') && [ -n "$ip" ] &&
    [ "$(redis-cli -h "$ip" -p "$port" ping 2>/dev/null)" = PONG ]; do
    echo "waiting for $node"
    sleep 2
  done
  slots=$(redis-cli -h "$ip" -p "$port" cluster info | sed -n 's/^cluster_slots_assigned:\([0-9]*\).*/\1/p')
  if [ "${slots:-0}" != 0 ]; then
    echo "$node already serves $slots slots of a cluster: nothing to do"
    exit 0
  fi
  addrs="$addrs $ip:$port"
done
# shellcheck disable=SC2086 # one argument per node
redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes
