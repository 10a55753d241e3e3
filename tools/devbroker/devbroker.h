/*
 * Internal interfaces of clinicflow-devbroker: the topic catalogue reader and
 * the loopback HTTP control interface. The program owns one librdkafka mock
 * cluster; after start-up only the control module touches it, always under
 * its mutex, because the mock cluster API is not meant for concurrent callers.
 */
#ifndef CF_DEVBROKER_DEVBROKER_H
#define CF_DEVBROKER_DEVBROKER_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Largest partition count the catalogue may ask for. */
#define DEVBROKER_MAX_PARTITIONS 64
/* Largest broker count the mock cluster is started with. */
#define DEVBROKER_MAX_BROKERS 9

struct devbroker_topic {
    char *name;
    int partitions;
};

struct devbroker_catalogue {
    struct devbroker_topic *topics;
    size_t n;
};

/* Reads proto/topics.json (version 1) into out. Every name must match
 * ^clinicflow\.[a-z0-9]+(\.[a-z0-9]+)*\.v[0-9]+$ and be unique, every
 * partition count within 1..DEVBROKER_MAX_PARTITIONS. Returns 0, or CF_EINVAL
 * with the file, JSON path and reason in errbuf (out is then empty). Fields
 * other than name and partitions are not read. */
int devbroker_catalogue_load(const char *path, struct devbroker_catalogue *out, char *errbuf,
                             size_t errbuf_size);
/* Returns 1 if name is a well-formed clinicflow topic name, else 0. */
int devbroker_topic_name_valid(const char *name);
void devbroker_catalogue_free(struct devbroker_catalogue *cat);

struct devbroker_control;

/* Starts the control HTTP server on 127.0.0.1:port (0: an ephemeral port) in
 * its own thread, serving the routes described in README.md for the broker
 * ids 1..broker_cnt of mcluster. The caller keeps ownership of mcluster and
 * must not call the mock API while the server runs. Returns NULL with the
 * reason in errbuf on failure. Call with SIGINT/SIGTERM already blocked. */
struct devbroker_control *devbroker_control_start(rd_kafka_mock_cluster_t *mcluster, int broker_cnt,
                                                  long port, char *errbuf, size_t errbuf_size);
/* The TCP port the server listens on. */
int devbroker_control_port(const struct devbroker_control *ctl);
/* Stops the server (waits for the request in progress) and frees ctl. */
void devbroker_control_stop(struct devbroker_control *ctl);

#endif
