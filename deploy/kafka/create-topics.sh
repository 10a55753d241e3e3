#!/usr/bin/env bash
# Creates every topic of the clinicflow catalogue (proto/topics.json) on a
# real Kafka cluster with its partition count, cleanup policy and retention.
# Idempotent (--if-not-exists), so it runs as a one-shot job on every
# `docker compose up`; on a topic that exists already (an upgrade) it sets
# the catalogue's cleanup policy and retention again, and says so loudly
# when the topic has fewer partitions than the catalogue: adding them
# moves keys to other partitions, so that is left to an operator, with the
# topic's producers stopped (the command is printed). The Kafka image has
# neither python3 nor jq, so the catalogue is read with a small awk
# tokenizer (python3 is used when present).
#
# Environment: BOOTSTRAP (kafka:9092), CATALOGUE (/opt/clinicflow/topics.json),
# REPLICATION_FACTOR (1), KAFKA_BIN (/opt/kafka/bin).
set -euo pipefail

BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
CATALOGUE=${CATALOGUE:-/opt/clinicflow/topics.json}
REPLICATION_FACTOR=${REPLICATION_FACTOR:-1}
KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}

# Prints one line per topic: name partitions cleanup_policy retention_ms
# delete_retention_ms (each "-" when the catalogue has none).
list_topics() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$CATALOGUE" <<'PY'
import json, sys
for t in json.load(open(sys.argv[1]))["topics"]:
    print(t["name"], t["partitions"], t.get("cleanup_policy", "delete"), t.get("retention_ms", "-"),
          t.get("delete_retention_ms", "-"))
PY
        return
    fi
    awk '
    { doc = doc $0 "\n" }
    END {
        n = length(doc); depth = 0; key = ""; expect_value = 0
        for (i = 1; i <= n; i++) {
            c = substr(doc, i, 1)
            if (c == "\"") {
                s = ""
                for (i++; i <= n; i++) {
                    c = substr(doc, i, 1)
                    if (c == "\\") { i++; s = s substr(doc, i, 1); continue }
                    if (c == "\"") break
                    s = s c
                }
                token(s)
            } else if (c == "{" || c == "[") {
                depth++
                if (depth == 3) { name = ""; parts = ""; policy = "delete"; ret = "-"; dret = "-" }
                expect_value = 0
            } else if (c == "}" || c == "]") {
                if (depth == 3 && c == "}" && name != "") print name, parts, policy, ret, dret
                depth--
            } else if (c == ":") {
                expect_value = 1
            } else if (c == ",") {
                expect_value = 0
            } else if (c ~ /[-0-9a-z]/) {
                s = c
                while (i < n && substr(doc, i + 1, 1) ~ /[-+.0-9a-zE]/) { i++; s = s substr(doc, i, 1) }
                token(s)
            }
        }
    }
    function token(v) {
        if (!expect_value) { key = v; return }
        expect_value = 0
        if (depth != 3) return
        if (key == "name") name = v
        else if (key == "partitions") parts = v
        else if (key == "cleanup_policy") policy = v
        else if (key == "retention_ms") ret = v
        else if (key == "delete_retention_ms") dret = v
    }' "$CATALOGUE"
}

if [[ ${1:-} == --list ]]; then
    list_topics
    exit 0
fi

echo "waiting for kafka at $BOOTSTRAP"
for ((i = 0; i < 60; i++)); do
    if "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1; then
        break
    fi
    sleep 2
done

count=0
short=0
while read -r name partitions policy retention delete_retention; do
    settings=("cleanup.policy=$policy")
    if [[ "$retention" != "-" ]]; then
        settings+=("retention.ms=$retention")
    fi
    if [[ "$delete_retention" != "-" ]]; then
        settings+=("delete.retention.ms=$delete_retention")
    fi
    configs=()
    for setting in "${settings[@]}"; do
        configs+=(--config "$setting")
    done
    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
        --topic "$name" --partitions "$partitions" \
        --replication-factor "$REPLICATION_FACTOR" "${configs[@]}"
    # a topic made by an earlier release keeps its settings unless told
    (
        IFS=,
        "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter \
            --entity-type topics --entity-name "$name" --add-config "${settings[*]}"
    )
    have=$("$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --describe \
        --topic "$name" | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
    if [[ -n "$have" ]] && ((have < partitions)); then
        echo "WARNING: $name has $have partitions, the catalogue $partitions. Adding them" \
            "sends a key's new messages to another partition: with its producers stopped and" \
            "its consumers caught up, run: $KAFKA_BIN/kafka-topics.sh --bootstrap-server" \
            "$BOOTSTRAP --alter --topic $name --partitions $partitions" >&2
        short=$((short + 1))
    fi
    count=$((count + 1))
done < <(list_topics)

if ((count == 0)); then
    echo "no topics found in $CATALOGUE" >&2
    exit 1
fi
echo "$count topics present, $short with fewer partitions than the catalogue"
